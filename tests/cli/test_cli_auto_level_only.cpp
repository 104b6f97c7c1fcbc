// Cases that run at the "auto" instruction-set level only: they take seconds at the scalar level for
// what faster cases cover at every level (the default model's 597 decode steps are covered at every
// level by tests/engine/test_default_model.cpp; model copies and --csv touch no kernel).
#include <cmath>
#include <fstream>
#include <sstream>

#include "cli_case.hpp"
#include "cli_fixtures.hpp"

namespace qwen3::test::cli {
namespace {

// --- The model-copy harness itself (make_model_copy, used by the bad-input cases): copies that are
// not broken must run and give the fixtures' ids, so a broken case fails for its edit alone ----------
struct ModelCopyCase {
  std::string name;
  ModelCopy model;
  Args args;  // after -m <the copy>
  Ids prompt_ids, generated_ids;
};
void PrintTo(const ModelCopyCase& c, std::ostream* os) { *os << c.name; }

const Args kGreedy8 = {"--temp", "0", "-n", "8", "--json", "-t", "1"};
const ModelCopyCase kModelCopyCases[] = {
    // Config, tokenizer and generation config come along: text in, reference ids out.
    {"unedited_gqa4", {kGqa4, unedited()}, Args{"-f", kPromptFile} + kGreedy8, kGqa4PromptIds, kGqa4GreedyIds},
    // The sharded checkpoint: the index and both shards.
    {"unedited_mha_tied_sharded", {kMhaTied, unedited()}, Args{"-p", kMhaPromptText} + kGreedy8, kMhaPromptIds, kMhaGreedyIds},
    // Replacing text with itself leaves config.json (and the shard index) intact.
    {"identity_replace_config", {kGqa4, replace_text("config.json", "\"hidden_size\": 64", "\"hidden_size\": 64")},
     {"--verify", id_arg(kGqa4PromptIds), "--gen-len", "8", "--json", "-t", "1"}, kGqa4PromptIds, kGqa4GreedyIds},
    {"identity_replace_shard_index",
     {kMhaTied, replace_text("model.safetensors.index.json", "model-00002-of-00002.safetensors", "model-00002-of-00002.safetensors")},
     {"--verify", id_arg(kMhaPromptIds), "--gen-len", "8", "--json", "-t", "1"}, kMhaPromptIds, kMhaGreedyIds},
};

class ModelCopies : public CliCaseTest<ModelCopyCase> {};
TEST_P(ModelCopies, RunLikeTheFixtureAndAreNamedInTheLoadLine) {
  const ModelCopyCase& c = GetParam();
  CaseDir dir(c.model);
  const RunResult r = run_qwen3(dir, {.args = Args{"-m", kModelCopy} + c.args});
  Findings f;
  check_generation(r, {.prompt_tokens = static_cast<std::int64_t>(c.prompt_ids.size())}, f);
  if (const auto j = parse_json_line(r.out, f)) check_generate_json(*j, {.prompt_ids = c.prompt_ids, .generated_ids = c.generated_ids}, f);
  check_stderr_has(r, {dir.resolve_regex("^load: " + kModelCopy + " \\|")}, f);
  report(f, {&r});
}
INSTANTIATE_TEST_SUITE_P(cli, ModelCopies, ::testing::ValuesIn(kModelCopyCases), CaseName());

// --- eval --csv ------------------------------------------------------------------------------------
std::vector<double> csv_numbers(const std::string& row) {
  std::vector<double> out;
  std::istringstream in(row);
  std::string cell;
  while (std::getline(in, cell, ',')) {
    std::size_t used = 0;
    try {
      out.push_back(std::stod(cell, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != cell.size() || cell.empty()) return {};
  }
  return out;
}

// Printed with 6 significant digits.
bool csv_equal(double csv, double json) { return std::fabs(csv - json) <= 1e-5 * std::fabs(json) + 1e-9; }

class CliEvalCsv : public CliTest {};

// The header and one row per JSON window, holding the window's numbers.
TEST_F(CliEvalCsv, HasOneRowPerJsonWindowWithItsNumbers) {
  CaseDir dir;
  const std::string csv = kTmp + "/eval_windows.csv";
  const RunResult r = run_qwen3(dir, {.args = {"eval", "-m", kGqa4, "--text", kPromptFile, "--report-every", "20", "-t", "1", "--json", "--csv", csv}});
  Findings f;
  check_exit(r, 0, f);
  const auto j = parse_json_line(r.out, f);
  if (j) check_eval_json(*j, f);
  std::ifstream in(dir.resolve(csv));
  std::string header, row;
  if (!in || !std::getline(in, header)) {
    f.add("--csv " + dir.resolve(csv) + " was not written");
  } else if (j && f.empty()) {
    if (header != "start,end,ppl,accuracy,ms_per_token,kv_bytes,rss_bytes") f.add("the CSV header is '" + header + "'");
    const auto& windows = (*j)["windows"];
    std::size_t i = 0;
    for (; std::getline(in, row); ++i) {
      const std::vector<double> cells = csv_numbers(row);
      if (cells.size() != 7) {
        f.add("CSV row " + std::to_string(i) + " '" + row + "' is not 7 numbers");
        continue;
      }
      if (i >= windows.size()) continue;
      const auto& w = windows[i];
      const char* keys[] = {"start", "end", "ppl", "accuracy", "ms_per_token", "kv_bytes", "rss_bytes"};
      for (std::size_t k = 0; k < 7; ++k)
        if (!csv_equal(cells[k], w[keys[k]].get<double>()))
          f.add("CSV row " + std::to_string(i) + ": " + keys[k] + " " + std::to_string(cells[k]) + ", windows[" + std::to_string(i) + "] has " + w[keys[k]].dump());
    }
    if (i != windows.size()) f.add("the CSV has " + std::to_string(i) + " rows, the JSON " + std::to_string(windows.size()) + " windows");
  }
  report(f, {&r});
}

// --- The default model's perplexity against transformers' ------------------------------------------
// Within 0.5 % of tests/data/eval/qwen3-gutenberg-11m-reference.json and its accuracy within 1.5 /
// 596 (one arg-max may flip): the tolerances of tests/engine/test_default_model.cpp (bf16 KV cache).
struct EvalReference {
  std::int64_t tokens, scored;
  double ppl, accuracy;
};

EvalReference read_eval_reference() {
  std::ifstream in(kEvalReference);
  const nlohmann::json j = nlohmann::json::parse(in);
  return {j.at("tokens").get<std::int64_t>(), j.at("scored").get<std::int64_t>(), j.at("ppl").get<double>(), j.at("accuracy").get<double>()};
}

void check_against_reference(std::int64_t tokens, double ppl, double accuracy, Findings& f) {
  const EvalReference ref = read_eval_reference();
  if (tokens != ref.tokens) f.add(std::to_string(tokens) + " tokens; the reference has " + std::to_string(ref.tokens) + " (the tokenizer differs)");
  if (!within_relative(ppl, ref.ppl, 0.005)) f.add("ppl " + std::to_string(ppl) + ", the reference's " + std::to_string(ref.ppl) + ": more than 0.5 % apart");
  if (!(std::fabs(accuracy - ref.accuracy) <= 1.5 / static_cast<double>(ref.scored)))
    f.add("accuracy " + std::to_string(accuracy) + ", the reference's " + std::to_string(ref.accuracy) + ": more than 1.5 / scored apart");
}

class CliDefaultModelEval : public CliTest {};

TEST_F(CliDefaultModelEval, JsonMatchesTransformers) {
  CaseDir dir;
  const RunResult r = run_qwen3(dir, {.args = {"eval", "-m", kDefaultModel, "--text", kEvalText, "-t", "1", "--json"}, .timeout_s = 60});
  Findings f;
  check_exit(r, 0, f);
  if (const auto j = parse_json_line(r.out, f)) {
    check_eval_json(*j, f);
    if (f.empty()) {
      check_against_reference((*j)["tokens"].get<std::int64_t>(), (*j)["ppl"].get<double>(), (*j)["accuracy"].get<double>(), f);
      if ((*j)["scored"] != read_eval_reference().scored) f.add("scored " + (*j)["scored"].dump() + " differs from the reference's (the protocol differs)");
    }
  }
  report(f, {&r});
}

TEST_F(CliDefaultModelEval, TableMatchesTransformers) {
  CaseDir dir;
  const RunResult r = run_qwen3(dir, {.args = {"eval", "-m", kDefaultModel, "--text", kEvalText, "-t", "1"}, .timeout_s = 60});
  Findings f;
  check_exit(r, 0, f);
  if (count_matching_lines(r.out, R"(^eval: .*qwen3-gutenberg-11m on .*crime-and-punishment-excerpt\.txt \| streaming protocol)") != 1)
    f.add("no line 'eval: <model> on <text> | streaming protocol ...'");
  if (count_matching_lines(r.out, R"(^ *tokens +ppl +accuracy +ttft_ms +tpot_ms +tokens/s +attn_ms/tok +peak_kv_bytes +peak_rss_bytes$)") != 1)
    f.add("no summary table header 'tokens ppl accuracy ttft_ms ...'");
  if (count_matching_lines(r.out, R"(^ *start +end +ppl +accuracy$)") != 1) f.add("no window table header 'start end ppl accuracy'");
  if (const auto row = parse_eval_table(r.out, f)) check_against_reference(row->tokens, row->ppl, row->accuracy, f);
  report(f, {&r});
}

}  // namespace
}  // namespace qwen3::test::cli
