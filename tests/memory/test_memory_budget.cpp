// Where the memory figure comes from: the QWEN3_MEMORY_AVAILABLE override, else the smaller of the
// cgroup limit and MemAvailable.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "memory/memory_budget.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

std::uint64_t meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return 0;
}

class MemoryBudget : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv("QWEN3_MEMORY_AVAILABLE"); }
  void TearDown() override { unsetenv("QWEN3_MEMORY_AVAILABLE"); }
};

// Property: the override replaces the measurement exactly and is named as the source.
TEST_F(MemoryBudget, OverrideIsTakenAsGiven) {
  setenv("QWEN3_MEMORY_AVAILABLE", "123456789", 1);
  const AvailableMemory a = available_memory();
  EXPECT_EQ(a.bytes, 123456789u);
  EXPECT_EQ(a.source, "QWEN3_MEMORY_AVAILABLE");
}

// Property: an override that is not a byte count is an error naming it, not a silent zero.
TEST_F(MemoryBudget, MalformedOverrideIsAnError) {
  for (const char* bad : {"12GB", "-5", "x", "1e9"}) {
    setenv("QWEN3_MEMORY_AVAILABLE", bad, 1);
    try {
      available_memory();
      ADD_FAILURE() << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("QWEN3_MEMORY_AVAILABLE=") + bad), std::string::npos) << e.what();
    }
  }
}

// Property: measured, the figure is never more than MemAvailable (a cgroup can only lower it) and
// is positive; the source is one of the two.
TEST_F(MemoryBudget, MeasuredFigureIsAtMostMemAvailable) {
  const AvailableMemory a = available_memory();
  const std::uint64_t meminfo = meminfo_available();
  ASSERT_GT(meminfo, 0u);
  EXPECT_GT(a.bytes, 0u);
  // MemAvailable moves between the two reads; allow 64 MiB of drift.
  EXPECT_LE(a.bytes, meminfo + (std::uint64_t(64) << 20));
  EXPECT_TRUE(a.source == "MemAvailable" || a.source == "cgroup memory limit") << a.source;
}

// Property: byte counts print in powers of 1024 with two decimals.
TEST(FormatBytes, PowersOf1024) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(3.0 * (1 << 30)), "3.00 GiB");
}

// Property: the memory-system id is stable within one kernel and non-negative (an MPI split color).
TEST(MemorySystemId, StableAndNonNegative) {
  EXPECT_GE(memory_system_id(), 0);
  EXPECT_EQ(memory_system_id(), memory_system_id());
}

}  // namespace
}  // namespace qwen3
