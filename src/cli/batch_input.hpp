#pragma once
// The two files of `qwen3_mpi batch`, both outside data (tests/fuzz/fuzz_batch_input.cpp):
//   - an input line: one JSON object, `id`, and `prompt` (text, or token ids as OpenAI's completions
//     API accepts them) or `messages` (the chat template), with optional `max_tokens`, `temperature`,
//     `top_k`, `top_p`, `min_p`, `repetition_penalty`, `seed`, `stop_token_ids`;
//   - the output of an earlier run of the same command, which a re-run resumes: the ids it already
//     answered, and where its last complete line ends (a line cut by a kill is redone).
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat.hpp"

namespace qwen3::cli {

// A line's own eviction policy, as written: "kv_policy": "sink-window" or {"name": "sink-window",
// "sink": 4, "window": 252, "heavy": ..., "evict_chunk": ...}; fields not given take the built-in
// defaults of --kv-policy's options (not the command's). Checked where the model's runtime is known.
struct KvPolicyFields {
  std::string name;
  std::optional<std::int64_t> sink, window, heavy, evict_chunk;
};

struct BatchLine {
  std::string id;
  std::optional<std::string> text;                 // "prompt": "..."
  std::optional<std::vector<std::int32_t>> ids;    // "prompt": [1, 2, 3]
  std::optional<std::vector<ChatMessage>> messages;
  std::optional<std::int64_t> max_tokens;
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<std::int32_t> top_k;
  std::optional<std::uint64_t> seed;
  std::vector<std::int32_t> stop_token_ids;
  std::optional<KvPolicyFields> kv_policy;
};

// One input line, or the reason it cannot run (one line naming the field). `id` of a line without a
// usable one is "line-N". Fields it does not know are refused, not ignored ("stop" strings included).
struct ParsedBatchLine {
  std::optional<BatchLine> line;
  std::string id;
  std::string error;
};
ParsedBatchLine parse_batch_line(std::string_view text, std::int64_t line_number);

// What an earlier run left in the output file: the ids of its complete result lines, and the length
// of the prefix made of them (anything after it, a line cut by a kill, is to be cut away and redone).
struct ResumeState {
  std::set<std::string> done;
  std::size_t complete_bytes = 0;
};
ResumeState scan_results(std::string_view output);

}  // namespace qwen3::cli
