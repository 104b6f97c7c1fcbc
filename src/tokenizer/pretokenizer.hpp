#pragma once
// The Split pre-tokenizer (behavior "Isolated") on a PCRE2 pattern compiled with UTF + UCP and,
// where available, JIT. Hugging Face runs the pattern on Oniguruma, so two spellings are rewritten
// before compiling to give Oniguruma's answers:
//  - \s (and \S outside a class) becomes the Unicode White_Space set: PCRE2's UCP \s also takes
//    U+180E, which stopped being White_Space in Unicode 6.3;
//  - \p{L} and \p{N} (also \pL, \pN, and \P outside a class) get the code points that are letters
//    or numbers in Unicode 16.0 (Oniguruma's tables) but unassigned in PCRE2 10.42's Unicode 14.0.
// \S or \P{..} inside a class is left to PCRE2; the Qwen pattern has neither.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace qwen3::tok {

// Rewrites \s, \S, \p{L}, \p{N} as described above; exposed for tests.
std::string oniguruma_compatible_pattern(std::string_view pattern);

class RegexSplitter {
 public:
  // Throws std::runtime_error with PCRE2's message when the pattern does not compile.
  explicit RegexSplitter(std::string_view pattern);
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;

  // Calls piece(begin, end) for each piece of `text` (well-formed UTF-8), in order: every match and
  // every stretch between matches. Pieces are never empty and together cover the whole text.
  void split(std::string_view text,
             const std::function<void(std::size_t begin, std::size_t end)>& piece) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qwen3::tok
