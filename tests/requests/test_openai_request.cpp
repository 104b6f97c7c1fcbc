// OpenAI's completion bodies (requests/openai_request.hpp): every field the server honours is read as
// OpenAI defines it, and anything it cannot honour is a 400 naming the field, never ignored.
#include <gtest/gtest.h>

#include "requests/openai_request.hpp"

namespace qwen3::requests {
namespace {

CompletionRequest ok(std::string_view body, Endpoint e = Endpoint::Completions) {
  auto r = parse_completion_request(body, e);
  if (auto* err = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << ": " << err->message;
  return std::get_if<CompletionRequest>(&r) ? std::get<CompletionRequest>(r) : CompletionRequest{};
}

ApiError refused(std::string_view body, Endpoint e = Endpoint::Completions) {
  auto r = parse_completion_request(body, e);
  if (!std::holds_alternative<ApiError>(r)) {
    ADD_FAILURE() << body << " was accepted";
    return ApiError{0, ""};
  }
  return std::get<ApiError>(r);
}

TEST(OpenAiRequest, CompletionFieldsAreReadAsOpenAiDefinesThem) {
  const auto r = ok(R"({"model": "m", "prompt": "hi", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "n": 3, "seed": 42,
                        "stop": "\n", "stream": true, "stream_options": {"include_usage": true}, "logprobs": 2, "top_k": -1})");
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(*r.text, "hi");
  EXPECT_EQ(*r.max_tokens, 7);
  EXPECT_FLOAT_EQ(*r.temperature, 0.5f);
  EXPECT_EQ(r.n, 3);
  EXPECT_EQ(*r.seed, 42u);
  EXPECT_EQ(r.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(r.stream && r.include_usage);
  EXPECT_EQ(r.logprobs, 2);
  EXPECT_EQ(*r.top_k, 0);  // -1: off, as vLLM
  EXPECT_EQ(*ok(R"({"prompt": [1, 2, 3]})").ids, (std::vector<std::int32_t>{1, 2, 3}));
  EXPECT_EQ(*ok(R"({"prompt": ["one prompt in a list"]})").text, "one prompt in a list");
  EXPECT_EQ(ok(R"({"prompt": "x"})").logprobs, -1);
}

TEST(OpenAiRequest, ChatFieldsIncludingPartsThinkingAndTopLogprobs) {
  const auto r = ok(R"({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "a"},
                        {"type": "text", "text": "b"}]}], "max_completion_tokens": 5, "logprobs": true, "top_logprobs": 4,
                        "chat_template_kwargs": {"enable_thinking": false}})",
                    Endpoint::ChatCompletions);
  ASSERT_EQ(r.messages->size(), 2u);
  EXPECT_EQ((*r.messages)[1].content, "a\nb");
  EXPECT_EQ(*r.max_tokens, 5);
  EXPECT_EQ(r.logprobs, 4);
  EXPECT_FALSE(r.enable_thinking);
  EXPECT_EQ(ok(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})", Endpoint::ChatCompletions).logprobs, 0);
}

TEST(OpenAiRequest, WhatCannotBeHonouredIsA400NamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"prompt": "x", "bogus": 1})", "bogus"},
      {R"({"prompt": "x", "echo": true})", "echo"},
      {R"({"prompt": "x", "presence_penalty": 0.5})", "presence_penalty"},
      {R"({"prompt": "x", "logit_bias": {"1": 5}})", "logit_bias"},
      {R"({"prompt": "x", "best_of": 3})", "best_of"},
      {R"({"prompt": "x", "n": 0})", "n"},
      {R"({"prompt": "x", "n": 17})", "n"},
      {R"({"prompt": "x", "temperature": 2.5})", "temperature"},
      {R"({"prompt": "x", "top_p": 0})", "top_p"},
      {R"({"prompt": "x", "max_tokens": 0})", "max_tokens"},
      {R"({"prompt": "x", "max_tokens": 1.5})", "max_tokens"},
      {R"({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]})", "stop"},
      {R"({"prompt": "x", "stop": [""]})", "stop"},
      {R"({"prompt": "x", "stop": 5})", "stop"},
      {R"({"prompt": "x", "logprobs": 21})", "logprobs"},
      {R"({"prompt": "x", "stream_options": {"include_usage": true}})", "stream_options"},
      {R"({"prompt": "x", "seed": -1})", "seed"},
      {R"({"prompt": ""})", "prompt"},
      {R"({"prompt": []})", "prompt"},
      {R"({"prompt": ["a", "b"]})", "prompt"},
      {R"({"prompt": [1, -2]})", "prompt"},
      {R"({"max_tokens": 3})", "prompt"},
  };
  for (const auto& [body, param] : cases) {
    const ApiError e = refused(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << ": " << e.message;
    EXPECT_EQ(e.message.find('\n'), std::string::npos) << body;
  }
  EXPECT_EQ(refused(R"({"messages": []})", Endpoint::ChatCompletions).param, "messages");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user"}]})", Endpoint::ChatCompletions).param, "messages");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", Endpoint::ChatCompletions).param, "top_logprobs");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": "x"}], "tools": [{}]})", Endpoint::ChatCompletions).param, "tools");
  EXPECT_EQ(refused(R"({"prompt": "x"})", Endpoint::ChatCompletions).param, "prompt");  // a completions field at chat
  EXPECT_EQ(refused("{not json").status, 400);
  EXPECT_EQ(refused("[1, 2]").status, 400);
}

TEST(OpenAiRequest, ErrorBodiesHaveOpenAisShape) {
  EXPECT_EQ(error_body(ApiError{404, "no such model", "invalid_request_error", "model", "model_not_found"}),
            R"({"error":{"code":"model_not_found","message":"no such model","param":"model","type":"invalid_request_error"}})");
  EXPECT_EQ(error_body(ApiError{503, "busy", "server_error"}), R"({"error":{"code":null,"message":"busy","param":null,"type":"server_error"}})");
}

}  // namespace
}  // namespace qwen3::requests
