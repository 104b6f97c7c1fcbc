#include "pretokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdio>
#include <stdexcept>

#include "unicode_tables.hpp"

namespace qwen3::tok {
namespace {

// Unicode White_Space, as PCRE2 class items.
constexpr std::string_view kWhiteSpaceItems =
    "\\x{09}-\\x{0D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(code, buf, sizeof buf);
  return n < 0 ? "PCRE2 error " + std::to_string(code)
               : std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

std::string hex_item(char32_t lo, char32_t hi) {
  char buf[40];
  if (lo == hi) {
    std::snprintf(buf, sizeof buf, "\\x{%X}", static_cast<unsigned>(lo));
  } else {
    std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", static_cast<unsigned>(lo),
                  static_cast<unsigned>(hi));
  }
  return buf;
}

// "\p{L}" followed by the code points HF counts as letters and PCRE2 10.42 does not (same for N).
std::string property_items(char name) {
  std::string items = name == 'L' ? "\\p{L}" : "\\p{N}";
  for (const CodeRange& r : name == 'L' ? letter_extra() : number_extra())
    items += hex_item(r.lo, r.hi);
  return items;
}

}  // namespace

std::string oniguruma_compatible_pattern(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 1024);
  bool in_class = false;
  std::size_t class_start = 0;  // index in p just after '[' or '[^'
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      ++i;
      if (e == 's' || (e == 'S' && !in_class)) {
        const std::string items(kWhiteSpaceItems);
        out += in_class ? items : (e == 's' ? "[" : "[^") + items + "]";
        continue;
      }
      if (e == 'p' || (e == 'P' && !in_class)) {
        // \p{L}, \pL, \p{N}, \pN (and \P outside a class): add the Unicode 15-16 code points.
        char name = 0;
        std::size_t skip = 0;
        if (i + 3 < p.size() && p[i + 1] == '{' && p[i + 3] == '}' &&
            (p[i + 2] == 'L' || p[i + 2] == 'N')) {
          name = p[i + 2];
          skip = 3;
        } else if (i + 1 < p.size() && (p[i + 1] == 'L' || p[i + 1] == 'N')) {
          name = p[i + 1];
          skip = 1;
        }
        if (name) {
          const std::string items = property_items(name);
          out += in_class ? items : (e == 'p' ? "[" : "[^") + items + "]";
          i += skip;
          continue;
        }
      }
      out += '\\';
      out += e;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') {
        out += '^';
        ++i;
      }
      class_start = i + 1;
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
      // POSIX class such as [:alpha:]: copy through its closing ":]".
      const std::size_t close = p.find(":]", i + 2);
      if (close != std::string_view::npos) {
        out.append(p.substr(i, close + 2 - i));
        i = close + 1;
        continue;
      }
    }
    if (in_class && c == ']' && i != class_start) in_class = false;  // a leading ']' is literal
    out += c;
  }
  return out;
}

struct RegexSplitter::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() { pcre2_code_free(code); }
};

RegexSplitter::RegexSplitter(std::string_view pattern) : impl_(std::make_unique<Impl>()) {
  const std::string translated = oniguruma_compatible_pattern(pattern);
  int err = 0;
  PCRE2_SIZE offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  if (!impl_->code) {
    throw std::runtime_error("pre-tokenizer regex does not compile: " + pcre2_message(err) +
                             " at offset " + std::to_string(offset));
  }
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

RegexSplitter::~RegexSplitter() = default;
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;

namespace {

struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ~MatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

}  // namespace

void RegexSplitter::split(std::string_view text,
                          const std::function<void(std::size_t, std::size_t)>& piece) const {
  if (text.empty()) return;
  MatchState st;
  st.data = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  if (!st.data) throw std::bad_alloc();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const std::size_t n = text.size();
  std::size_t pos = 0;   // where the next search starts
  std::size_t done = 0;  // text before this has been handed out
  while (pos < n) {
    int rc = impl_->jit ? pcre2_jit_match(impl_->code, subject, n, pos, 0, st.data, st.context)
                        : pcre2_match(impl_->code, subject, n, pos, PCRE2_NO_UTF_CHECK, st.data,
                                      st.context);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !st.stack) {
      // The default 32 KiB JIT stack ran out (pathological input): retry with a large one.
      st.context = pcre2_match_context_create(nullptr);
      st.stack = pcre2_jit_stack_create(32 * 1024, 512 * 1024 * 1024, nullptr);
      if (!st.context || !st.stack) throw std::bad_alloc();
      pcre2_jit_stack_assign(st.context, nullptr, st.stack);
      continue;
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw std::runtime_error("pre-tokenizer regex failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    const std::size_t begin = ov[0];
    const std::size_t end = ov[1];
    if (begin > done) piece(done, begin);
    if (end > begin) {
      piece(begin, end);
      done = end;
      pos = end;
    } else {
      // An empty match: step over one character so the search moves on.
      done = begin;
      pos = begin + 1;
      while (pos < n && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
    }
  }
  if (done < n) piece(done, n);
}

}  // namespace qwen3::tok
