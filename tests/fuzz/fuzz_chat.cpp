// libFuzzer harness: a chat turn (src/engine/chat.cpp's chat_turn) around an arbitrary user message,
// encoded as --chat encodes it (the whole turn at once), with the default model's tokenizer.json.
// The first byte picks no_think and follows_reply; the rest is the message. Properties:
//  - the turn is the template's prefix, the message verbatim, the template's suffix (chat.hpp);
//  - every id is in the vocabulary; the ids start with the template's first special token and end
//    with the exact ids of the assistant header ("<|im_end|>\n<|im_start|>assistant\n" [+ the empty
//    think block]), whatever the message holds: the model always continues from the same header;
//  - for valid UTF-8, decode(ids) is NFC(turn): the message's tokens cover it byte for byte;
//  - special-token text typed in the message is that special token, as chat.hpp documents (and as
//    Hugging Face's apply_chat_template + encode give): each added token's id occurs exactly as often
//    as its text occurs in the template plus in the message -- no more (nothing else makes a turn
//    boundary), no fewer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat.hpp"
#include "fuzz_support.hpp"
#include "qwen3/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace {

using qwen3::fuzz::property_failed;

const qwen3::Tokenizer& tokenizer() {
  static const qwen3::Tokenizer tok = qwen3::Tokenizer::from_file(QWEN3_FUZZ_TOKENIZER_JSON);
  return tok;
}

std::size_t occurrences(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool no_think = (data[0] & 1) != 0, follows_reply = (data[0] & 2) != 0;
  const std::string message(reinterpret_cast<const char*>(data + 1), size - 1);
  const qwen3::Tokenizer& tok = tokenizer();

  const std::string prefix = std::string(follows_reply ? "<|im_end|>\n" : "") + "<|im_start|>user\n";
  const std::string header = std::string("<|im_end|>\n<|im_start|>assistant\n") + (no_think ? "<think>\n\n</think>\n\n" : "");
  const std::string turn = qwen3::chat_turn(message, no_think, follows_reply);
  if (turn != prefix + message + header) property_failed("the turn is not prefix + message verbatim + assistant header");

  const std::vector<std::int32_t> ids = tok.encode(turn);
  for (std::int32_t id : ids)
    if (id < 0 || id >= tok.size()) property_failed("encode returned an id outside the vocabulary");
  const std::int32_t first = *tok.token_id(follows_reply ? "<|im_end|>" : "<|im_start|>");
  if (ids.empty() || ids.front() != first) property_failed("the turn does not start with the template's special token");
  const std::vector<std::int32_t> header_ids = tok.encode(header);
  if (ids.size() < header_ids.size() || !std::equal(header_ids.begin(), header_ids.end(), ids.end() - static_cast<std::ptrdiff_t>(header_ids.size())))
    property_failed("the turn does not end with the assistant header's ids");
  if (qwen3::tok::utf8_valid(turn) && tok.decode(ids) != qwen3::tok::nfc(turn)) property_failed("decode(encode(turn)) != NFC(turn)");

  for (const char* added : {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"}) {
    const std::int32_t id = *tok.token_id(added);
    std::size_t in_ids = 0;
    for (std::int32_t i : ids) in_ids += i == id;
    if (in_ids != occurrences(prefix, added) + occurrences(message, added) + occurrences(header, added))
      property_failed("an added token's id does not occur once per occurrence of its text in the template and the message");
  }
  return 0;
}
