// main() of every GoogleTest binary of the suite (cmake/Qwen3Testing.cmake): GoogleTest's own, plus
// one rule. CTest runs each test as `binary --gtest_filter=Suite.Name`, with the names listed when the
// binary was built; a test that is not there when it runs (a parameter list that depends on the CPU or
// on QWEN3_MAX_ISA, a renamed test in a stale list) leaves the filter empty, and GoogleTest counts an
// empty run as a pass. Here it fails. (GoogleTest 1.12, Debian 12's, has no
// --gtest_fail_if_no_test_selected.)
#include <gtest/gtest.h>

#include <cstdio>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  if (GTEST_FLAG_GET(list_tests)) return rc;
  if (::testing::UnitTest::GetInstance()->test_to_run_count() == 0) {
    std::fprintf(stderr, "error: the filter '%s' selects no test in this binary, so nothing was checked\n",
                 GTEST_FLAG_GET(filter).c_str());
    return 1;
  }
  return rc;
}
