// libFuzzer harness: loading tokenizer.json from arbitrary bytes. Property: a file either fails with
// qwen3::Error or gives a tokenizer that encodes and decodes a fixed text with in-range ids.
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "qwen3/error.hpp"
#include "qwen3/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const qwen3::fuzz::TempFile file(data, size, ".json");
  try {
    const qwen3::Tokenizer tok = qwen3::Tokenizer::from_file(file.path());
    const auto ids = tok.encode("Hello, world! <|im_start|> 123 \xc3\xa9\xe4\xb8\xad");
    for (std::int32_t id : ids)
      if (id < 0 || id >= tok.size()) qwen3::fuzz::property_failed("encode returned an id outside the vocabulary");
    (void)tok.decode(ids);
  } catch (const qwen3::Error&) {
  }
  return 0;
}
