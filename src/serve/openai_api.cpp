#include "serve/openai_api.hpp"

#include "engine/chat.hpp"
#include "qwen3/error.hpp"

namespace qwen3::serve {

using nlohmann::json;
using requests::ApiError;
using requests::CompletionRequest;
using requests::Endpoint;

namespace {

std::vector<std::int32_t> prompt_ids(const CompletionRequest& r, const ServedModel& m) {
  if (r.ids) {
    for (std::int32_t id : *r.ids)
      if (id >= m.vocab_size)
        throw ApiError{400, "prompt: token id " + std::to_string(id) + " is out of range for vocab_size " + std::to_string(m.vocab_size), "invalid_request_error", "prompt"};
    return *r.ids;
  }
  if (!m.tokenizer) throw ApiError{400, "this model has no tokenizer.json: send the prompt as token ids", "invalid_request_error", "prompt"};
  try {
    return m.tokenizer->encode(r.messages ? chat_prompt(*r.messages, !r.enable_thinking) : *r.text);
  } catch (const Error& e) {
    throw ApiError{400, one_line(e.what()), "invalid_request_error", r.messages ? "messages" : "prompt"};
  }
}

// A token's raw bytes (possibly part of a character); an id past the tokenizer (vocabulary padding) has none.
std::string token_text(const ServedModel& m, std::int32_t id) {
  return m.tokenizer && id < m.tokenizer->size() ? m.tokenizer->token_bytes(id) : std::string();
}

json token_bytes_json(const std::string& bytes) {
  json out = json::array();
  for (unsigned char c : bytes) out.push_back(static_cast<int>(c));
  return out;
}

}  // namespace

std::variant<Submission, ApiError> make_submission(const CompletionRequest& r, const ServedModel& m, const std::string& completion_id) {
  try {
    if (!r.model.empty() && r.model != m.name)
      throw ApiError{404, "The model '" + r.model + "' does not exist (this server serves '" + m.name + "')", "invalid_request_error", "model",
                     "model_not_found"};
    const std::vector<std::int32_t> prompt = prompt_ids(r, m);
    const auto n_prompt = static_cast<std::int64_t>(prompt.size());
    const std::int64_t room = m.context - n_prompt;
    if (room < 1)
      throw ApiError{400, "This model's maximum context length is " + std::to_string(m.context) + " tokens. However, your prompt has " +
                              std::to_string(n_prompt) + " tokens.", "invalid_request_error", r.messages ? "messages" : "prompt",
                     "context_length_exceeded"};
    // Unset: 16 for completions (as OpenAI), the rest of the context for chat.
    const std::int64_t max_tokens = r.max_tokens.value_or(r.endpoint == Endpoint::Completions ? std::min<std::int64_t>(16, room) : room);
    if (max_tokens > room)
      throw ApiError{400, "This model's maximum context length is " + std::to_string(m.context) + " tokens. However, you requested " +
                              std::to_string(n_prompt + max_tokens) + " tokens (" + std::to_string(n_prompt) + " in the prompt, " +
                              std::to_string(max_tokens) + " for the completion).", "invalid_request_error", "max_tokens",
                     "context_length_exceeded"};
    Submission s;
    s.completion = std::make_shared<Completion>(completion_id, r.n, n_prompt);
    s.stop = r.stop;
    s.logprobs = r.logprobs >= 0;
    for (int i = 0; i < r.n; ++i) {
      BatchRequest b;
      b.id = s.completion->sequence_id(i);
      b.prompt = prompt;
      b.sampling = sampler_options(r, m.generation, m.seed);
      b.sampling.seed += static_cast<std::uint64_t>(i);  // n choices: n different draws
      b.max_new_tokens = max_tokens;
      b.stop_ids = m.stop_ids;
      b.stop_ids.insert(b.stop_ids.end(), r.stop_token_ids.begin(), r.stop_token_ids.end());
      b.top_logprobs = r.logprobs;
      try {
        m.engine->check(b);
      } catch (const Error& e) {
        throw ApiError{400, one_line(e.what()), "invalid_request_error", "max_tokens"};
      }
      s.sequences.push_back(std::move(b));
    }
    return s;
  } catch (const ApiError& e) {
    return e;
  }
}

ResponseWriter::ResponseWriter(const CompletionRequest& request, const ServedModel& model, std::string id, std::int64_t created)
    : request_(request), model_(model), id_(std::move(id)), created_(created), chat_(request.endpoint == Endpoint::ChatCompletions) {}

json ResponseWriter::base(const char* object) const {
  return {{"id", id_}, {"object", object}, {"created", created_}, {"model", model_.name}};
}

// Completions: {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}. Chat:
// {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
json ResponseWriter::logprobs(const std::vector<TokenRecord>& tokens, std::size_t text_offset) const {
  if (request_.logprobs < 0) return nullptr;
  if (chat_) {
    json content = json::array();
    for (const TokenRecord& t : tokens) {
      json top = json::array();
      for (const auto& [id, lp] : t.logprobs.top) {
        const std::string text = token_text(model_, id);
        top.push_back({{"token", text}, {"logprob", lp}, {"bytes", token_bytes_json(text)}});
      }
      const std::string text = token_text(model_, t.id);
      content.push_back({{"token", text}, {"logprob", t.logprobs.logprob}, {"bytes", token_bytes_json(text)}, {"top_logprobs", top}});
    }
    return {{"content", content}};
  }
  json out = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()}, {"text_offset", json::array()}};
  for (const TokenRecord& t : tokens) {
    const std::string text = token_text(model_, t.id);
    out["tokens"].push_back(text);
    out["token_logprobs"].push_back(t.logprobs.logprob);
    json top = json::object();
    for (const auto& [id, lp] : t.logprobs.top) top[token_text(model_, id)] = lp;
    out["top_logprobs"].push_back(top);
    out["text_offset"].push_back(text_offset);
    text_offset += text.size();
  }
  return out;
}

namespace {
json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}
}  // namespace

json ResponseWriter::whole(const std::vector<ChoiceResult>& choices, const Usage& usage) const {
  json out = base(chat_ ? "chat.completion" : "text_completion");
  out["choices"] = json::array();
  for (std::size_t i = 0; i < choices.size(); ++i) {
    const ChoiceResult& c = choices[i];
    json choice = {{"index", i}, {"logprobs", logprobs(c.tokens, 0)}, {"finish_reason", c.finish_reason}};
    if (chat_)
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    else
      choice["text"] = c.text;
    out["choices"].push_back(choice);
  }
  out["usage"] = usage_json(usage);
  return out;
}

json ResponseWriter::chunk(const ChoiceDelta& d, bool first_of_choice) const {
  json out = base(chat_ ? "chat.completion.chunk" : "text_completion");
  json choice = {{"index", d.index}, {"logprobs", logprobs(d.tokens, 0)},
                 {"finish_reason", d.finish_reason.empty() ? json(nullptr) : json(d.finish_reason)}};
  if (chat_) {
    choice["delta"] = json::object();
    if (first_of_choice) choice["delta"]["role"] = "assistant";
    if (!d.text.empty() || d.finish_reason.empty()) choice["delta"]["content"] = d.text;
  } else {
    choice["text"] = d.text;
  }
  out["choices"] = json::array({choice});
  if (request_.include_usage) out["usage"] = nullptr;
  return out;
}

json ResponseWriter::usage_chunk(const Usage& usage) const {
  json out = base(chat_ ? "chat.completion.chunk" : "text_completion");
  out["choices"] = json::array();
  out["usage"] = usage_json(usage);
  return out;
}

}  // namespace qwen3::serve
