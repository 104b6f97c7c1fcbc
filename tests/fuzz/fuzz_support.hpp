#pragma once
// Helpers shared by the libFuzzer harnesses: the loaders read files, so an input is written to a
// private temporary file first (a real mapped file behind the safetensors loader, as the issue asks).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace qwen3::fuzz {

// A file holding exactly the fuzzer's bytes, removed when this goes out of scope.
class TempFile {
 public:
  TempFile(const std::uint8_t* data, std::size_t size, const char* suffix) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "qwen3-fuzz-XXXXXX").string() + suffix;
    const int fd = mkstemps(tmpl.data(), static_cast<int>(std::string(suffix).size()));
    if (fd < 0) std::abort();
    for (std::size_t done = 0; done < size;) {
      const ssize_t n = write(fd, data + done, size - done);
      if (n <= 0) std::abort();
      done += static_cast<std::size_t>(n);
    }
    close(fd);
    path_ = tmpl;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A property the harness checks failed: libFuzzer records the input as a crash.
[[noreturn]] inline void property_failed(const char* what) {
  std::fprintf(stderr, "property failed: %s\n", what);
  std::abort();
}

}  // namespace qwen3::fuzz
