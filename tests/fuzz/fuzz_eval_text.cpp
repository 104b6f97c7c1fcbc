// libFuzzer harness: an `eval` text file. The eval command reads the file raw (read_input_file) and
// encodes all of it with the checkpoint's tokenizer, nothing in between; this runs both on arbitrary
// bytes with the real Qwen3 tokenizer.json (151,669 ids; tests/data/qwen3-tokenizer). Properties:
//  - read_input_file returns exactly the file's bytes (CR, NUL and ill-formed UTF-8 included);
//  - encode never fails, and every id is in the vocabulary;
//  - the token stream covers the text: decode(encode(text)) is NFC(text) for valid UTF-8, and
//    NFC(text with each ill-formed subpart as U+FFFD) otherwise (the tokenizer's documented repair);
//  - every cut prefix_cut offers (what `eval --max-tokens` encodes instead of the whole file) leaves
//    encode(prefix) an exact prefix of encode(text), and encode_prefix(text, n) is its first n ids.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "fuzz_support.hpp"
#include "qwen3/error.hpp"
#include "qwen3/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace {

using qwen3::fuzz::property_failed;

const qwen3::Tokenizer& tokenizer() {
  static const qwen3::Tokenizer tok = qwen3::Tokenizer::from_file(QWEN3_FUZZ_QWEN3_TOKENIZER_JSON);
  return tok;
}

}  // namespace

// Loading the 151,669-id tokenizer takes seconds under ASan: before the first input, so that the
// 1 s limit per input (scripts/fuzz.sh) measures inputs alone.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const qwen3::Tokenizer& tok = tokenizer();
  const qwen3::fuzz::TempFile file(data, size, ".txt");
  std::string text;
  try {
    text = qwen3::cli::read_input_file(file.path().string(), "text file");
  } catch (const qwen3::Error&) {
    property_failed("read_input_file refused a readable regular file");
  }
  if (text != std::string(reinterpret_cast<const char*>(data), size)) property_failed("read_input_file changed the bytes");
  const std::vector<std::int32_t> ids = tok.encode(text);
  for (std::int32_t id : ids)
    if (id < 0 || id >= tok.size()) property_failed("encode returned an id outside the vocabulary");
  const std::string expected = qwen3::tok::nfc(qwen3::tok::utf8_valid(text) ? text : qwen3::tok::utf8_repair(text));
  if (tok.decode(ids) != expected) property_failed("decode(encode(text)) != NFC(repaired text)");
  for (const std::size_t at : {text.size() / 3, 2 * text.size() / 3}) {  // two cuts: the 1-s limit
    const std::size_t cut = tok.prefix_cut(text, at);
    if (cut == std::string::npos) continue;
    const std::vector<std::int32_t> head = tok.encode(std::string_view(text).substr(0, cut));
    if (head.size() > ids.size() || !std::equal(head.begin(), head.end(), ids.begin()))
      property_failed("encode(text[:prefix_cut]) is not a prefix of encode(text)");
  }
  const std::size_t n = size % 97;
  const std::vector<std::int32_t> first = tok.encode_prefix(text, n);
  if (first.size() != std::min(n, ids.size()) || !std::equal(first.begin(), first.end(), ids.begin()))
    property_failed("encode_prefix(text, n) is not the first n ids of encode(text)");
  return 0;
}
