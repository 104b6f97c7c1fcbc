#pragma once
// The bodies of OpenAI's POST /v1/completions and /v1/chat/completions, read and checked before
// anything reaches the engine (outside data: tests/fuzz/fuzz_openai_request.cpp). A field this server
// cannot honour (echo, logit_bias, best_of, non-zero presence/frequency penalties, tools) is refused
// with a 400 naming it, never silently ignored; unknown fields are refused as OpenAI refuses them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/chat.hpp"

namespace qwen3::requests {

enum class Endpoint { Completions, ChatCompletions };

// An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
  ApiError(int status_, std::string message_, std::string type_ = "invalid_request_error", std::string param_ = {}, std::string code_ = {})
      : status(status_), message(std::move(message_)), type(std::move(type_)), param(std::move(param_)), code(std::move(code_)) {}
  int status;
  std::string message;
  std::string type;
  std::string param;  // empty: null
  std::string code;   // empty: null
};
std::string error_body(const ApiError& e);

inline constexpr int kMaxChoices = 16;       // n
inline constexpr int kMaxTopLogprobs = 20;
inline constexpr std::size_t kMaxStops = 4;  // as OpenAI

struct CompletionRequest {
  Endpoint endpoint = Endpoint::Completions;
  std::string model;                                 // empty: not given
  std::optional<std::string> text;                   // completions: "prompt": "..."
  std::optional<std::vector<std::int32_t>> ids;      // completions: "prompt": [1, 2, 3]
  std::optional<std::vector<ChatMessage>> messages;  // chat
  bool enable_thinking = true;                       // chat_template_kwargs.enable_thinking (as vLLM)
  std::optional<std::int64_t> max_tokens;            // max_tokens or max_completion_tokens
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<std::int32_t> top_k;
  std::optional<std::uint64_t> seed;
  std::vector<std::string> stop;                     // stop strings (not in the returned text)
  std::vector<std::int32_t> stop_token_ids;
  int n = 1;
  bool stream = false;
  bool include_usage = false;                        // stream_options.include_usage
  int logprobs = -1;                                 // -1: none; else the alternatives per token (0: the chosen token's only)
};

std::variant<CompletionRequest, ApiError> parse_completion_request(std::string_view body, Endpoint endpoint);

}  // namespace qwen3::requests
