// QWEN3_TEST_FAULT's grammar: the tests of "no rank waits forever" (tests/mpi/test_rank_fault.sh) rely
// on it naming exactly the member and the step, and a typo must be one clear error, not a silent no-op.
#include <gtest/gtest.h>

#include "engine/fault_injection.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

TEST(TestFault, ParsesPrefillAndDecodeSteps) {
  const TestFault p = parse_test_fault("2:prefill");
  EXPECT_EQ(p.member, 2);
  EXPECT_TRUE(p.in_prefill);
  const TestFault d = parse_test_fault("0:decode:17");
  EXPECT_EQ(d.member, 0);
  EXPECT_FALSE(d.in_prefill);
  EXPECT_EQ(d.decode_step, 17);
}

TEST(TestFault, MalformedValuesAreOneErrorNamingTheVariable) {
  for (const char* bad : {"", "1", "x:prefill", "1:decode", "1:decode:0", "1:decode:-3", "1:prefil", "-1:prefill", "1:decode:2x"}) {
    try {
      parse_test_fault(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("QWEN3_TEST_FAULT="), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace qwen3
