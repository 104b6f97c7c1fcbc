// `qwen3_mpi batch`: every line answered once, with the ids a single run gives; bad lines as error
// results that leave the rest running; a re-run after a kill finishing the rest with nothing lost and
// nothing written twice.
#include <fstream>

#include "batch_files.hpp"
#include "cli_fixtures.hpp"

namespace qwen3::test::cli {
namespace {

class CliBatch : public CliTest {};

// transformers' greedy ids for the tiny-gqa4 fixture prompt, beside shorter requests and bad lines.
TEST_F(CliBatch, AnswersEveryLineWithTheReferenceIdsAndBadLinesAsErrors) {
  CaseDir dir;
  const auto in = dir.path() / "in.jsonl", out = dir.path() / "out.jsonl";
  write_lines(in, {nlohmann::json{{"id", "reference"}, {"prompt", kGqa4PromptIds}, {"max_tokens", 8}, {"temperature", 0}}.dump(),
                   R"({"id": "short", "prompt": [40, 83], "max_tokens": 5, "temperature": 0})",
                   R"({"id": "chat", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 3})",
                   "not json",
                   R"({"id": "strings", "prompt": "x", "stop": ["."]})",
                   R"({"id": "short", "prompt": "again"})",
                   R"({"id": "too_big", "prompt": [400]})",
                   R"({"id": "policy", "prompt": "x", "kv_policy": "lru"})"});
  const RunResult r = run_qwen3(dir, {.args = {"batch", "-m", kGqa4, "--input", in.string(), "--output", out.string(), "-t", "1"}});
  const RunResult verify = run_qwen3(dir, {.args = {"-m", kGqa4, "--verify", "40,83", "--gen-len", "5", "-t", "1"}});
  Findings f;
  check_exit(r, 0, f);
  check_stderr_has(r, {"(^|\\n)load: [^\\n]*kv cache f32, up to [^\\n]* for 16 sequences x 512 tokens",
                       "(^|\\n)batch: 8 lines \\| 3 answered now, 0 already in [^\\n]*, 5 errors"}, f);
  const auto got = results_by_id(out, f);
  const auto ids = [&](const char* id) { return got.count(id) ? got.at(id).value("token_ids", Ids{}) : Ids{}; };
  if (ids("reference") != kGqa4GreedyIds) f.add("reference: " + format_ids(ids("reference")) + ", transformers': " + format_ids(kGqa4GreedyIds));
  if (format_ids(ids("short")) + "\n" != verify.out) f.add("short: " + format_ids(ids("short")) + ", --verify printed " + verify.out);
  if (ids("chat").size() != 3) f.add("chat: not 3 tokens");
  const std::pair<const char*, const char*> errors[] = {
      {"line-4", "not valid JSON"}, {"strings", "unknown field 'stop'"}, {"line-6", "id 'short' repeats line 2"}, {"too_big", "out of range for vocab_size 400"},
      {"policy", "kv_policy: --kv-policy lru: expected full, sink-window"}};
  for (const auto& [id, text] : errors)
    if (!got.count(id) || got.at(id).value("error", "").find(text) == std::string::npos) f.add(std::string(id) + ": no error result saying '" + text + "'");
  if (got.size() != 8) f.add(std::to_string(got.size()) + " results for 8 lines");
  report(f, {&r, &verify});
}

// A job stopped by SIGTERM (as Slurm stops one at its time limit) after some results, then a line half
// written as a kill leaves it: the same command again answers the rest, every id once, and each
// with the ids of an uninterrupted run.
TEST_F(CliBatch, ResumesAfterAKillWithNothingLostOrDuplicated) {
  CaseDir dir;
  const auto in = dir.path() / "in.jsonl", full = dir.path() / "full.jsonl", out = dir.path() / "out.jsonl";
  write_lines(in, greedy_requests(48, 96));
  const Args common = {"batch", "--input", in.string(), "-t", "1", "--max-running", "4", "--token-budget", "16"};
  const RunResult whole = run_qwen3(dir, {.args = common + Args{"--output", full.string()}, .timeout_s = 120});
  const RunResult stopped = run_qwen3(dir, {.args = common + Args{"--output", out.string()}, .timeout_s = 2});
  Findings f;
  check_exit(whole, 0, f);
  std::size_t after_stop = 0;
  {
    const auto partial = results_by_id(out, f);
    after_stop = partial.size();
    std::ofstream(out, std::ios::app) << R"({"id": "q47", "text": "cut by a ki)";  // a line a kill cut short
  }
  const RunResult resumed = run_qwen3(dir, {.args = common + Args{"--output", out.string()}, .timeout_s = 120});
  check_exit(resumed, 0, f);
  const auto want = results_by_id(full, f), got = results_by_id(out, f);
  if (got.size() != 48 || want.size() != 48) f.add(std::to_string(got.size()) + " results after the resume, " + std::to_string(want.size()) + " in the whole run; 48 lines");
  for (const auto& [id, j] : want)
    if (got.count(id) && got.at(id)["token_ids"] != j["token_ids"]) f.add(id + ": other ids than the uninterrupted run's");
  check_stderr_has(resumed, {"(^|\\n)batch: 48 lines \\| " + std::to_string(48 - after_stop) + " answered now, " + std::to_string(after_stop) + " already in "}, f);
  std::printf("stopped after %zu of 48 results (%s); the re-run answered %zu\n", after_stop, stopped.timed_out ? "SIGTERM at 2 s" : "finished first",
              48 - after_stop);
  report(f, {&whole, &stopped, &resumed});
}

TEST_F(CliBatch, BadOptionsAndMissingFilesAreOneLine) {
  CaseDir dir;
  const auto in = dir.path() / "in.jsonl";
  write_lines(in, greedy_requests(1, 4));
  const RunResult same = run_qwen3(dir, {.args = {"batch", "-m", kGqa4, "--input", in.string(), "--output", in.string()}});
  const RunResult missing = run_qwen3(dir, {.args = {"batch", "-m", kGqa4, "--input", (dir.path() / "none").string(), "--output", (dir.path() / "o").string()}});
  const RunResult budget = run_qwen3(dir, {.args = {"batch", "-m", kGqa4, "--input", in.string(), "--output", (dir.path() / "o").string(),
                                                     "--max-running", "8", "--token-budget", "4"}});
  Findings f;
  check_one_error_line(same, "--output is the input file", f);
  check_one_error_line(missing, "none: input file", f);
  check_one_error_line(budget, "--token-budget 4 is less than --max-running 8", f);
  report(f, {&same, &missing, &budget});
}

}  // namespace
}  // namespace qwen3::test::cli
