#pragma once
// Byte-level BPE as Hugging Face `tokenizers` runs it for Qwen2/Qwen3: NFC normalisation, the
// Qwen2 pre-tokenizer regex, byte-to-unicode mapping, merges by rank, and added/special tokens
// matched in the raw text before any of that. encode() equals
// Tokenizer.encode(text, add_special_tokens=False).ids exactly.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3 {

class Tokenizer {
 public:
  // Reads tokenizer.json (model.vocab, model.merges, added_tokens). Throws qwen3::Error on a missing
  // or malformed file, or a model type other than BPE.
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  std::vector<std::int32_t> encode(std::string_view text) const;
  // The first n ids of encode(text), from as short a prefix of the text as gives them (cut where the
  // encoding cannot change: between a newline and an ASCII letter), so `eval --max-tokens` over a huge
  // file tokenizes only what it scores. Falls back to encode(text) for a pre-tokenizer or added
  // tokens it cannot vouch for.
  std::vector<std::int32_t> encode_prefix(std::string_view text, std::size_t n) const;
  // The first position p >= at where encode(text.substr(0, p)) is exactly a prefix of encode(text)
  // (a newline followed by an ASCII letter), or npos if there is none or the tokenizer cannot vouch.
  std::size_t prefix_cut(std::string_view text, std::size_t at) const;
  // Concatenated raw bytes of the tokens (may end inside a UTF-8 sequence). Throws on unknown ids.
  std::string decode(std::span<const std::int32_t> ids) const;
  std::string token_bytes(std::int32_t id) const;                  // raw bytes of one token
  std::string token_string(std::int32_t id) const;                 // vocab spelling, e.g. "Ġhello"
  std::optional<std::int32_t> token_id(std::string_view token_string) const;
  bool is_special(std::int32_t id) const;                          // added token with special=true
  std::int32_t size() const;                                       // number of ids (vocab + added)

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of token ids into printable UTF-8: bytes of an incomplete character are held back
// until the token that completes them arrives, so streaming output never splits a character.
class Utf8StreamDecoder {
 public:
  explicit Utf8StreamDecoder(const Tokenizer& tok) : tok_(&tok) {}
  std::string push(std::int32_t id);  // complete characters ready to print (may be empty)
  std::string flush();                // whatever is held back (invalid tails as U+FFFD)

 private:
  const Tokenizer* tok_;
  std::string pending_;
};

}  // namespace qwen3
