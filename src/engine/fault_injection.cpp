#include "engine/fault_injection.hpp"

#include <charconv>
#include <cstdlib>

#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

std::int64_t parse_count(const std::string& text, const std::string& whole) {
  std::int64_t v = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0)
    throw Error("QWEN3_TEST_FAULT=" + whole + ": expected RANK:prefill or RANK:decode:STEP");
  return v;
}

}  // namespace

TestFault parse_test_fault(const std::string& text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos) parse_count("", text);  // throws with the format
  TestFault f;
  f.member = static_cast<int>(parse_count(text.substr(0, colon), text));
  const std::string where = text.substr(colon + 1);
  if (where == "prefill") {
    f.in_prefill = true;
  } else if (where.rfind("decode:", 0) == 0) {
    f.decode_step = parse_count(where.substr(7), text);
    if (f.decode_step < 1) parse_count("-", text);
  } else {
    parse_count("", text);
  }
  return f;
}

const std::optional<TestFault>& test_fault() {
  static const std::optional<TestFault> fault = []() -> std::optional<TestFault> {
    const char* v = std::getenv("QWEN3_TEST_FAULT");
    if (!v || !*v) return std::nullopt;
    return parse_test_fault(v);
  }();
  return fault;
}

void throw_test_fault(const TestFault& f) {
  throw Error(std::string("injected test fault (QWEN3_TEST_FAULT) in ") +
              (f.in_prefill ? "prefill" : "decode step " + std::to_string(f.decode_step)));
}

}  // namespace qwen3
