// The checks of cli_checks.hpp find what they are meant to find: a well-formed output passes, and each
// defect alone is a finding (a check that cannot fail would let every case pass).
#include <gtest/gtest.h>

#include <algorithm>

#include "cli_checks.hpp"

namespace qwen3::test::cli {
namespace {

using nlohmann::json;

json generate_object() {
  return json::parse(R"({"prompt_ids": [1, 2], "generated_ids": [5, 6], "stop": "length",
    "steps": [{"id": 5, "logprob": -1.0, "top": [[5, -1.0], [6, -2.0], [7, -3.0], [8, -4.0], [9, -5.0]]},
              {"id": 6, "logprob": -0.5, "top": [[6, -0.5], [5, -2.0], [7, -3.0], [8, -4.0], [9, -5.0]]}],
    "timing": {"prompt_tokens": 2, "ttft_ms": 1.0, "tpot_ms": 0.5, "tokens_per_s": 2000}})");
}

int findings_for(const json& j, const GenerateExpect& e = {}) {
  Findings f;
  check_generate_json(j, e, f);
  const std::string text = f.text();  // one line per finding
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

TEST(CliChecks, WellFormedGenerateObjectPasses) {
  EXPECT_EQ(findings_for(generate_object(), {.prompt_ids = Ids{1, 2}, .generated_ids = Ids{5, 6}, .stop = "length",
                                              .logprobs = {-1.0, -0.5}, .greedy = true}),
            0);
}

TEST(CliChecks, MissingStopIsAFinding) {
  json j = generate_object();
  j.erase("stop");
  EXPECT_EQ(findings_for(j), 1);
  EXPECT_EQ(findings_for(j, {.stop = "length"}), 1);
}

TEST(CliChecks, EachDefectOfAGenerateObjectIsAFinding) {
  EXPECT_EQ(findings_for(generate_object(), {.stop = "end-of-text"}), 1);
  EXPECT_EQ(findings_for(generate_object(), {.generated_ids = Ids{5, 7}}), 1);
  EXPECT_EQ(findings_for(generate_object(), {.logprobs = {-1.0, -0.502}}), 1);  // 2e-3 off, tolerance 1e-3
  json unsorted = generate_object();
  unsorted["steps"][0]["top"][1][1] = -0.5;
  EXPECT_GE(findings_for(unsorted), 1);
  json not_greedy = generate_object();
  not_greedy["steps"][1]["top"] = json::parse("[[5, -0.1], [6, -0.5], [7, -3.0], [8, -4.0], [9, -5.0]]");
  EXPECT_EQ(findings_for(not_greedy), 0);
  EXPECT_EQ(findings_for(not_greedy, {.greedy = true}), 1);
  json wrong_count = generate_object();
  wrong_count["timing"]["prompt_tokens"] = 3;
  EXPECT_EQ(findings_for(wrong_count), 1);
}

TEST(CliChecks, IdListIsOneLineOfIntegers) {
  Findings f;
  EXPECT_EQ(parse_id_list_line("[1, 2, 3]\n", f), (Ids{1, 2, 3}));
  EXPECT_EQ(parse_id_list_line("[]\n", f), Ids{});
  EXPECT_TRUE(f.empty()) << f.text();
  for (const char* bad : {"[1, 2]", "[1, x]\n", "[1, 2]\n[3]\n", "1, 2\n", ""}) {
    Findings g;
    EXPECT_FALSE(parse_id_list_line(bad, g).has_value()) << bad;
    EXPECT_FALSE(g.empty()) << bad;
  }
}

TEST(CliChecks, EvalWindowsMustAddUpToTheWhole) {
  json j = json::parse(R"({"model": "m", "text": "t", "protocol": "streaming", "attention": "streaming", "kv_type": "f32",
    "kv_policy": "full", "tokens": 5, "scored": 4, "report_every": 2, "chunk": 0, "ppl": 2.0, "accuracy": 0.5, "ttft_ms": 1,
    "tpot_ms": 1, "tokens_per_s": 1, "attn_ms_per_token": 0, "peak_kv_bytes": 1, "peak_rss_bytes": 1, "sink": 0, "kv_window": 0,
    "kv_heavy": 0, "windows": [{"start": 1, "end": 3, "ppl": 2.0, "accuracy": 0.5, "ms_per_token": 1, "kv_bytes": 1, "rss_bytes": 1},
                               {"start": 3, "end": 5, "ppl": 2.0, "accuracy": 0.5, "ms_per_token": 1, "kv_bytes": 1, "rss_bytes": 1}]})");
  Findings ok;
  check_eval_json(j, ok);
  EXPECT_TRUE(ok.empty()) << ok.text();
  json gap = j;
  gap["windows"][1]["start"] = 4;
  json other_ppl = j;
  other_ppl["ppl"] = 2.5;
  for (const json& bad : {gap, other_ppl}) {
    Findings f;
    check_eval_json(bad, f);
    EXPECT_FALSE(f.empty()) << bad.dump();
  }
}

RunResult finished(int exit_code, std::string out, std::string err) {
  RunResult r;
  r.exit_code = exit_code;
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

TEST(CliChecks, BadInputIsExactlyOneErrorLine) {
  const std::string line = "qwen3_mpi: error: --top-p 2: expected a value in [0, 1]\n";
  Findings ok;
  check_one_error_line(finished(1, "", line), R"(--top-p 2: expected a value in \[0, 1\]$)", ok);
  EXPECT_TRUE(ok.empty()) << ok.text();
  for (const RunResult& bad : {finished(1, "", line + line), finished(1, "x", line), finished(2, "", line), finished(1, "", "error: --top-p\n")}) {
    Findings f;
    check_one_error_line(bad, "--top-p", f);
    EXPECT_FALSE(f.empty()) << bad.err;
  }
}

}  // namespace
}  // namespace qwen3::test::cli
