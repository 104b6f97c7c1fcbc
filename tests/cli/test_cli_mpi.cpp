// Several ranks (mpiexec on this machine): the same ids as transformers and as one process in every
// layout kind, rank 0 alone talking to the user, bad layouts refused with one line. These run at the
// "auto" level only (the kernels are the single-process ones; two cases cap the level themselves) and
// one job at a time (ctest RESOURCE_LOCK mpi): oversubscribed ranks of two jobs only wait for each other.
// tiny-gqa4 has 2 KV heads: -n 4 and -n 6 are more ranks than KV heads. --kv-block 4 deals the 74-token
// prompt's 19 blocks over the sp members; the default 64 leaves some members without a block.
#include <cmath>

#include "cli_case.hpp"
#include "batch_files.hpp"
#include "cli_fixtures.hpp"
#include "cuda/cuda_sdpa.hpp"

namespace qwen3::test::cli {
namespace {

const Args kVerify8 = verify_gqa4(8) + Args{"-t", "1"};
const GenerateExpect kTransformers = {
    .generated_ids = kGqa4GreedyIds, .logprobs = kGqa4GreedyLogprobs, .top_ids = kGqa4GreedyTop5, .logprob_tol = 1e-4};

// --- Every layout kind, both attention paths, KV blocks of 4 (several per rank) and 64 (fewer blocks
// than ranks): transformers' ids, and the load line names the layout --------------------------------
struct Layout {
  std::string tag;
  int ranks;
  Args args;
  int tp, sp;
};
const Layout kLayouts[] = {
    {"n2_tp2", 2, {"--tp", "2"}, 2, 1},         {"n2_sp2", 2, {"--sp", "2"}, 1, 2},        {"n3", 3, {}, 1, 3},
    {"n4_tp2_sp2", 4, {"--tp", "2", "--sp", "2"}, 2, 2}, {"n4_sp4", 4, {"--sp", "4"}, 1, 4}, {"n6_tp2_sp3", 6, {"--tp", "2", "--sp", "3"}, 2, 3},
};

std::vector<IdsCase> layout_cases() {
  std::vector<IdsCase> cases;
  for (const Layout& l : kLayouts)
    for (const std::string attention : {"standard", "streaming"})
      for (const std::string block : {"4", "64"})
        cases.push_back({"verify_" + l.tag + "_" + attention + "_block" + block, kVerify8 + l.args + Args{"--attention", attention, "--kv-block", block},
                         kGqa4GreedyIds,
                         {"\\| ranks " + std::to_string(l.ranks) + " = tp " + std::to_string(l.tp) + " x sp " + std::to_string(l.sp) + " \\(rank 0's share\\)$"},
                         {}, l.ranks});
  return cases;
}

// --weights q8 on tiny-gqa4: one process's ids (the first three are transformers' on the f32 weights;
// then 8-bit weights tip a near tie). Every layout quantizes the same blocks (its slices start on block
// boundaries) and rounds the embedding rows it looks up as the Q8 table would, so 3 and 4 ranks give
// these same ids; so do int8 activations (--decode-rows int8) and a q8 KV cache, with their own ids.
const Ids kGqa4Q8Ids = {395, 6, 220, 395, 143, 395, 395, 395};
const Ids kGqa4Q8Int8Ids = {395, 6, 220, 395, 395, 395, 395, 395};  // also --weights q8 --kv-type q8

// tiny-moe (tiny-gqa4's prompt): transformers' greedy ids (its reference.safetensors). Each rank runs
// whole experts (auto, as 32 rows are too few to split: 8 over 3 ranks: 3, 3, 2; over 5: 2, 2, 2, 1, 1)
// or its rows of every expert (--expert-split rows), and the sums join the MLP's all-reduce, so every
// layout gives these ids.
const Ids kMoeGreedyIds = {68, 43, 68, 43, 17, 206, 303, 235};

const IdsCase kIdsCases[] = {
    {"verify_moe_n1", verify_gqa4(8, kMoe) + Args{"-t", "1", "--kv-block", "4"}, kMoeGreedyIds, {}, {}, 1},
    {"verify_moe_n3", verify_gqa4(8, kMoe) + Args{"-t", "1", "--kv-block", "4"}, kMoeGreedyIds, {R"(\| ranks 3 = )"}, {}, 3},
    {"verify_moe_n5_sp5", verify_gqa4(8, kMoe) + Args{"-t", "1", "--kv-block", "4", "--sp", "5"}, kMoeGreedyIds, {R"(\| ranks 5 = tp 1 x sp 5, experts whole )"}, {}, 5},
    // Qwen3-MoE's FP8 layout (routers in f32), requantized to Q8: transformers' ids on the dequantized
    // weights, which are tiny-moe's.
    {"verify_moe_fp8_n1", verify_gqa4(8, kMoeFp8) + Args{"-t", "1", "--kv-block", "4"}, kMoeGreedyIds, {R"(\(Q8 from F8_E4M3)"}, {}, 1},
    {"verify_moe_fp8_n3", verify_gqa4(8, kMoeFp8) + Args{"-t", "1", "--kv-block", "4"}, kMoeGreedyIds, {R"(\| ranks 3 = tp 1 x sp 3, experts whole )"}, {}, 3},
    {"verify_moe_n3_rows", verify_gqa4(8, kMoe) + Args{"-t", "1", "--kv-block", "4", "--expert-split", "rows"}, kMoeGreedyIds,
     {R"(\| ranks 3 = tp 1 x sp 3, expert rows over 3 ranks )"}, {}, 3},
    {"verify_q8_n1", kVerify8 + Args{"--weights", "q8", "--kv-block", "4"}, kGqa4Q8Ids, {R"(weights [0-9.]+ KiB \(Q8 from F32, huge-page copy\))"}, {}, 1},
    {"verify_q8_n3", kVerify8 + Args{"--weights", "q8", "--kv-block", "4"}, kGqa4Q8Ids,
     {R"(weights [0-9.]+ KiB \(Q8 from F32, embedding F32, huge-page copy\))"}, {}, 3},
    // A q8 KV cache: each member quantizes the rows of the blocks it holds; the ids stay transformers'.
    {"verify_kv_q8_n3", kVerify8 + Args{"--kv-type", "q8", "--kv-block", "4"}, kGqa4GreedyIds, {R"(kv cache q8, )"}, {}, 3},
    {"verify_q8_kv_q8_n4_sp4", kVerify8 + Args{"--weights", "q8", "--kv-type", "q8", "--kv-block", "4", "--sp", "4"}, kGqa4Q8Int8Ids,
     {R"(kv cache q8, )"}, {}, 4},
    {"verify_q8_int8_rows_n3", kVerify8 + Args{"--weights", "q8", "--decode-rows", "int8", "--kv-block", "4"}, kGqa4Q8Int8Ids,
     {R"(kernels [a-z0-9]+ \(decode rows int8: )"}, {}, 3},
    // The default layout: the largest tp dividing both the KV heads and the ranks.
    {"default_layout_n6", kVerify8, kGqa4GreedyIds, {R"(\| ranks 6 = tp 2 x sp 3 )"}, {}, 6},
    {"default_layout_n3", kVerify8, kGqa4GreedyIds, {R"(\| ranks 3 = tp 1 x sp 3 )"}, {}, 3},
    // bf16 weights with a bf16 KV cache, and the sharded tied-embedding model.
    {"verify_bf16_n3", verify_gqa4(8, kGqa4Bf16) + Args{"-t", "1", "--kv-type", "bf16", "--kv-block", "4"}, kGqa4GreedyIds, {}, {}, 3},
    {"verify_mha_tied_n4", verify_mha(8) + Args{"-t", "1", "--kv-block", "4"}, kMhaGreedyIds, {}, {}, 4},
    // Only rank 0 prints: one load line and one timing line for the whole job (check_ids_case).
    {"rank0_alone_prints_n4", kVerify8, kGqa4GreedyIds, {}, {}, 4},
    // The lower instruction-set levels across ranks.
    {"verify_avx2_n3", kVerify8 + Args{"--kv-block", "4"}, kGqa4GreedyIds, {"kernels (avx2|scalar),"}, {{"QWEN3_MAX_ISA", "avx2"}}, 3},
    {"verify_scalar_n4", kVerify8 + Args{"--kv-block", "4", "--sp", "4"}, kGqa4GreedyIds, {"kernels scalar,"}, {{"QWEN3_MAX_ISA", "scalar"}}, 4},
};

std::vector<IdsCase> mpi_ids_cases() {
  std::vector<IdsCase> all = layout_cases();
  all.insert(all.end(), std::begin(kIdsCases), std::end(kIdsCases));
  return all;
}

class Mpi : public CliCaseTest<IdsCase> {};
TEST_P(Mpi, PrintsTheReferenceIds) { check_ids_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, Mpi, ::testing::ValuesIn(mpi_ids_cases()), CaseName());

// --- --json: logprobs reduce the log-sum-exp over the split vocabulary; the top 5 come from every
// rank. Ranks times NUMA domains: 2 ranks (not bound by mpirun) x 2 pretend domains = 4 members ----
const Env kPretend2 = {{"HWLOC_SYNTHETIC", "package:2 numa:1 core:1 pu:1"}, {"HWLOC_THISSYSTEM", "1"}};
Env pretend2_with(const Env& more) {
  Env e = kPretend2;
  e.insert(e.end(), more.begin(), more.end());
  return e;
}
const Args kNumaVerify = verify_gqa4(8) + Args{"--json"};  // no -t: one thread per domain

const JsonCase kJsonCases[] = {
    {"json_logprobs_n3", {kVerify8 + Args{"--json", "--kv-block", "4"}, {}, {}, 3},
     {.prompt_ids = kGqa4PromptIds, .generated_ids = kGqa4GreedyIds, .logprobs = kGqa4GreedyLogprobs, .top_ids = kGqa4GreedyTop5, .greedy = true}},
    // tp 2 x sp 2, and tp 1 x sp 4 (a KV group spanning both processes: merges in shared memory, then
    // over MPI).
    {"numa_two_ranks_two_domains_n2", {kNumaVerify + Args{"--kv-block", "4"}, pretend2_with({{"OMPI_MCA_hwloc_base_binding_policy", "none"}}), {}, 2},
     kTransformers, {"members 4 = tp 2 x sp 2"}},
    {"numa_kv_group_across_processes_n2",
     {kNumaVerify + Args{"--kv-block", "4", "--tp", "1"}, pretend2_with({{"OMPI_MCA_hwloc_base_binding_policy", "none"}}), {}, 2}, kTransformers,
     {"members 4 = tp 1 x sp 4"}},
    // The simple alternative: one rank per domain (mpirun --map-by numa --bind-to numa, as MCA
    // variables). Each rank spans one domain, so --numa auto runs one team per rank.
    {"numa_one_rank_per_domain_n2",
     {kNumaVerify,
      pretend2_with({{"OMPI_MCA_rmaps_base_mapping_policy", "numa"}, {"OMPI_MCA_hwloc_base_binding_policy", "numa"}}), {}, 2},
     kTransformers, {R"(\| ranks 2 = tp 2 x sp 1 \(rank 0's share\))"}, {"numa 2 domains|note: --numa"}},
};

class MpiJson : public CliCaseTest<JsonCase> {};
TEST_P(MpiJson, MatchesTransformers) { check_json_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, MpiJson, ::testing::ValuesIn(kJsonCases), CaseName());

// --- The same stdout as one process: text, sampling with a seed (top-k gathered, and top-k off:
// every logit gathered), prompts from a pipe, chat, KV eviction -------------------------------------
const Args kItIs = {"-m", kGqa4, "-p", "It is", "-t", "1"};
const Args kSeed11 = kItIs + Args{"-n", "32", "--seed", "11", "--temp", "0.9", "--top-k", "20"};
const Args kSeed5 = kItIs + Args{"-n", "32", "--seed", "5", "--temp", "1", "--top-k", "0"};
const Args kPerLine = {"-m", kGqa4, "-n", "6", "--temp", "0", "-t", "1"};
const Args kChat = {"-m", kGqa4, "--chat", "-i", "--temp", "0", "-n", "4", "-t", "1"};

Args kv_policy_args(const std::string& policy) {
  return verify_gqa4(40) + Args{"--temp", "0", "-t", "1", "--kv-policy", policy, "--sink", "2", "--window", "10", "--kv-block", "4", "--seed", "4"};
}
const Args kH2o4 = verify_gqa4(40) + Args{"--temp", "0", "-t", "1", "--kv-policy", "h2o", "--heavy", "5", "--window", "6", "--kv-block", "4"};

const SameOutputCase kSameCases[] = {
    {"text_same_as_one_process_n2", {kItIs + Args{"-n", "24", "--temp", "0"}, {}, {}, 2}, {kItIs + Args{"-n", "24", "--temp", "0"}}},
    {"seed_same_as_one_process_n3", {kSeed11, {}, {}, 3}, {kSeed11}},
    {"seed_top_k_off_same_as_one_process_n4", {kSeed5, {}, {}, 4}, {kSeed5}},
    {"prompt_per_line_n2", {kPerLine, {}, kChatTurnsFile, 2}, {kPerLine, {}, kChatTurnsFile}, {}, {}, 2},
    // The design card's command exactly as written (default model, sampling with its
    // generation_config), prompts from a pipe: every rank follows rank 0, end of input ends every rank.
    {"design_card_command_n4", {{"--attention", "streaming"}, {}, kChatTurnsFile, 4, 100}, {{"--attention", "streaming"}, {}, kChatTurnsFile}, {},
     {"^load: [^|]*qwen3-gutenberg-11m.*ranks 4 = "}, 0, GenerationExpect{.timing_lines = 2}},
    {"chat_interactive_n3", {kChat, {}, kChatTurnsFile, 3}, {kChat, {}, kChatTurnsFile}, {}, {}, 0, GenerationExpect{.timing_lines = 2}},
    // Sequence-parallel ranks evict the same tokens as one process.
    {"kv_policy_sink_window_same_as_one_process_n3", {kv_policy_args("sink-window"), {}, {}, 3}, {kv_policy_args("sink-window")}},
    {"kv_policy_l2_same_as_one_process_n3", {kv_policy_args("l2"), {}, {}, 3}, {kv_policy_args("l2")}},
    {"kv_policy_h2o_same_as_one_process_n3", {kv_policy_args("h2o"), {}, {}, 3}, {kv_policy_args("h2o")}},
    {"kv_policy_random_same_as_one_process_n3", {kv_policy_args("random"), {}, {}, 3}, {kv_policy_args("random")}},
    // tp 2 x sp 2: the attention mass of each token is summed over the two groups' KV heads.
    {"kv_policy_h2o_same_as_one_process_n4", {kH2o4, {}, {}, 4}, {kH2o4}},
};

class MpiCompared : public CliCaseTest<SameOutputCase> {};
TEST_P(MpiCompared, PrintsWhatOneProcessPrints) { check_same_output_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, MpiCompared, ::testing::ValuesIn(kSameCases), CaseName());

// Chat on 3 ranks keeps the same conversation in every rank's cache: each turn equals one process's
// --verify run over the whole conversation (as the single-process chat_turns_equal_whole_conversation).
const ReplayCase kReplayCases[] = {
    {"chat_turns_equal_whole_conversation_n3", ReplayCase::Kind::Chat,
     {{"-m", kDefaultModel, "--chat", "-i", "--temp", "0", "--repeat-penalty", "1", "-n", "6", "-t", "1", "--gemm", "native", "--json"}, {}, kReplayPromptsFile, 3},
     {"-m", kDefaultModel, "-t", "1", "--gemm", "native"}, 3},
};

class MpiReplay : public CliCaseTest<ReplayCase> {};
TEST_P(MpiReplay, EachObjectEqualsItsRunAlone) { check_replay_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, MpiReplay, ::testing::ValuesIn(kReplayCases), CaseName());

class CliMpi : public CliTest {};

// eval over 3 ranks: the scores are reduced, not gathered, so perplexity is one process's.
TEST_F(CliMpi, EvalEqualsOneProcess) {
  CaseDir dir;
  const Args eval = {"eval", "-m", kGqa4, "--text", kPromptFile, "-t", "1", "--kv-block", "4", "--json"};
  const RunResult ranks = run_qwen3(dir, {.args = eval, .ranks = 3});
  const RunResult one = run_qwen3(dir, {.args = eval});
  Findings f, of_one;
  check_exit(ranks, 0, f);
  check_exit(one, 0, of_one);
  const auto a = parse_json_line(ranks.out, f);
  const auto b = parse_json_line(one.out, of_one);
  if (a) check_eval_json(*a, f);
  if (b) check_eval_json(*b, of_one);
  f.add_all("one process: ", of_one);
  if (a && b && f.empty()) {
    if ((*a)["tokens"] != (*b)["tokens"] || (*a)["scored"] != (*b)["scored"]) f.add("tokens and scored differ from one process's");
    const double ppl = (*a)["ppl"].get<double>(), want = (*b)["ppl"].get<double>();
    if (!within_relative(ppl, want, 1e-6)) f.add("ppl " + std::to_string(ppl) + ", one process's " + std::to_string(want) + ": more than 1e-6 apart");
    if (!(std::fabs((*a)["accuracy"].get<double>() - (*b)["accuracy"].get<double>()) <= 1.5 / (*b)["scored"].get<double>()))
      f.add("accuracy " + (*a)["accuracy"].dump() + ", one process's " + (*b)["accuracy"].dump());
  }
  report(f, {&ranks, &one});
}

// --stats: the collectives of each decode token, on the line after the timing line.
TEST_F(CliMpi, StatsFollowTheTimingLine) {
  CaseDir dir;
  const RunResult r = run_qwen3(dir, {.args = kVerify8 + Args{"--stats"}, .ranks = 2});
  Findings f;
  check_generation(r, {.prompt_tokens = 74}, f);
  if (const auto ids = parse_id_list_line(r.out, f); ids && *ids != kGqa4GreedyIds) f.add("printed " + format_ids(*ids));
  const std::vector<std::string> lines = lines_of(r.err);
  const auto timing = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("timing: "); });
  const std::string stats_re =
      R"(^stats: 2 rank\(s\) \| prompt: [0-9.]+ ms in collectives \(rank 0\), [0-9.]+ ms \(max\), payload sent [0-9.]+ [KM]?i?B \(rank 0\) \| )"
      R"(per decode token over 7 tokens: [0-9]+ collectives, [0-9.]+ ms in them \(rank 0\), [0-9.]+ ms \(max\), payload sent [0-9.]+ [KM]?i?B \(rank 0\))";
  if (timing == lines.end() || timing + 1 == lines.end() || count_matching_lines(*(timing + 1), stats_re) != 1)
    f.add("the line after the timing line does not match '" + stats_re + "'");
  report(f, {&r});
}

// --- Bad layouts and bad input under mpiexec: exit status 1, nothing on stdout, one error line from
// rank 0 (mpiexec adds its own note that a rank exited non-zero) ------------------------------------
struct BadLayoutCase {
  std::string name;
  int ranks;
  Args args;
  std::string error;     // regex the one "qwen3_mpi: error: " line matches
  Env env = {};
  bool first_line = false;  // the error is the first line of stderr
};
void PrintTo(const BadLayoutCase& c, std::ostream* os) { *os << c.name; }

const BadLayoutCase kBadLayoutCases[] = {
    {"tp_not_dividing_kv_heads", 3, kVerify8 + Args{"--tp", "3"}, R"(^qwen3_mpi: error: --tp 3 does not divide the model's 2 KV heads)"},
    {"tp_times_sp_not_ranks", 4, kVerify8 + Args{"--tp", "2", "--sp", "1"}, R"(^qwen3_mpi: error: --tp 2 x --sp 1 = 2 ranks, but the job has 4$)"},
    {"missing_prompt_file", 2, {"-m", kGqa4, "-f", kTmp + "/no_such_prompt.txt", "-t", "1"}, R"(^qwen3_mpi: error: <TMP>/no_such_prompt\.txt: prompt file not found)"},
    {"prompt_too_long", 2, kVerify8 + Args{"-c", "16"}, R"(^qwen3_mpi: error: prompt of 74 tokens does not fit)"},
    // Two ranks on one host are counted together against the memory, and the line says so.
    {"memory_ranks_on_one_host_counted_together_n2", 2, {"-m", kGqa4, "-p", "It is", "-n", "2", "-t", "1"},
     R"(^qwen3_mpi: error: .*tiny-gqa4: the weights and working buffers need [0-9.]+ MiB for the 2 ranks on this host)",
     {{"QWEN3_MEMORY_AVAILABLE", "200000000"}}, true},
};

class MpiBadLayout : public CliCaseTest<BadLayoutCase> {};
TEST_P(MpiBadLayout, IsRefusedWithOneErrorLine) {
  const BadLayoutCase& c = GetParam();
  CaseDir dir;
  const RunResult r = run_qwen3(dir, {.args = c.args, .env = c.env, .ranks = c.ranks, .timeout_s = 30});
  Findings f;
  check_exit(r, 1, f);
  if (!r.out.empty()) f.add("stdout is not empty");
  const int errors = count_matching_lines(r.err, "qwen3_mpi: error");
  if (errors != 1) f.add(std::to_string(errors) + " error lines on stderr, expected one (from rank 0)");
  if (count_matching_lines(r.err, dir.resolve_regex(c.error)) != 1) f.add("no line of stderr matches '" + c.error + "'");
  if (c.first_line && count_matching_lines(lines_of(r.err).empty() ? "" : lines_of(r.err).front(), dir.resolve_regex(c.error)) != 1)
    f.add("the error is not the first line of stderr");
  report(f, {&r});
}
INSTANTIATE_TEST_SUITE_P(cli, MpiBadLayout, ::testing::ValuesIn(kBadLayoutCases), CaseName());

}  // namespace
}  // namespace qwen3::test::cli

namespace qwen3::test::cli {
namespace {

// batch over 3 ranks: rank 0 reads and writes, every rank takes the same steps; the results are one
// process's, id for id, also for lines with their own eviction policy (it travels in the step orders).
TEST(CliMpiBatch, AnswersAsOneProcess) {
  CaseDir dir;
  const auto in = dir.path() / "in.jsonl", one = dir.path() / "one.jsonl", three = dir.path() / "three.jsonl";
  auto lines = greedy_requests(10, 12);
  lines.push_back(R"({"id": "stream", "prompt": "It was the best of times", "max_tokens": 12, "temperature": 0, "kv_policy": {"name": "sink-window", "sink": 2, "window": 6}})");
  lines.push_back(R"({"id": "h2o", "prompt": "It was the worst of times", "max_tokens": 12, "temperature": 0, "kv_policy": {"name": "h2o", "window": 4, "heavy": 4}})");
  write_lines(in, lines);
  const Args common = {"batch", "-m", kGqa4, "--input", in.string(), "-t", "1", "--max-running", "4", "--token-budget", "16", "--kv-block", "4"};
  const RunResult ranks = run_qwen3(dir, {.args = common + Args{"--output", three.string()}, .ranks = 3});
  const RunResult alone = run_qwen3(dir, {.args = common + Args{"--output", one.string()}});
  Findings f;
  check_exit(ranks, 0, f);
  check_exit(alone, 0, f);
  const auto a = results_by_id(three, f), b = results_by_id(one, f);
  if (a.size() != 12 || b.size() != 12) f.add("not 12 results each");
  for (const auto& [id, j] : b)
    if (!a.count(id) || a.at(id)["token_ids"] != j["token_ids"]) f.add(id + ": other ids on 3 ranks");
  report(f, {&ranks, &alone});
}

// A mixed job: rank 0 sees the GPU, rank 1 none (CUDA_VISIBLE_DEVICES empty), each holding half the
// KV blocks (sp 2); their partial states merge as two CPU ranks' do, and the ids are transformers'.
TEST(CliMpiDevice, GpuRankAndCpuRankGiveTransformersIds) {
  const cuda::DeviceProbe probe = cuda::probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "requires cuda: " << probe.why_none;
  const Args args = verify_gqa4(8) + Args{"-t", "1", "--kv-block", "4", "--sp", "2"};
  Command c;
  c.argv = mpiexec_prefix() + Args{"-n", "1", "-x", "CUDA_VISIBLE_DEVICES=0", kQwen3Mpi} + args + Args{":", "-n", "1", "-x", "CUDA_VISIBLE_DEVICES=", kQwen3Mpi} +
           args;
  c.timeout = std::chrono::seconds(60);
  const RunResult r = run(c);
  ASSERT_TRUE(r.exited() && r.exit_code == 0) << r.describe();
  EXPECT_EQ(nlohmann::json::parse(r.out).get<Ids>(), kGqa4GreedyIds) << r.describe();
  EXPECT_NE(r.err.find("on cuda:0"), std::string::npos) << "rank 0's load line names its GPU: " << r.describe();
}

}  // namespace
}  // namespace qwen3::test::cli
