#include "added_tokens.hpp"

#include <algorithm>

#include "utf8.hpp"

namespace qwen3::tok {

void AddedTokenMatcher::add(AddedTokenSpec spec) {
  if (spec.content.empty()) return;
  const auto first = static_cast<unsigned char>(spec.content[0]);
  tokens_.push_back(std::move(spec));
  auto& list = by_first_byte_[first];
  list.push_back(static_cast<std::uint32_t>(tokens_.size() - 1));
  // Longest first; among equal lengths the earlier token wins (a duplicate content is unreachable).
  std::stable_sort(list.begin(), list.end(), [&](std::uint32_t a, std::uint32_t b) {
    return tokens_[a].content.size() > tokens_[b].content.size();
  });
}

namespace {

// The code point ending just before `end` (text is well-formed UTF-8, end > 0).
char32_t last_char(std::string_view text, std::size_t end) {
  std::size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
  char32_t cp = 0xFFFD;
  utf8_next(reinterpret_cast<const unsigned char*>(text.data()) + b, end - b, &cp);
  return cp;
}

char32_t first_char(std::string_view text, std::size_t begin, std::size_t* len) {
  char32_t cp = 0xFFFD;
  const int r = utf8_next(reinterpret_cast<const unsigned char*>(text.data()) + begin,
                          text.size() - begin, &cp);
  *len = r > 0 ? static_cast<std::size_t>(r) : 1;
  return cp;
}

}  // namespace

std::vector<Segment> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<Segment> out;
  if (text.empty()) {
    out.push_back({0, 0, -1});
    return out;
  }
  std::size_t done = 0;  // start of the text not yet handed out
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto& candidates = by_first_byte_[static_cast<unsigned char>(text[i])];
    const AddedTokenSpec* hit = nullptr;
    for (const std::uint32_t c : candidates) {
      const std::string& s = tokens_[c].content;
      if (s.size() <= n - i && text.compare(i, s.size(), s) == 0) {
        hit = &tokens_[c];
        break;
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    const std::size_t match_end = i + hit->content.size();
    std::size_t start = i;
    std::size_t stop = match_end;
    if (hit->single_word) {
      const bool space_before = start == 0 || !is_word_char(last_char(text, start));
      std::size_t len = 0;
      const bool space_after = stop == n || !is_word_char(first_char(text, stop, &len));
      if (!space_before || !space_after) {
        i = match_end;  // the match is dropped; searching resumes after it
        continue;
      }
    }
    if (hit->lstrip) {
      std::size_t s = start;
      while (s > 0 && is_white_space(last_char(text, s))) {
        std::size_t b = s - 1;
        while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
        s = b;
      }
      start = std::max(s, done);
    }
    if (hit->rstrip) {
      while (stop < n) {
        std::size_t len = 0;
        if (!is_white_space(first_char(text, stop, &len))) break;
        stop += len;
      }
    }
    if (done < start) out.push_back({done, start, -1});
    out.push_back({start, stop, hit->id});
    done = stop;
    i = match_end;  // like the Aho-Corasick iterator, whatever rstrip swallowed
  }
  if (done < n) out.push_back({done, n, -1});
  return out;
}

}  // namespace qwen3::tok
