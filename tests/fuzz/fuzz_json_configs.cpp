// libFuzzer harness: config.json (quantization_config included; corpus/fp8_config.json is an FP8
// checkpoint's) and generation_config.json parsing on arbitrary text. Property: the parser either
// throws qwen3::Error or returns a config whose sizes passed its own validation (no other exception
// type, no crash, no sanitizer report).
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "qwen3/config.hpp"
#include "qwen3/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const qwen3::Qwen3Config cfg = qwen3::Qwen3Config::from_json(text, "fuzz/config.json");
    if (cfg.hidden_size <= 0 || cfg.num_hidden_layers <= 0 || cfg.vocab_size <= 0 || cfg.head_dim <= 0)
      qwen3::fuzz::property_failed("a config with a non-positive size was accepted");
    if (cfg.fp8_block_rows < 0 || cfg.fp8_block_cols < 0 || (cfg.fp8_block_rows == 0) != (cfg.fp8_block_cols == 0))
      qwen3::fuzz::property_failed("an FP8 quantization_config with a non-positive block size was accepted");
  } catch (const qwen3::Error&) {
  }
  const qwen3::fuzz::TempFile file(data, size, ".json");
  try {
    (void)qwen3::GenerationConfig::from_file(file.path());
  } catch (const qwen3::Error&) {
  }
  return 0;
}
