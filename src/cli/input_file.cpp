#include <filesystem>
#include <fstream>

#include "cli/commands.hpp"
#include "qwen3/error.hpp"

namespace qwen3::cli {

std::string read_input_file(const std::string& path, const std::string& what) {
  if (std::filesystem::is_directory(path)) throw Error(path + ": " + what + " is a directory, not a file");
  if (!std::filesystem::is_regular_file(path)) throw Error(path + ": " + what + " not found (or not a regular file)");
  std::ifstream in(path, std::ios::binary);  // raw bytes: CRLF stays CRLF, as Python's open(newline='') keeps it
  if (!in) throw Error(path + ": cannot open " + what);
  // Straight into one string of the file's size: a 100 MB eval text costs 100 MB, not a stream
  // buffer and a copy besides.
  std::string text(static_cast<std::size_t>(std::filesystem::file_size(path)), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));  // a file that shrank meanwhile
  return text;
}

}  // namespace qwen3::cli
