// Unit tests of the --verify id list parser (src/cli/id_list.cpp); tests/fuzz/fuzz_id_list checks the
// same properties on arbitrary bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cli/id_list.hpp"
#include "qwen3/error.hpp"

namespace {

using qwen3::cli::parse_id_list;
using Ids = std::vector<std::int32_t>;

// The message parse_id_list throws for `text` ("" when it throws nothing).
std::string error_of(const std::string& text) {
  try {
    (void)parse_id_list(text);
  } catch (const qwen3::Error& e) {
    return e.what();
  }
  return "";
}

TEST(IdList, ParsesCommaSeparatedIds) {
  EXPECT_EQ(parse_id_list("151644,872"), (Ids{151644, 872}));
  EXPECT_EQ(parse_id_list("0"), (Ids{0}));
  EXPECT_EQ(parse_id_list(" 1 ,  2,3  "), (Ids{1, 2, 3}));
  EXPECT_EQ(parse_id_list("007"), (Ids{7}));
}

TEST(IdList, AcceptsTheWholeInt32Range) {
  EXPECT_EQ(parse_id_list("2147483647"), (Ids{INT32_MAX}));
  EXPECT_EQ(error_of("2147483648"), "--verify: token id 2147483648 is out of range");
}

TEST(IdList, WhatFormatIdListPrintsReadsBack) {
  const Ids ids = {0, 1, 151643, INT32_MAX};
  const std::string printed = qwen3::cli::format_id_list(ids);  // "[0, 1, 151643, 2147483647]"
  EXPECT_EQ(parse_id_list(printed.substr(1, printed.size() - 2)), ids);
}

TEST(IdList, RefusesEmptyItems) {
  EXPECT_EQ(error_of(""), "--verify: '' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("1,,2"), "--verify: '' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("1,"), "--verify: '' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of(",1"), "--verify: '' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("  "), "--verify: '' is not a token id (expected comma-separated integers)");
}

TEST(IdList, RefusesNonIntegers) {
  EXPECT_EQ(error_of("1,abc"), "--verify: 'abc' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("+1"), "--verify: '+1' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("1.5"), "--verify: '1.5' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("0x10"), "--verify: '0x10' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("1 2"), "--verify: '1 2' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("[1, 2]"), "--verify: '[1' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("\t1"), "--verify: '?1' is not a token id (expected comma-separated integers)");
}

TEST(IdList, RefusesNegativeIds) {
  EXPECT_EQ(error_of("5,-1"), "--verify: token id -1 is negative");
}

// tests/fuzz/fuzz_id_list's first find: an item holding a control byte was echoed into the message,
// so "1,\n2" or a stray \x01 broke the one-line error contract (qwen3/error.hpp).
TEST(IdList, RegressionControlBytesInAnItemStayOutOfTheMessage) {
  EXPECT_EQ(error_of(std::string("\x01\x00\x00\x00\x00\xa3\xff\xfd\xff", 9)),
            "--verify: '?????\xa3\xff\xfd\xff' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("1,\n2"), "--verify: '?2' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("7\r"), "--verify: '7?' is not a token id (expected comma-separated integers)");
  EXPECT_EQ(error_of("-3\t,1"), "--verify: '-3?' is not a token id (expected comma-separated integers)");
}

}  // namespace
