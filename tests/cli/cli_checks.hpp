#pragma once
// Checks on what one qwen3_mpi run printed. Each check adds what it found wrong to a Findings list
// instead of stopping at the first problem; a case then fails once, with every finding and the
// runs they came from (cli_case.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

namespace qwen3::test::cli {

using Ids = std::vector<std::int64_t>;

class Findings {
 public:
  void add(std::string what) { items_.push_back(std::move(what)); }
  // Every finding of `other`, each prefixed with `where`.
  void add_all(const std::string& where, const Findings& other) {
    for (const std::string& item : other.items_) add(where + item);
  }
  bool empty() const { return items_.empty(); }
  std::string text() const;

 private:
  std::vector<std::string> items_;
};

// Fails the running test with every finding, then each run's command and output.
void report(const Findings& f, const std::vector<const RunResult*>& runs);

std::string format_ids(const Ids& ids);  // "[1, 2, 3]", as qwen3_mpi prints them
// `text` in double quotes, with control and non-ASCII bytes as \xNN escapes.
std::string escaped(std::string_view text);

// The lines of `text`, without their '\n'.
std::vector<std::string> lines_of(std::string_view text);
// How many lines of `text` the ECMAScript regex `re` matches somewhere in.
int count_matching_lines(std::string_view text, const std::string& re);

// The run ended by itself (no signal, no time-out) with exit status `want`.
void check_exit(const RunResult& r, int want, Findings& f);

// Each regex matches some line of stderr.
void check_stderr_has(const RunResult& r, const std::vector<std::string>& regexes, Findings& f);
// No line of stderr matches `re`.
void check_stderr_lacks(const RunResult& r, const std::string& re, Findings& f);

// A generation that worked: exit status 0, one `load:` line on stderr, `timing_lines` timing lines
// ("timing: prompt N tokens | ttft ... | tpot ... | ... tokens/s ..."; the first with N =
// `prompt_tokens` when given), and none of the load, timing or note lines on stdout.
struct GenerationExpect {
  std::optional<std::int64_t> prompt_tokens = std::nullopt;
  int timing_lines = 1;
};
void check_generation(const RunResult& r, const GenerationExpect& e, Findings& f);

// Bad input: exit status 1, nothing on stdout, exactly one line on stderr, "qwen3_mpi: error: ..."
// matching `re` (which names the problem).
void check_one_error_line(const RunResult& r, const std::string& re, Findings& f);

// stdout is exactly one line "[a, b, ...]" of integers; its ids, or nothing (with a finding).
std::optional<Ids> parse_id_list_line(const std::string& out, Findings& f);

// stdout is one JSON object on one line; the object, or nothing (with a finding).
std::optional<nlohmann::json> parse_json_line(const std::string& out, Findings& f);
// stdout is one JSON object per line; the objects (a line that is not one is a finding).
std::vector<nlohmann::json> parse_json_lines(const std::string& out, Findings& f);

// j[key] as ids (an array of integers), or nothing (with a finding).
std::optional<Ids> json_ids(const nlohmann::json& j, const char* key, Findings& f);

// A generate --json object: prompt_ids, generated_ids, stop, steps (id, logprob <= 0, top 5 [id,
// logprob] pairs sorted by logprob, the chosen id's logprob equal to its top entry), timing; and what
// `e` expects of them.
struct GenerateExpect {
  std::optional<Ids> prompt_ids = std::nullopt;
  std::optional<Ids> generated_ids = std::nullopt;
  std::optional<std::size_t> n_generated = std::nullopt;
  std::optional<std::string> stop = std::nullopt;  // the object must have "stop" with this value
  std::vector<double> logprobs = {};               // steps[i].logprob, within logprob_tol
  std::vector<Ids> top_ids = {};                   // the ids of steps[i].top, in order
  double logprob_tol = 1e-3;
  bool greedy = false;              // every step chose its top[0]
};
void check_generate_json(const nlohmann::json& j, const GenerateExpect& e, Findings& f);

// An eval --json object: every field with its type and a finite value >= 0, ppl >= 1, accuracy in
// [0, 1], 1 <= scored < tokens, and windows inside [0, tokens); with the streaming protocol the
// windows are contiguous, at most report_every long, start at 1, end at tokens and cover the scored
// tokens.
void check_eval_json(const nlohmann::json& j, Findings& f);

// The summary row of eval's table ("  tokens  ppl  accuracy ..." and the numbers under it).
struct EvalTableRow {
  std::int64_t tokens = 0;
  double ppl = 0, accuracy = 0;
};
std::optional<EvalTableRow> parse_eval_table(const std::string& out, Findings& f);

// |got - want| <= rel * |want|.
bool within_relative(double got, double want, double rel);

}  // namespace qwen3::test::cli
