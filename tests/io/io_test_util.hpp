#pragma once
// Helpers shared by the io tests: a self-deleting temp directory, file writing, and an error check
// that also asserts the one-line message rule.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "qwen3/error.hpp"

#include "temp_dir.hpp"

namespace qwen3::test {


inline void write_file(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

// Runs `f`; returns what() of the qwen3::Error it threw, or records a failure if it threw none.
// Any other exception type escapes and fails the test.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const qwen3::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected qwen3::Error, nothing was thrown";
  return {};
}

}  // namespace qwen3::test

// The statement throws qwen3::Error whose one-line message contains `needle`.
#define EXPECT_QWEN3_ERROR(stmt, needle)                                                         \
  do {                                                                                           \
    const std::string qwen3_msg_ = ::qwen3::test::error_of([&] { (void)(stmt); });               \
    EXPECT_NE(qwen3_msg_.find(needle), std::string::npos) << "message: " << qwen3_msg_;          \
    EXPECT_EQ(qwen3_msg_.find('\n'), std::string::npos) << "multi-line message: " << qwen3_msg_; \
    EXPECT_EQ(qwen3_msg_.find('\r'), std::string::npos) << "multi-line message: " << qwen3_msg_; \
  } while (0)
