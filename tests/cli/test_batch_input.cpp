// The batch command's readers of outside text (src/cli/batch_input.cpp): input lines and the output a
// re-run resumes from. (fuzz_batch_input checks the same properties on arbitrary bytes.)
#include <gtest/gtest.h>

#include "cli/batch_input.hpp"

namespace qwen3::cli {
namespace {

TEST(BatchLine, ReadsEveryPromptFormAndSetting) {
  const auto text = parse_batch_line(R"({"id": "a", "prompt": "Hi", "max_tokens": 4, "temperature": 0.5, "top_k": 3, "top_p": 0.9,
                                       "min_p": 0.1, "repetition_penalty": 1.1, "seed": 9, "stop_token_ids": [7, 8]})", 1);
  ASSERT_TRUE(text.line) << text.error;
  EXPECT_EQ(*text.line->text, "Hi");
  EXPECT_EQ(*text.line->max_tokens, 4);
  EXPECT_EQ(*text.line->top_k, 3);
  EXPECT_EQ(*text.line->seed, 9u);
  EXPECT_EQ(text.line->stop_token_ids, (std::vector<std::int32_t>{7, 8}));
  const auto ids = parse_batch_line(R"({"id": "b", "prompt": [1, 2]})", 2);
  ASSERT_TRUE(ids.line) << ids.error;
  EXPECT_EQ(*ids.line->ids, (std::vector<std::int32_t>{1, 2}));
  const auto chat = parse_batch_line(R"({"id": "c", "messages": [{"role": "user", "content": "u"}]})", 3);
  ASSERT_TRUE(chat.line) << chat.error;
  EXPECT_EQ(chat.line->messages->at(0).content, "u");
  const auto named = parse_batch_line(R"({"id": "d", "prompt": "x", "kv_policy": "sink-window"})", 4);
  ASSERT_TRUE(named.line) << named.error;
  EXPECT_EQ(named.line->kv_policy->name, "sink-window");
  EXPECT_FALSE(named.line->kv_policy->window);
  const auto full = parse_batch_line(R"({"id": "e", "prompt": "x", "kv_policy": {"name": "h2o", "window": 8, "heavy": 4, "evict_chunk": 2}})", 5);
  ASSERT_TRUE(full.line) << full.error;
  EXPECT_EQ(*full.line->kv_policy->window, 8);
  EXPECT_EQ(*full.line->kv_policy->heavy, 4);
  EXPECT_EQ(*full.line->kv_policy->evict_chunk, 2);
  EXPECT_FALSE(full.line->kv_policy->sink);
}

TEST(BatchLine, EachProblemIsOneErrorNamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"[1, 2]", "one JSON object"},
      {R"({"prompt": "x"})", "id: missing"},
      {R"({"id": 3, "prompt": "x"})", "id: expected a non-empty string"},
      {R"({"id": "a"})", "exactly one of prompt and messages"},
      {R"({"id": "a", "prompt": "x", "messages": []})", "exactly one of prompt and messages"},
      {R"({"id": "a", "prompt": ""})", "prompt: empty"},
      {R"({"id": "a", "prompt": [1, -2]})", "prompt: -2 is outside"},
      {R"({"id": "a", "prompt": [1.5]})", "prompt: expected an integer"},
      {R"({"id": "a", "prompt": "x", "max_tokens": 0})", "max_tokens: 0 is outside"},
      {R"({"id": "a", "prompt": "x", "top_p": 2})", "top_p: 2 is outside"},
      {R"({"id": "a", "prompt": "x", "stop": "."})", "use stop_token_ids"},
      {R"({"id": "a", "messages": [{"role": "user"}]})", "a string role and a content"},
      {R"({"id": "a", "prompt": "x")", "not valid JSON"},
      {R"({"id": "a", "prompt": "x", "kv_policy": 3})", "kv_policy: expected a policy name"},
      {R"({"id": "a", "prompt": "x", "kv_policy": {"window": 3}})", "kv_policy: expected a policy name"},
      {R"({"id": "a", "prompt": "x", "kv_policy": {"name": "window", "size": 3}})", "kv_policy: unknown field 'size'"},
      {R"({"id": "a", "prompt": "x", "kv_policy": {"name": "window", "window": -1}})", "kv_policy.window: -1 is outside"},
  };
  for (const auto& [line, message] : cases) {
    const auto p = parse_batch_line(line, 5);
    EXPECT_FALSE(p.line) << line;
    EXPECT_NE(p.error.find(message), std::string::npos) << line << " -> " << p.error;
  }
  EXPECT_EQ(parse_batch_line("{}", 5).id, "line-5");
  EXPECT_EQ(parse_batch_line(R"({"id": "k", "prompt": ""})", 5).id, "k");
}

TEST(ResumeScan, KeepsWholeResultLinesAndCutsTheRest) {
  const std::string two = "{\"id\":\"a\",\"token_ids\":[1]}\n{\"id\":\"b\",\"error\":\"e\"}\n";
  auto s = scan_results(two + "{\"id\":\"c\",\"te");
  EXPECT_EQ(s.done, (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(s.complete_bytes, two.size());
  s = scan_results(two + "garbage\n{\"id\":\"d\"}\n");  // nothing after a line that is not a result counts
  EXPECT_EQ(s.done.size(), 2u);
  EXPECT_EQ(s.complete_bytes, two.size());
  EXPECT_EQ(scan_results("").complete_bytes, 0u);
}

}  // namespace
}  // namespace qwen3::cli
