// --api-key's comparison (serve/http_server.hpp): equal only for the same bytes, whatever the lengths.
#include <gtest/gtest.h>

#include "serve/http_server.hpp"

namespace qwen3::serve {
namespace {

TEST(ApiKey, EqualOnlyForTheSameBytes) {
  EXPECT_TRUE(keys_equal("secret", "secret"));
  EXPECT_FALSE(keys_equal("secreT", "secret"));
  EXPECT_FALSE(keys_equal("secret", "secret2"));
  EXPECT_FALSE(keys_equal("secret2", "secret"));
  EXPECT_FALSE(keys_equal("", "secret"));
  EXPECT_FALSE(keys_equal(std::string("sec\0ret", 7), "sec"));
}

}  // namespace
}  // namespace qwen3::serve
