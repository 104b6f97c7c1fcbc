// libFuzzer harness: the tokenizer on arbitrary text, with the default model's tokenizer.json (Qwen3's
// format: NFC, Qwen's pre-tokenizer regex, byte-level BPE, added tokens). Properties:
//  - encode never fails, and every id it returns is in the vocabulary;
//  - for valid UTF-8, decode(encode(text)) returns NFC(text) (the normalizer's only change), so added
//    tokens, huge runs and any script come back byte for byte. NFC as Hugging Face computes it, with
//    Unicode 9.0 data (tok::nfc): utf8proc's newer data reorders marks added since, such as U+07FD
//    (the fuzzer's first find: HF tokenizers leaves "\u07ED\u07FD" alone, and so do we);
//  - decode of the input read as ids either throws qwen3::Error (an unknown id) or returns bytes.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <utf8proc.h>

#include "fuzz_support.hpp"
#include "qwen3/error.hpp"
#include "qwen3/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace {

const qwen3::Tokenizer& tokenizer() {
  static const qwen3::Tokenizer tok = qwen3::Tokenizer::from_file(QWEN3_FUZZ_TOKENIZER_JSON);
  return tok;
}

bool valid_utf8(const std::uint8_t* s, std::size_t n) {
  for (std::size_t i = 0; i < n;) {
    utf8proc_int32_t cp;
    const auto len = utf8proc_iterate(s + i, static_cast<utf8proc_ssize_t>(n - i), &cp);
    if (len <= 0) return false;
    i += static_cast<std::size_t>(len);
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const qwen3::Tokenizer& tok = tokenizer();
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::int32_t> ids = tok.encode(text);
  for (std::int32_t id : ids)
    if (id < 0 || id >= tok.size()) qwen3::fuzz::property_failed("encode returned an id outside the vocabulary");
  if (valid_utf8(data, size) && std::memchr(data, 0, size) == nullptr) {
    if (tok.decode(ids) != qwen3::tok::nfc(text)) qwen3::fuzz::property_failed("decode(encode(text)) != NFC(text)");
  }
  std::vector<std::int32_t> as_ids(size / 4);
  if (!as_ids.empty()) std::memcpy(as_ids.data(), data, as_ids.size() * 4);
  try {
    (void)tok.decode(as_ids);
  } catch (const qwen3::Error&) {
  }
  return 0;
}
