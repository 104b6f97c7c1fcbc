// Generation from the command line: --help and --version, the --json object, text on stdout, chat and
// prompts from stdin, the default model, tokenize, KV eviction policies and the memory check.
#include <gtest/gtest.h>

#include "cli_case.hpp"
#include "cli_fixtures.hpp"

namespace qwen3::test::cli {
namespace {

const Args kOneThread = {"-t", "1"};
const std::string kReplacement = "\uFFFD";  // what the text stream prints for bytes that are not UTF-8

// --- Informational commands ------------------------------------------------------------------------
class CliInfo : public CliTest {};

TEST_F(CliInfo, HelpListsTheOptionsAndCommands) {
  CaseDir dir;
  const RunResult r = run_qwen3(dir, {.args = {"--help"}});
  Findings f;
  check_exit(r, 0, f);
  for (const char* item : {"--verify", "--json", "--attention", "--kernel", "--kv-policy", "--numa", "tokenize", "eval"})
    if (r.out.find(item) == std::string::npos) f.add(std::string("--help does not mention ") + item);
  report(f, {&r});
}

TEST_F(CliInfo, VersionNamesTheProgramAndTheCpuFeatures) {
  CaseDir dir;
  const RunResult r = run_qwen3(dir, {.args = {"--version"}});
  Findings f;
  check_exit(r, 0, f);
  if (count_matching_lines(r.out, R"(^qwen3_mpi .*[0-9]+\.[0-9]+)") != 1) f.add("no line 'qwen3_mpi <version>'");
  if (count_matching_lines(r.out, "cpu features") != 1) f.add("no 'cpu features' line");
  report(f, {&r});
}

// --decode-rows bf16 runs where the CPU has AVX512-BF16 (the cpu features --version prints) and says
// so on the load line; elsewhere it runs f32 rows and the load line says why, never an error.
TEST_F(CliInfo, DecodeRowsBf16IsNamedOnTheLoadLine) {
  CaseDir dir;
  const RunResult version = run_qwen3(dir, {.args = {"--version"}});
  const bool has_bf16 = count_matching_lines(version.out, "cpu features.* avx512bf16") == 1;
  const RunResult r = run_qwen3(dir, {.args = {"-m", kDefaultModel, "--decode-rows", "bf16", "--prompt", "Once", "-n", "3", "-t", "1"}});
  Findings f;
  check_exit(r, 0, f);
  check_stderr_has(r, {has_bf16 ? R"(\| kernels avx512 \(decode rows bf16: avx512bf16\),)" : R"(\(decode rows f32: no avx512bf16 here\))"}, f);
  report(f, {&version, &r});
}

// --- --json: one object with prompt_ids, generated_ids, steps (id, logprob, top 5), stop, timing ------
const JsonCase kJsonCases[] = {
    {"reference_gqa4", {verify_gqa4(8) + Args{"--json", "-t", "1"}},
     {.prompt_ids = kGqa4PromptIds, .generated_ids = kGqa4GreedyIds, .logprobs = kGqa4GreedyLogprobs, .top_ids = kGqa4GreedyTop5, .greedy = true}},
    // The text prompt is tokenized to the reference ids, and --temp 0 decodes greedily.
    {"text_prompt_file_greedy", {{"-m", kGqa4, "-f", kPromptFile, "--temp", "0", "-n", "8", "--json", "-t", "1"}},
     {.prompt_ids = kGqa4PromptIds, .generated_ids = kGqa4GreedyIds, .logprobs = kGqa4GreedyLogprobs, .greedy = true}},
    // Sampling with a seed. The ids are recorded from one process:
    //   qwen3_mpi -m tiny-gqa4 -p "It is" -n 12 --seed 7 --json -t 1
    {"sampled", {{"-m", kGqa4, "-p", "It is", "-n", "12", "--seed", "7", "--json", "-t", "1"}},
     {.prompt_ids = Ids{40, 83, 361}, .generated_ids = Ids{117, 153, 86, 388, 54, 299, 117, 88, 97, 220, 270, 262}, .stop = "length"}},
    // (Generated ids recorded from one process, the same command.)
    {"mha_tied_text", {{"-m", kMhaTied, "-p", "\u201cMy dear", "-n", "6", "--temp", "0", "--json", "-t", "1"}},
     {.prompt_ids = Ids{302, 44, 88, 285, 68, 288}, .generated_ids = Ids{346, 305, 305, 305, 32, 32}, .greedy = true}},
    // Greedy after "$" (id 3) is <|endoftext|>: a text generation stops before printing anything.
    {"stops_at_end_of_text", {{"-m", kGqa4, "-p", "$", "--temp", "0", "-n", "5", "--json", "-t", "1"}},
     {.prompt_ids = Ids{3}, .n_generated = 0, .stop = "end-of-text"}},
    // -n N gives exactly N tokens when nothing stops it (greedy from "It is" has no end-of-text in 64).
    {"n_64", {{"-m", kGqa4, "-p", "It is", "--temp", "0", "-n", "64", "--json", "-t", "1"}},
     {.prompt_ids = Ids{40, 83, 361}, .n_generated = 64, .stop = "length", .greedy = true}},
    // -c 10 holds the 3 prompt tokens and 7 generated ones; the 8th is printed, never fed.
    {"context_full", {{"-m", kGqa4, "-p", "It is", "--temp", "0", "-n", "-1", "-c", "10", "--json", "-t", "1"}},
     {.prompt_ids = Ids{40, 83, 361}, .n_generated = 8, .stop = "context-full", .greedy = true}},
};

class Json : public CliCaseTest<JsonCase> {};
TEST_P(Json, PrintsTheExpectedObject) { check_json_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, Json, ::testing::ValuesIn(kJsonCases), CaseName());

// --- Text generation: stdout is the generated text only ----------------------------------------------
// Greedy texts are the reference ids decoded; sampled ones (default seed 0, generation_config.json's
// sampling) are recorded from one process with the same command.
const std::string kR = kReplacement;
const TextCase kTextCases[] = {
    // The 8 greedy ids decode to "'", " ", two invalid bytes, " re", "I" and one more invalid byte.
    {"text_stdout_only", {{"-m", kGqa4, "-f", kPromptFile, "--temp", "0", "-n", "8", "-t", "1"}}, "' " + kR + kR + " reI" + kR + "\n", 74},
    {"sampled_default", {{"-m", kGqa4, "-p", "It is", "-n", "16", "-t", "1"}}, " it" + kR + kR + kR + "I'I" + kR + "\n", 3},
    {"mha_tied_sharded", {{"-m", kMhaTied, "-p", "\u201cMy dear", "-n", "8", "-t", "1"}}, " l" + kR + "\x1b" " th" + kR + "-hat\n", 6},
    {"bf16", {{"-m", kGqa4Bf16, "-p", "It is", "-n", "8", "-t", "1"}}, " it" + kR + kR + kR + "I'I\n", 3},
    {"f16", {{"-m", kGqa4F16, "-p", "It is", "-n", "8", "-t", "1"}}, " it" + kR + kR + kR + "I'I\n", 3},
    // -n -1 with a small -c: generation stops at the context and says so on stderr.
    {"context_full_note", {{"-m", kGqa4, "-p", "It is", "--temp", "0", "-n", "-1", "-c", "10", "-t", "1"}}, "ase\x1d" + kR + "'" + kR + kR + "a\n", 3,
     1, {"^note: .*context length -c 10 reached", R"(\| generated 8 \| stop context-full$)"}},
    // -c past max_position_embeddings (512) runs, with a note that those positions were never trained.
    {"context_past_trained_note", {{"-m", kGqa4, "-p", "It is", "-n", "8", "-t", "1", "-c", "1000"}}, " it" + kR + kR + kR + "I'I\n", 3, 1,
     {R"(^note: -c 1000 is past the model's max_position_embeddings \(512\); rope_scaling \(YaRN\))"}},
    // -n -1 stops at end-of-text: only the closing newline.
    {"end_of_text_prints_newline_only", {{"-m", kGqa4, "-p", "$", "--temp", "0", "-n", "-1", "-t", "1"}}, "\n", 1},
    {"chat_no_think", {{"-m", kGqa4, "-p", "Hello", "--chat", "--no-think", "--temp", "0", "-n", "4", "-t", "1"}}, "itIII\n", 23},
    // --chat -i: one reply per stdin line, the cache kept across turns (19 ChatML ids in the first).
    {"chat_interactive", {{"-m", kGqa4, "--chat", "-i", "--temp", "0", "-n", "4", "-t", "1"}, {}, kChatTurnsFile}, "IIII\nIIII\n", 19, 2},
    // No prompt and stdin not a terminal: every line of stdin is a prompt of its own.
    {"stdin_lines_are_prompts", {{"-m", kGqa4, "--temp", "0", "-n", "4", "-t", "1"}, {}, kChatTurnsFile},
     kR + "848\n andct" + kR + kR + "\n", 4, 2},
    // An empty stdin generates nothing and exits 0.
    {"empty_stdin_generates_nothing", {{"-m", kGqa4, "-n", "4", "-t", "1"}}, "", std::nullopt, 0},
    // The default model: no -m picks models/qwen3-gutenberg-11m (found through the source tree).
    {"default_model_prompt", {{"-p", "hi", "-n", "4", "-t", "1", "--temp", "0"}}, ", and all the\n", 1, 1, {"^load: [^|]*qwen3-gutenberg-11m"}},
    {"default_model_pipe_prompts", {{"--temp", "0", "-n", "8", "-t", "1"}, {}, kChatTurnsFile},
     ", the White Whale; the W\n The Lord is the Father, and the\n", 3, 2, {"^load: [^|]*qwen3-gutenberg-11m"}},
};

class Text : public CliCaseTest<TextCase> {};
TEST_P(Text, PrintsTheExpectedText) { check_text_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, Text, ::testing::ValuesIn(kTextCases), CaseName());

const SameOutputCase kSameTextCases[] = {
    {"prompt_equals_file", {{"-m", kGqa4, "-p", kGqa4PromptText, "--temp", "0", "-n", "16", "-t", "1"}},
     {{"-m", kGqa4, "-f", kPromptFile, "--temp", "0", "-n", "16", "-t", "1"}}},
    // A bounded policy whose budget covers the whole stream keeps every token: the ids of full.
    {"kv_policy_budget_covering_stream_equals_full", {verify_gqa4(8) + kOneThread + Args{"--kv-policy", "sink-window", "--window", "100"}},
     {verify_gqa4(8) + kOneThread}, kGqa4GreedyIds},
    // Memory (QWEN3_MEMORY_AVAILABLE stands in for a smaller machine; tiny-gqa4 needs about 131.8 MiB
    // besides its f32 KV cache of 2 KiB per token). No -c and room for about 214 tokens: the context is
    // lowered to 3 whole blocks of 64, the load line says so, and a generation that fits runs and
    // prints what it prints with all the memory.
    {"memory_default_context_lowered_to_fit", {{"-m", kGqa4, "-p", "It is", "-n", "4", "-t", "1"}, {{"QWEN3_MEMORY_AVAILABLE", "138600000"}}},
     {{"-m", kGqa4, "-p", "It is", "-n", "4", "-t", "1"}}, {},
     {R"(kv cache f32, up to 384\.00 KiB at -c 192 \(lowered from 512 to fit 132\.18 MiB available, QWEN3_MEMORY_AVAILABLE\))"}, 0,
     GenerationExpect{.prompt_tokens = 3}},
    // A bounded policy asks only for its budget, so the memory that refuses -c 100000000 streams.
    {"memory_bounded_policy_fits_where_full_does_not",
     {{"-m", kGqa4, "-p", "It is", "-n", "4", "-t", "1", "--kv-policy", "sink-window", "--window", "60"}, {{"QWEN3_MEMORY_AVAILABLE", "138600000"}}},
     {{"-m", kGqa4, "-p", "It is", "-n", "4", "-t", "1"}}, {}, {R"(for sink-window \(4 sinks \+ 60 recent\))"}, 0,
     GenerationExpect{.prompt_tokens = 3}},
};

class SameText : public CliCaseTest<SameOutputCase> {};
TEST_P(SameText, PrintsWhatTheOtherRunPrints) { check_same_output_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, SameText, ::testing::ValuesIn(kSameTextCases), CaseName());

// --- Chat and stdin lines, each turn replayed on its own ---------------------------------------------
// --gemm native: oneDNN's bf16 prefill (AMX) moves logprobs by ~0.004 against decode, and one step's
// top two are 0.011 apart; our f32 tiles stay within 1e-4.
const ReplayCase kReplayCases[] = {
    {"chat_turns_equal_whole_conversation", ReplayCase::Kind::Chat,
     {{"-m", kDefaultModel, "--chat", "-i", "--temp", "0", "--repeat-penalty", "1", "-n", "6", "-t", "1", "--gemm", "native", "--json"}, {}, kReplayPromptsFile},
     {"-m", kDefaultModel, "-t", "1", "--gemm", "native"}, 3},
    {"stdin_lines_equal_standalone", ReplayCase::Kind::Lines,
     {{"-m", kDefaultModel, "--temp", "0", "-n", "6", "-t", "1", "--json"}, {}, kReplayPromptsFile},
     {"-m", kDefaultModel, "--temp", "0", "-n", "6", "-t", "1"}, 3},
    // The same with --chat (no -i): each line is a conversation of its own.
    {"stdin_chat_lines_equal_standalone", ReplayCase::Kind::Lines,
     {{"-m", kDefaultModel, "--chat", "--temp", "0", "-n", "6", "-t", "1", "--json"}, {}, kReplayPromptsFile},
     {"-m", kDefaultModel, "--chat", "--temp", "0", "-n", "6", "-t", "1"}, 3},
};

class Replay : public CliCaseTest<ReplayCase> {};
TEST_P(Replay, EachObjectEqualsItsRunAlone) { check_replay_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, Replay, ::testing::ValuesIn(kReplayCases), CaseName());

// A 1 MB line of stdin (~250k tokens, no newline, past the context) is tokenized in bounded memory,
// then refused with one line naming its length, after the load line.
class CliLongInput : public CliTest {};
TEST_F(CliLongInput, StdinLinePastTheContextIsRefusedWithOneLine) {
  CaseDir dir;
  const RunResult r = run_qwen3(dir, {.args = {"-m", kGqa4, "-n", "2", "-t", "1"}, .stdin_file = kLongPromptFile});
  Findings f;
  check_exit(r, 1, f);
  if (!r.out.empty()) f.add("stdout is not empty");
  const std::vector<std::string> lines = lines_of(r.err);
  if (lines.empty() || count_matching_lines(lines.back(), R"(^qwen3_mpi: error: prompt of [0-9]{6,} tokens does not fit the context: -c 512$)") != 1)
    f.add("the last line of stderr is not the error naming the prompt's length and -c 512");
  if (count_matching_lines(r.err, "error") != 1) f.add("more than one error line");
  report(f, {&r});
}

// --- --kv-policy: a bounded policy generates past -c -------------------------------------------------
const JsonCase kKvPolicyCases[] = {
    {"sink_window_runs_past_context",
     {{"-m", kGqa4, "-p", "It is", "--temp", "0", "-n", "80", "-c", "16", "-t", "1", "--kv-policy", "sink-window", "--sink", "4", "--window", "12", "--json"}},
     {.n_generated = 80, .stop = "length", .greedy = true},
     {R"(kv cache f32, up to [^|]* for sink-window \(4 sinks \+ 12 recent\))"}},
    {"window_and_evict_chunk",
     {{"-m", kGqa4, "-p", "It is", "--temp", "0", "-n", "40", "-c", "8", "-t", "1", "--kv-policy", "window", "--window", "8", "--evict-chunk", "4", "--json"}},
     {.n_generated = 40, .stop = "length", .greedy = true}},
    {"h2o_runs_past_context",
     {{"-m", kGqa4, "-p", "It is", "--temp", "0", "-n", "60", "-c", "16", "-t", "1", "--kv-policy", "h2o", "--heavy", "6", "--window", "6", "--json"}},
     {.n_generated = 60, .stop = "length", .greedy = true},
     {R"(for h2o \(0 sinks \+ 6 heavy hitters \+ 6 recent\))"}},
};

class KvPolicy : public CliCaseTest<JsonCase> {};
TEST_P(KvPolicy, GeneratesPastTheContext) { check_json_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, KvPolicy, ::testing::ValuesIn(kKvPolicyCases), CaseName());

// --- tokenize ---------------------------------------------------------------------------------------
struct TokenizeCase {
  std::string name;
  Args args;
  Ids ids;
  std::vector<std::string> tokens = {};  // with --json: the token strings
};
void PrintTo(const TokenizeCase& c, std::ostream* os) { *os << c.name; }

const TokenizeCase kTokenizeCases[] = {
    {"prints_list", {"tokenize", "-m", kGqa4, "It is a truth"}, {40, 83, 361, 258, 257, 81, 334, 71}},
    {"reference_prompt", {"tokenize", "-m", kGqa4, kGqa4PromptText}, kGqa4PromptIds},
    {"json", {"tokenize", "-m", kGqa4, "--json", "It is a truth"}, {40, 83, 361, 258, 257, 81, 334, 71},
     {"I", "t", "\u0120is", "\u0120a", "\u0120t", "r", "ut", "h"}},
    {"json_curly_quotes", {"tokenize", "-m", kMhaTied, "--json", kMhaPromptText}, kMhaPromptIds},
    {"special_tokens", {"tokenize", "-m", kGqa4, "<|im_start|><think>"}, {380, 382}},
};

class Tokenize : public CliCaseTest<TokenizeCase> {};
TEST_P(Tokenize, PrintsTheExpectedIdsAndNothingOnStderr) {
  const TokenizeCase& c = GetParam();
  CaseDir dir;
  const RunResult r = run_qwen3(dir, {.args = c.args});
  Findings f;
  check_exit(r, 0, f);
  if (!r.err.empty()) f.add("stderr is not empty");
  const bool json = std::find(c.args.begin(), c.args.end(), "--json") != c.args.end();
  if (!json) {
    if (const auto ids = parse_id_list_line(r.out, f); ids && *ids != c.ids) f.add("printed " + format_ids(*ids) + ", expected " + format_ids(c.ids));
  } else if (const auto j = parse_json_line(r.out, f)) {
    const auto ids = json_ids(*j, "ids", f);
    if (ids && *ids != c.ids) f.add("ids are " + format_ids(*ids) + ", expected " + format_ids(c.ids));
    if (!j->contains("tokens") || !(*j)["tokens"].is_array() || (ids && (*j)["tokens"].size() != ids->size()))
      f.add("tokens is not an array of one string per id");
    else if (!c.tokens.empty() && (*j)["tokens"] != nlohmann::json(c.tokens))
      f.add("tokens are " + (*j)["tokens"].dump() + ", expected " + nlohmann::json(c.tokens).dump());
  }
  report(f, {&r});
}
INSTANTIATE_TEST_SUITE_P(cli, Tokenize, ::testing::ValuesIn(kTokenizeCases), CaseName());

}  // namespace
}  // namespace qwen3::test::cli
