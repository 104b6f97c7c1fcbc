// libFuzzer harness: a sharded checkpoint's model.safetensors.index.json from arbitrary bytes, next to
// two small valid shards. Property: the folder either fails with qwen3::Error, or every tensor name
// the checkpoint lists resolves to a tensor whose bytes can be read.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_support.hpp"
#include "qwen3/error.hpp"
#include "qwen3/safetensors.hpp"

namespace {

// A shard holding one F32 tensor of 2 values named `name`.
std::string tiny_shard(const std::string& name) {
  const std::string header = "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + std::string(8, '\x01');
}

const std::filesystem::path& folder() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "qwen3-fuzz-ckpt-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    std::ofstream(std::filesystem::path(tmpl) / "model-00001-of-00002.safetensors", std::ios::binary) << tiny_shard("a");
    std::ofstream(std::filesystem::path(tmpl) / "model-00002-of-00002.safetensors", std::ios::binary) << tiny_shard("b");
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path index = folder() / "model.safetensors.index.json";
  {
    std::ofstream out(index, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const qwen3::Checkpoint ckpt = qwen3::Checkpoint::open(folder());
    for (const std::string& name : ckpt.tensor_names()) {
      const qwen3::TensorView* t = ckpt.find(name);
      if (t == nullptr) qwen3::fuzz::property_failed("a listed tensor name does not resolve");
      volatile std::uint8_t sink = 0;
      for (std::size_t i = 0; i < t->nbytes; ++i) sink = sink + static_cast<std::uint8_t>(t->data[i]);
    }
  } catch (const qwen3::Error&) {
  }
  return 0;
}
