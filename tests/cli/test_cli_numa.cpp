// NUMA domains inside a process (--numa, numa/): hwloc pretends the machine has 2 (or 4) domains of
// one CPU each, numbered as the host's CPUs 0-3, with real CPU binding (HWLOC_THISSYSTEM=1). Each
// domain is a member of the same layout as MPI ranks, so the ids and logprobs must be transformers'
// (within 1e-4), as with one team. These run one at a time (RUN_SERIAL): every domain binds a thread.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "cli_case.hpp"
#include "cli_fixtures.hpp"

namespace qwen3::test::cli {
namespace {

const Env kPretend2 = {{"HWLOC_SYNTHETIC", "package:2 numa:1 core:1 pu:1"}, {"HWLOC_THISSYSTEM", "1"}};
const Env kPretend4 = {{"HWLOC_SYNTHETIC", "package:4 numa:1 core:1 pu:1"}, {"HWLOC_THISSYSTEM", "1"}};
const Args kNumaVerify = verify_gqa4(8) + Args{"--json"};
const GenerateExpect kTransformers = {
    .generated_ids = kGqa4GreedyIds, .logprobs = kGqa4GreedyLogprobs, .top_ids = kGqa4GreedyTop5, .logprob_tol = 1e-4};

const JsonCase kJsonCases[] = {
    // Two domains split the 2 KV heads (tp 2); the load line names the domains and their teams.
    {"two_domains_match_transformers", {kNumaVerify, kPretend2}, kTransformers,
     {R"(\| threads 1 \| numa 2 domains: node 0 \(1 thread\), node 1 \(1 thread\) \| members 2 = tp 2 x sp 1 \(member 0's share\)$)"}},
    // One team (--numa off) on the same pretend machine, against the same reference.
    {"off_matches_transformers", {kNumaVerify + Args{"-t", "2", "--numa", "off"}, kPretend2}, kTransformers, {}, {"numa|members"}},
};

class Numa : public CliCaseTest<JsonCase> {};
TEST_P(Numa, MatchesTransformers) { check_json_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, Numa, ::testing::ValuesIn(kJsonCases), CaseName());

// Domains splitting the KV blocks (sp 2) merge partial softmax states in shared memory: the same ids
// as one team for both attention paths and a bf16 cache across many blocks; text in, text out with the
// default model (bf16, 6 layers).
// The nodes this process may allocate memory on (Mems_allowed_list in /proc/self/status, "0-1,3").
std::vector<int> memory_nodes_allowed() {
  std::ifstream status("/proc/self/status");
  std::vector<int> nodes;
  for (std::string line; std::getline(status, line);) {
    if (!line.starts_with("Mems_allowed_list:")) continue;
    std::istringstream ranges(line.substr(line.find(':') + 1));
    for (std::string range; std::getline(ranges, range, ',');) {
      const auto dash = range.find('-');
      const int first = std::stoi(range), last = dash == std::string::npos ? first : std::stoi(range.substr(dash + 1));
      for (int n = first; n <= last; ++n) nodes.push_back(n);
    }
  }
  return nodes;
}

// What --stats says of pretend node `node`'s bindings: one thread bound to its cores, and one memory
// binding and at least one large buffer bound to it. On a node the kernel has no memory for (node 1
// on a one-node host), those bindings fail, counted with their errno, and the line says why.
std::string bindings_re(int node) {
  const std::vector<int> real = memory_nodes_allowed();
  const std::string n = std::to_string(node);
  if (std::find(real.begin(), real.end(), node) != real.end())
    return "node " + n + ": 1 thread bindings to its cores, 1 to its memory, [1-9][0-9]* large buffers bound to it[^;]*";
  return "node " + n + R"(: 1 thread bindings to its cores, 0 to its memory \(1 failed: errno [0-9]+\), 0 large buffers bound to it \([1-9][0-9]* failed: errno [0-9]+\)[^;]*, and the kernel lets this process use no memory on node )" + n + "\\b[^;]*";
}

const Args kOneTeam = {"--numa", "off", "-t", "1"};
const Args kBf16Sp2 = verify_gqa4(40, kGqa4Bf16) + Args{"--kv-block", "4", "--kv-type", "bf16"};
const Args kStandard40 = verify_gqa4(40) + Args{"--attention", "standard"};
const Args kStormy = {"-p", "It was a dark and stormy night", "-n", "24", "--temp", "0"};
const SameOutputCase kSameCases[] = {
    {"sp_domains_equal_one_team", {kBf16Sp2 + Args{"--sp", "2"}, kPretend2}, {kBf16Sp2 + kOneTeam, kPretend2}, kGqa4GreedyIds,
     {"members 2 = tp 1 x sp 2"}},
    {"standard_attention_equals_one_team", {kStandard40, kPretend2}, {kStandard40 + kOneTeam, kPretend2}, kGqa4GreedyIds},
    {"text_equals_one_team", {kStormy, kPretend2}, {kStormy + Args{"--numa", "off", "-t", "2"}, kPretend2}},
    // The binding evidence (--stats): each domain's team (one thread, its leader) bound once to its
    // cores and node, and its weight slice (a large buffer) bound to its node; the text is one team's.
    {"stats_count_the_bindings", {{"-p", "It was", "-n", "4", "--stats"}, kPretend2}, {{"-p", "It was", "-n", "4", "--numa", "off", "-t", "2"}, kPretend2},
     {}, {"^numa: " + bindings_re(0) + "; " + bindings_re(1) + "$"}, 0, GenerationExpect{.prompt_tokens = 2}},
};

class NumaCompared : public CliCaseTest<SameOutputCase> {};
TEST_P(NumaCompared, PrintsWhatOneTeamPrints) { check_same_output_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, NumaCompared, ::testing::ValuesIn(kSameCases), CaseName());

class CliNumaEval : public CliTest {};

// eval over two domains: the table names them, and its perplexity and accuracy are one team's
// (--json, compared within the table's printed precision).
TEST_F(CliNumaEval, TableEqualsOneTeam) {
  CaseDir dir;
  const Args eval = {"eval", "-m", kGqa4, "--text", kPromptFile, "--kv-block", "4"};
  const RunResult domains = run_qwen3(dir, {.args = eval, .env = kPretend2});
  const RunResult team = run_qwen3(dir, {.args = eval + Args{"--numa", "off", "-t", "2", "--json"}, .env = kPretend2});
  Findings f;
  check_exit(domains, 0, f);
  check_exit(team, 0, f);
  if (count_matching_lines(domains.out, R"(^eval: .*\| numa 2 domains: node 0 \(1 thread\), node 1 \(1 thread\)$)") != 1)
    f.add("the table's first line does not name the two domains");
  const auto row = parse_eval_table(domains.out, f);
  const auto j = parse_json_line(team.out, f);
  if (row && j) {
    check_eval_json(*j, f);
    if (f.empty()) {
      const double ppl = (*j)["ppl"].get<double>(), accuracy = (*j)["accuracy"].get<double>();
      if (row->tokens != (*j)["tokens"]) f.add("the table has " + std::to_string(row->tokens) + " tokens, one team " + (*j)["tokens"].dump());
      if (!(std::fabs(row->ppl - ppl) <= 5e-4 + 1e-6 * ppl)) f.add("ppl " + std::to_string(row->ppl) + ", one team's " + std::to_string(ppl));
      if (!(std::fabs(row->accuracy - accuracy) <= 5e-5)) f.add("accuracy " + std::to_string(row->accuracy) + ", one team's " + std::to_string(accuracy));
    }
  }
  report(f, {&domains, &team});
}

// The CPUs 0-3 this process may use, the pretend machine's four nodes.
std::vector<int> usable_pretend_cpus() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  sched_getaffinity(0, sizeof allowed, &allowed);
  std::vector<int> cpus;
  for (int cpu = 0; cpu < 4; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
  return cpus;
}

// Four pretend domains, the child pinned to two of their CPUs: the two domains without a usable core
// are left out and the two others split the model. A note names each left-out node first, unless the
// process is bound to part of the machine (as pinned on a host with more than 2 CPUs: a launcher's
// binding, whose other domains are simply not ours). (Notes of memory bindings a pretend node
// cannot take may follow.)
class CliNumaFourDomains : public CliTest {};
TEST_F(CliNumaFourDomains, TwoUsableCpusRunTwoTeams) {
  const std::vector<int> cpus = usable_pretend_cpus();
  ASSERT_GE(cpus.size(), 2u) << "this process may use fewer than 2 of CPUs 0-3, the pretend machine's";
  const std::vector<int> pinned = {cpus[0], cpus[1]};
  const bool bound_to_part = sysconf(_SC_NPROCESSORS_ONLN) > 2;
  std::string notes;
  for (int node = 0; node < 4; ++node)
    if (node != pinned[0] && node != pinned[1] && !bound_to_part)
      notes += "note: --numa: NUMA node " + std::to_string(node) + " has no cores this process may use; no team runs there\n";
  const std::string domains = "numa 2 domains: node " + std::to_string(pinned[0]) + " (1 thread), node " + std::to_string(pinned[1]) + " (1 thread)";

  CaseDir dir;
  const RunResult r = run_qwen3(dir, {.args = kNumaVerify, .env = kPretend4, .cpus = pinned});
  Findings f;
  check_generation(r, {.prompt_tokens = 74}, f);
  if (const auto j = parse_json_line(r.out, f)) check_generate_json(*j, kTransformers, f);
  const std::string left_out = "has no cores this process may use";
  if (!r.err.starts_with(notes) || count_matching_lines(r.err, left_out) != count_matching_lines(notes, left_out))
    f.add("stderr does not start with " + escaped(notes) + ", the notes of the left-out nodes alone");
  if (r.err.find(" | " + domains + " | members 2 = tp 2 x sp 1") == std::string::npos) f.add("the load line does not say '" + domains + "'");
  report(f, {&r});
}

}  // namespace
}  // namespace qwen3::test::cli
