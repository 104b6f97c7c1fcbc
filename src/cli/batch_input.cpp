#include "cli/batch_input.hpp"

#include <nlohmann/json.hpp>

#include "qwen3/error.hpp"
#include "requests/json_fields.hpp"

namespace qwen3::cli {
namespace {

using nlohmann::json;
using requests::chat_messages;
using requests::id_list;
using requests::number;

void read_prompt(const json& j, BatchLine& l) {
  const bool has_prompt = j.contains("prompt"), has_messages = j.contains("messages");
  if (has_prompt == has_messages) throw Error("give exactly one of prompt and messages");
  if (has_messages) {
    l.messages = chat_messages(j["messages"]);
  } else if (j["prompt"].is_string()) {
    if (j["prompt"].get_ref<const std::string&>().empty()) throw Error("prompt: empty");
    l.text = j["prompt"].get<std::string>();
  } else {
    l.ids = id_list(j["prompt"], "prompt");
    if (l.ids->empty()) throw Error("prompt: empty");
  }
}

KvPolicyFields kv_policy_fields(const json& j) {
  KvPolicyFields f;
  if (j.is_string()) {
    f.name = j.get<std::string>();
    return f;
  }
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string())
    throw Error("kv_policy: expected a policy name or an object with \"name\"");
  for (const auto& [key, value] : j.items())
    if (key != "name" && key != "sink" && key != "window" && key != "heavy" && key != "evict_chunk")
      throw Error("kv_policy: unknown field '" + key + "'");
  f.name = j["name"].get<std::string>();
  const auto count = [&](const char* key, std::int64_t lo) -> std::optional<std::int64_t> {
    if (!j.contains(key)) return std::nullopt;
    return number<std::int64_t>(j[key], std::string("kv_policy.") + key, lo, 1 << 24);
  };
  f.sink = count("sink", 0);
  f.window = count("window", 1);
  f.heavy = count("heavy", 0);
  f.evict_chunk = count("evict_chunk", 1);
  return f;
}

void read_settings(const json& j, BatchLine& l) {
  static const std::set<std::string> known = {"id", "prompt", "messages", "max_tokens", "temperature", "top_k", "top_p", "min_p",
                                              "repetition_penalty", "seed", "stop_token_ids", "kv_policy"};
  for (const auto& [key, value] : j.items())
    if (!known.count(key)) throw Error("unknown field '" + key + "'" + (key == "stop" ? " (stop strings are not supported; use stop_token_ids)" : ""));
  if (j.contains("max_tokens")) l.max_tokens = number<std::int64_t>(j["max_tokens"], "max_tokens", 1, INT32_MAX);
  if (j.contains("temperature")) l.temperature = number<float>(j["temperature"], "temperature", 0.f, 1e6f);
  if (j.contains("top_k")) l.top_k = number<std::int32_t>(j["top_k"], "top_k", 0, INT32_MAX);
  if (j.contains("top_p")) l.top_p = number<float>(j["top_p"], "top_p", 0.f, 1.f);
  if (j.contains("min_p")) l.min_p = number<float>(j["min_p"], "min_p", 0.f, 1.f);
  if (j.contains("repetition_penalty")) l.repetition_penalty = number<float>(j["repetition_penalty"], "repetition_penalty", 1e-6f, 1e6f);
  if (j.contains("seed")) l.seed = number<std::uint64_t>(j["seed"], "seed", 0, UINT64_MAX);
  if (j.contains("stop_token_ids")) l.stop_token_ids = id_list(j["stop_token_ids"], "stop_token_ids");
  if (j.contains("kv_policy")) l.kv_policy = kv_policy_fields(j["kv_policy"]);
}

}  // namespace

ParsedBatchLine parse_batch_line(std::string_view text, std::int64_t line_number) {
  ParsedBatchLine out;
  out.id = "line-" + std::to_string(line_number);
  try {
    const json j = json::parse(text);
    if (!j.is_object()) throw Error("expected one JSON object per line");
    if (j.contains("id")) {
      if (!j["id"].is_string() || j["id"].get_ref<const std::string&>().empty()) throw Error("id: expected a non-empty string");
      out.id = j["id"].get<std::string>();
    } else {
      throw Error("id: missing");
    }
    BatchLine l;
    l.id = out.id;
    read_prompt(j, l);
    read_settings(j, l);
    out.line = std::move(l);
  } catch (const json::exception& e) {
    out.error = one_line(std::string("not valid JSON: ") + e.what());
  } catch (const Error& e) {
    out.error = one_line(e.what());
  }
  return out;
}

ResumeState scan_results(std::string_view output) {
  ResumeState s;
  std::size_t start = 0;
  while (start < output.size()) {
    const std::size_t end = output.find('\n', start);
    if (end == std::string_view::npos) break;  // cut by a kill: redone
    const json j = json::parse(output.substr(start, end - start), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j["id"].is_string()) break;  // from here on, redone
    s.done.insert(j["id"].get<std::string>());
    start = end + 1;
    s.complete_bytes = start;
  }
  return s;
}

}  // namespace qwen3::cli
