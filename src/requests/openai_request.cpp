#include "requests/openai_request.hpp"

#include <nlohmann/json.hpp>

#include <set>

#include "requests/json_fields.hpp"

namespace qwen3::requests {
namespace {

using nlohmann::json;

// A refusal naming the field (OpenAI's `param`).
struct FieldError {
  std::string param, message;
};

[[noreturn]] void refuse(const std::string& param, const std::string& message) { throw FieldError{param, message}; }

// Runs `read` and turns its qwen3::Error into a FieldError for `param`.
template <class Read>
auto field(const std::string& param, Read&& read) {
  try {
    return read();
  } catch (const Error& e) {
    refuse(param, e.what());
  }
}

void check_known_fields(const json& j, Endpoint endpoint) {
  static const std::set<std::string> common = {"model", "max_tokens", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
                                               "seed", "stop", "stop_token_ids", "n", "stream", "stream_options", "logprobs",
                                               "presence_penalty", "frequency_penalty", "user", "echo", "logit_bias", "best_of"};
  static const std::set<std::string> completions = {"prompt", "suffix"};
  static const std::set<std::string> chat = {"messages", "max_completion_tokens", "top_logprobs", "chat_template_kwargs", "tools",
                                             "tool_choice", "response_format", "parallel_tool_calls"};
  const auto& own = endpoint == Endpoint::Completions ? completions : chat;
  for (const auto& [key, value] : j.items())
    if (!common.count(key) && !own.count(key)) refuse(key, "Unrecognized request argument supplied: " + key);
}

// Fields accepted only at their neutral value: anything else would be silently ignored.
void refuse_unsupported(const json& j) {
  for (const char* penalty : {"presence_penalty", "frequency_penalty"})
    if (j.contains(penalty) && !(j[penalty].is_number() && j[penalty].get<double>() == 0.0))
      refuse(penalty, std::string(penalty) + " is not supported (use repetition_penalty)");
  if (j.contains("echo") && !(j["echo"].is_boolean() && !j["echo"].get<bool>())) refuse("echo", "echo is not supported");
  if (j.contains("logit_bias") && !(j["logit_bias"].is_null() || (j["logit_bias"].is_object() && j["logit_bias"].empty())))
    refuse("logit_bias", "logit_bias is not supported");
  if (j.contains("suffix") && !j["suffix"].is_null()) refuse("suffix", "suffix is not supported");
  for (const char* tools : {"tools", "tool_choice", "parallel_tool_calls"})
    if (j.contains(tools) && !j[tools].is_null()) refuse(tools, "tool calls are not supported");
  if (j.contains("response_format") && !(j["response_format"].is_object() && j["response_format"].value("type", "") == "text"))
    refuse("response_format", "only response_format {\"type\": \"text\"} is supported");
}

void read_prompt(const json& j, CompletionRequest& r) {
  if (r.endpoint == Endpoint::ChatCompletions) {
    if (!j.contains("messages")) refuse("messages", "messages is required");
    r.messages = field("messages", [&] { return chat_messages(j["messages"]); });
    if (j.contains("chat_template_kwargs")) {
      const json& k = j["chat_template_kwargs"];
      if (!k.is_object()) refuse("chat_template_kwargs", "expected an object");
      for (const auto& [key, value] : k.items()) {
        if (key != "enable_thinking" || !value.is_boolean()) refuse("chat_template_kwargs", "only enable_thinking (true or false) is supported");
        r.enable_thinking = value.get<bool>();
      }
    }
    return;
  }
  if (!j.contains("prompt")) refuse("prompt", "prompt is required");
  json p = j["prompt"];
  // A list of one prompt is that prompt; several prompts in one request are not supported.
  if (p.is_array() && p.size() == 1 && (p[0].is_string() || p[0].is_array())) p = json(p[0]);
  if (p.is_string()) {
    if (p.get_ref<const std::string&>().empty()) refuse("prompt", "prompt is empty");
    r.text = p.get<std::string>();
  } else if (p.is_array() && !p.empty() && p[0].is_number()) {
    r.ids = field("prompt", [&] { return id_list(p, "prompt"); });
  } else if (p.is_array() && p.size() > 1) {
    refuse("prompt", "one prompt per request is supported (send several requests, or use n)");
  } else {
    refuse("prompt", "prompt must be a non-empty string or a list of token ids");
  }
}

void read_stops(const json& j, CompletionRequest& r) {
  if (j.contains("stop") && !j["stop"].is_null()) {
    const json& s = j["stop"];
    if (s.is_string()) {
      r.stop = {s.get<std::string>()};
    } else if (s.is_array()) {
      for (const json& one : s) {
        if (!one.is_string()) refuse("stop", "stop must be a string or a list of strings");
        r.stop.push_back(one.get<std::string>());
      }
    } else {
      refuse("stop", "stop must be a string or a list of strings");
    }
    if (r.stop.size() > kMaxStops) refuse("stop", "at most " + std::to_string(kMaxStops) + " stop strings");
    for (const auto& one : r.stop)
      if (one.empty()) refuse("stop", "a stop string is empty");
  }
  if (j.contains("stop_token_ids")) r.stop_token_ids = field("stop_token_ids", [&] { return id_list(j["stop_token_ids"], "stop_token_ids"); });
}

void read_logprobs(const json& j, CompletionRequest& r) {
  if (!j.contains("logprobs") || j["logprobs"].is_null()) {
    if (r.endpoint == Endpoint::ChatCompletions && j.contains("top_logprobs") && !j["top_logprobs"].is_null())
      refuse("top_logprobs", "top_logprobs needs logprobs: true");
    return;
  }
  if (r.endpoint == Endpoint::Completions) {  // logprobs: N alternatives
    r.logprobs = field("logprobs", [&] { return number<int>(j["logprobs"], "logprobs", 0, kMaxTopLogprobs); });
    return;
  }
  if (!j["logprobs"].is_boolean()) refuse("logprobs", "logprobs must be true or false");
  if (!j["logprobs"].get<bool>()) {
    if (j.contains("top_logprobs") && !j["top_logprobs"].is_null()) refuse("top_logprobs", "top_logprobs needs logprobs: true");
    return;
  }
  r.logprobs = 0;
  if (j.contains("top_logprobs") && !j["top_logprobs"].is_null())
    r.logprobs = field("top_logprobs", [&] { return number<int>(j["top_logprobs"], "top_logprobs", 0, kMaxTopLogprobs); });
}

template <class T>
std::optional<T> optional_number(const json& j, const char* name, T lo, T hi) {
  if (!j.contains(name) || j[name].is_null()) return std::nullopt;
  return field(name, [&] { return number<T>(j[name], name, lo, hi); });
}

bool optional_flag(const json& j, const char* name) {
  if (!j.contains(name) || j[name].is_null()) return false;
  if (!j[name].is_boolean()) refuse(name, std::string(name) + " must be true or false");
  return j[name].get<bool>();
}

void read_settings(const json& j, CompletionRequest& r) {
  if (j.contains("model") && !j["model"].is_null()) {
    if (!j["model"].is_string()) refuse("model", "model must be a string");
    r.model = j["model"].get<std::string>();
  }
  const char* max_name = r.endpoint == Endpoint::ChatCompletions && j.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  r.max_tokens = optional_number<std::int64_t>(j, max_name, 1, INT32_MAX);
  r.temperature = optional_number<float>(j, "temperature", 0.f, 2.f);
  r.top_p = optional_number<float>(j, "top_p", 0.f, 1.f);
  if (r.top_p && *r.top_p == 0.f) refuse("top_p", "top_p must be greater than 0");
  r.top_k = optional_number<std::int32_t>(j, "top_k", -1, INT32_MAX);
  if (r.top_k && *r.top_k < 0) r.top_k = 0;  // -1: off, as vLLM
  r.min_p = optional_number<float>(j, "min_p", 0.f, 1.f);
  r.repetition_penalty = optional_number<float>(j, "repetition_penalty", 1e-3f, 100.f);
  r.seed = optional_number<std::uint64_t>(j, "seed", 0, UINT64_MAX);
  r.n = optional_number<int>(j, "n", 1, kMaxChoices).value_or(1);
  if (j.contains("best_of") && !j["best_of"].is_null() && !(j["best_of"].is_number_integer() && j["best_of"].get<std::int64_t>() == r.n))
    refuse("best_of", "best_of is not supported");
  r.stream = optional_flag(j, "stream");
  if (j.contains("stream_options") && !j["stream_options"].is_null()) {
    if (!r.stream) refuse("stream_options", "stream_options is only allowed with stream: true");
    const json& o = j["stream_options"];
    if (!o.is_object()) refuse("stream_options", "expected an object");
    for (const auto& [key, value] : o.items())
      if (key != "include_usage") refuse("stream_options", "unknown stream option: " + key);
    r.include_usage = optional_flag(o, "include_usage");
  }
  if (j.contains("user") && !j["user"].is_null() && !j["user"].is_string()) refuse("user", "user must be a string");
}

}  // namespace

std::string error_body(const ApiError& e) {
  const json body = {{"error",
                      {{"message", e.message},
                       {"type", e.type},
                       {"param", e.param.empty() ? json(nullptr) : json(e.param)},
                       {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::variant<CompletionRequest, ApiError> parse_completion_request(std::string_view body, Endpoint endpoint) {
  CompletionRequest r;
  r.endpoint = endpoint;
  try {
    const json j = json::parse(body);
    if (!j.is_object()) return ApiError{400, "the request body must be a JSON object"};
    check_known_fields(j, endpoint);
    refuse_unsupported(j);
    read_prompt(j, r);
    read_stops(j, r);
    read_logprobs(j, r);
    read_settings(j, r);
  } catch (const json::exception& e) {
    return ApiError{400, one_line(std::string("the request body is not valid JSON: ") + e.what())};
  } catch (const FieldError& e) {
    return ApiError{400, one_line(e.message), "invalid_request_error", e.param};
  }
  return r;
}

}  // namespace qwen3::requests
