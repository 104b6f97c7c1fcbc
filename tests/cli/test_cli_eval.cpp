// eval --json: every field with its type and a finite value, and windows that add up to the whole
// (check_eval_json), for both protocols. (The default model against transformers' perplexity and
// --csv are in test_cli_auto_level_only.cpp.)
#include "cli_case.hpp"
#include "cli_fixtures.hpp"

namespace qwen3::test::cli {
namespace {

// Runs eval with `args` and returns its --json object (nothing, with findings, when it has none).
std::optional<nlohmann::json> eval_json(CaseDir& dir, const Args& args, RunResult& r, Findings& f, int timeout_s = 0) {
  r = run_qwen3(dir, {.args = args, .timeout_s = timeout_s});
  check_exit(r, 0, f);
  auto j = parse_json_line(r.out, f);
  if (j) check_eval_json(*j, f);
  return j;
}

class CliEval : public CliTest {};

// The 73 predictions of the 74-token prompt, in windows [1, 21) [21, 41) [41, 61) [61, 74).
TEST_F(CliEval, StreamingJsonScoresEveryTokenInWindowsOfReportEvery) {
  CaseDir dir;
  RunResult r;
  Findings f;
  if (const auto j = eval_json(dir, {"eval", "-m", kGqa4, "--text", kPromptFile, "--report-every", "20", "-t", "1", "--json"}, r, f)) {
    if ((*j)["protocol"] != "streaming") f.add("protocol is " + (*j)["protocol"].dump());
    if ((*j)["tokens"] != 74 || (*j)["scored"] != 73) f.add("tokens " + (*j)["tokens"].dump() + ", scored " + (*j)["scored"].dump() + "; expected 74 and 73");
    Ids ends;
    for (const auto& w : (*j)["windows"]) ends.push_back(w.value("end", std::int64_t{-1}));
    if (ends != Ids{21, 41, 61, 74}) f.add("the windows end at " + format_ids(ends) + ", expected [21, 41, 61, 74]");
  }
  report(f, {&r});
}

// Chunks of 20: 3 chunks from an empty cache each, the second half of each scored (9 predictions).
TEST_F(CliEval, ChunkedJsonScoresTheSecondHalfOfEachChunk) {
  CaseDir dir;
  RunResult r;
  Findings f;
  if (const auto j = eval_json(dir, {"eval", "-m", kGqa4, "--text", kPromptFile, "--chunk", "20", "-t", "1", "--json"}, r, f)) {
    if ((*j)["protocol"] != "chunked") f.add("protocol is " + (*j)["protocol"].dump());
    if ((*j)["scored"] != 27) f.add("scored " + (*j)["scored"].dump() + ", expected 27");
  }
  report(f, {&r});
}

// Every command treats the model the same way: without -m, eval runs the shipped default model, and it
// prints the same load line as generate (naming its prefill path).
TEST_F(CliEval, WithoutModelRunsTheShippedModelAndPrintsTheLoadLine) {
  CaseDir dir;
  RunResult r;
  Findings f;
  if (const auto j = eval_json(dir, {"eval", "--text", kPromptFile, "--report-every", "20", "-t", "1", "--json"}, r, f)) {
    const std::string model = j->value("model", std::string());
    if (model.size() < 19 || model.substr(model.size() - 19) != "qwen3-gutenberg-11m") f.add("model is '" + model + "', not the shipped one");
  }
  check_stderr_has(r, {"(^|\n)load: [^\n]*qwen3-gutenberg-11m \\| [^\n]*prefill gemm [^\n]+\\| attention streaming"}, f);
  report(f, {&r});
}

// The default model was trained on 512 positions: scoring past them (the excerpt has 597 tokens) says
// so on stderr, and a run that stays inside says nothing.
TEST_F(CliEval, PositionsPastTheModelsContextAreANote) {
  CaseDir dir;
  RunResult past, inside;
  Findings f;
  // 600 tokens one at a time: 40 s under ASan with scalar kernels on a busy machine.
  eval_json(dir, {"eval", "--text", kEvalText, "--max-tokens", "600", "-t", "1", "--json"}, past, f, 180);
  check_stderr_has(past, {"(^|\n)note: eval reaches position 596, past the model's max_position_embeddings 512"}, f);
  eval_json(dir, {"eval", "--text", kEvalText, "--max-tokens", "512", "-t", "1", "--json"}, inside, f, 180);
  check_stderr_lacks(inside, "max_position_embeddings", f);
  report(f, {&past, &inside});
}

}  // namespace
}  // namespace qwen3::test::cli
