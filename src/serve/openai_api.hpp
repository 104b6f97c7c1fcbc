#pragma once
// OpenAI's completions API over the engine: a checked request becomes a Submission (prompt tokenized,
// defaults from generation_config.json, limits checked against the context and the KV pool), and
// what the engine produced becomes OpenAI's response objects and stream chunks.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "engine/batch_engine.hpp"
#include "qwen3/config.hpp"
#include "qwen3/tokenizer.hpp"
#include "requests/openai_request.hpp"
#include "serve/completion.hpp"
#include "serve/serve_loop.hpp"

namespace qwen3::serve {

// What the server serves, fixed at start-up.
struct ServedModel {
  std::string name;                        // the `model` clients name (and /v1/models lists)
  const Tokenizer* tokenizer = nullptr;
  std::int64_t vocab_size = 0;
  std::int64_t context = 0;                // tokens one sequence may hold
  GenerationConfig generation;             // sampling defaults
  std::vector<std::int32_t> stop_ids;      // end-of-text ids
  std::uint64_t seed = 0;                  // --seed: a request without one
  const BatchEngine* engine = nullptr;     // check() only: thread-safe
};

std::variant<Submission, requests::ApiError> make_submission(const requests::CompletionRequest& request, const ServedModel& model,
                                                             const std::string& completion_id);

// Everything a choice produced, gathered for a response that is not streamed.
struct ChoiceResult {
  std::string text;
  std::vector<TokenRecord> tokens;
  std::string finish_reason;
};

// Stream chunk and whole response bodies (JSON objects), as OpenAI shapes them for the endpoint.
class ResponseWriter {
 public:
  ResponseWriter(const requests::CompletionRequest& request, const ServedModel& model, std::string id, std::int64_t created);
  nlohmann::json whole(const std::vector<ChoiceResult>& choices, const Usage& usage) const;
  // The chunk of one delta; for chat the first of each choice also carries the assistant role.
  nlohmann::json chunk(const ChoiceDelta& delta, bool first_of_choice) const;
  // The last chunk with stream_options.include_usage: no choices, the token counts.
  nlohmann::json usage_chunk(const Usage& usage) const;

 private:
  nlohmann::json base(const char* object) const;
  nlohmann::json logprobs(const std::vector<TokenRecord>& tokens, std::size_t text_offset) const;
  const requests::CompletionRequest& request_;
  const ServedModel& model_;
  std::string id_;
  std::int64_t created_;
  bool chat_;
};

}  // namespace qwen3::serve
