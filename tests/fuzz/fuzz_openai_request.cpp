// libFuzzer harness: the server's request bodies (src/requests/openai_request.cpp) on arbitrary bytes,
// at both endpoints. Properties:
//  - parse_completion_request never throws; an error is a 4xx with a one-line message;
//  - an accepted request is within what the server promises to check: exactly one prompt form for its
//    endpoint (non-empty), n in [1, 16], at most 4 non-empty stop strings, logprobs in [-1, 20],
//    max_tokens >= 1, temperature in [0, 2], top_p in (0, 1], stream_options only with stream.
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "requests/openai_request.hpp"

namespace {

using qwen3::fuzz::property_failed;
using namespace qwen3::requests;

void check(const std::string& body, Endpoint endpoint) {
  std::variant<CompletionRequest, ApiError> parsed = ApiError{0, ""};
  try {
    parsed = parse_completion_request(body, endpoint);
  } catch (...) {
    property_failed("parse_completion_request threw");
  }
  if (const auto* e = std::get_if<ApiError>(&parsed)) {
    if (e->status < 400 || e->status > 499) property_failed("an error that is not 4xx");
    if (e->message.empty() || e->message.find('\n') != std::string::npos) property_failed("an error message that is not one line");
    return;
  }
  const auto& r = std::get<CompletionRequest>(parsed);
  const int forms = r.text.has_value() + r.ids.has_value() + r.messages.has_value();
  if (forms != 1) property_failed("not exactly one prompt form");
  if ((endpoint == Endpoint::ChatCompletions) != r.messages.has_value()) property_failed("a prompt form of the other endpoint");
  if ((r.text && r.text->empty()) || (r.ids && r.ids->empty()) || (r.messages && r.messages->empty())) property_failed("an empty prompt");
  if (r.ids)
    for (std::int32_t id : *r.ids)
      if (id < 0) property_failed("a negative token id");
  if (r.n < 1 || r.n > kMaxChoices) property_failed("n out of range");
  if (r.stop.size() > kMaxStops) property_failed("too many stop strings");
  for (const auto& s : r.stop)
    if (s.empty()) property_failed("an empty stop string");
  if (r.logprobs < -1 || r.logprobs > kMaxTopLogprobs) property_failed("logprobs out of range");
  if (r.max_tokens && *r.max_tokens < 1) property_failed("max_tokens < 1");
  if (r.temperature && !(*r.temperature >= 0.f && *r.temperature <= 2.f)) property_failed("temperature out of range");
  if (r.top_p && !(*r.top_p > 0.f && *r.top_p <= 1.f)) property_failed("top_p out of range");
  if (r.include_usage && !r.stream) property_failed("include_usage without stream");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  check(body, Endpoint::Completions);
  check(body, Endpoint::ChatCompletions);
  return 0;
}
