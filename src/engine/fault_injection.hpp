#pragma once
// Test-only fault injection: QWEN3_TEST_FAULT makes one member throw a qwen3::Error mid-run, as a fault
// only that member sees would (a disk error, a bad page), so the tests can check that the whole job
// still ends at once with one line naming the member (engine/agreement.hpp, as_one_job). Compiled in
// always, so the tests exercise the binary users run; unset, it costs one branch per forward call.
//   QWEN3_TEST_FAULT=RANK:prefill        member RANK fails in its first prefill forward call
//   QWEN3_TEST_FAULT=RANK:decode:STEP    member RANK fails before its decode step STEP (1 = the first)
// Never set it outside tests.
#include <cstdint>
#include <optional>
#include <string>

namespace qwen3 {

struct TestFault {
  int member = 0;
  bool in_prefill = false;
  std::int64_t decode_step = 0;  // with !in_prefill
};

// The fault a QWEN3_TEST_FAULT value asks for; qwen3::Error naming the variable if it is malformed.
TestFault parse_test_fault(const std::string& text);

// The fault of this process's QWEN3_TEST_FAULT, read once; none when unset.
const std::optional<TestFault>& test_fault();
[[noreturn]] void throw_test_fault(const TestFault& fault);

// Throws the injected error when member `member` is at the point the fault names: a forward call of
// `n_tokens` (more than one: prefill) that is decode step `decode_step` of its session (0 in prefill).
inline void maybe_inject_test_fault(int member, std::int64_t n_tokens, std::int64_t decode_step) {
  const std::optional<TestFault>& fault = test_fault();
  if (!fault || fault->member != member) return;
  if (fault->in_prefill ? n_tokens > 1 : decode_step == fault->decode_step) throw_test_fault(*fault);
}

}  // namespace qwen3
