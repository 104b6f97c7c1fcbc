#pragma once
// Splits text on added tokens the way Hugging Face's AddedVocabulary does: leftmost-longest
// literal matches, then the single_word / lstrip / rstrip flags of the token that matched.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3::tok {

struct AddedTokenSpec {
  std::string content;  // the literal to match (already normalized for normalized=true tokens)
  std::int32_t id = 0;
  bool single_word = false;  // only match when not inside a word (\w on neither side)
  bool lstrip = false;       // swallow the white space before the match
  bool rstrip = false;       // swallow the white space after the match
};

struct Segment {
  std::size_t begin;
  std::size_t end;
  std::int32_t id;  // the added token, or -1 for ordinary text
};

class AddedTokenMatcher {
 public:
  void add(AddedTokenSpec spec);  // empty contents are ignored, as Hugging Face does
  bool empty() const { return tokens_.empty(); }

  // Segments covering `text` in order. Text segments may be empty only when `text` is.
  std::vector<Segment> split(std::string_view text) const;

 private:
  std::vector<AddedTokenSpec> tokens_;
  // For each first byte, the indices of the tokens starting with it, longest content first.
  std::vector<std::vector<std::uint32_t>> by_first_byte_ =
      std::vector<std::vector<std::uint32_t>>(256);
};

}  // namespace qwen3::tok
