#include "cli_case.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <regex>

#include "cli_fixtures.hpp"

namespace qwen3::test::cli {
namespace fs = std::filesystem;

namespace {

void write_file_at(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
  return text;
}

std::string regex_escape(const std::string& text) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(text, special, R"(\$&)");
}

std::string env_value(const Env& env, const std::string& name) {
  for (auto it = env.rbegin(); it != env.rend(); ++it)
    if (it->first == name) return it->second;
  const char* v = std::getenv(name.c_str());
  return v ? v : "";
}

Env child_env(const Env& run_env) {
  Env env;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) env.emplace_back("OMP_WAIT_POLICY", "passive");
  const std::string level = env_value(run_env, "QWEN3_MAX_ISA");
  const std::string onednn = level == "avx2" ? "AVX2" : level == "scalar" ? "SSE41" : "";
  if (!onednn.empty() && env_value(run_env, "ONEDNN_MAX_CPU_ISA").empty() && env_value(run_env, "DNNL_MAX_CPU_ISA").empty()) {
    env.emplace_back("ONEDNN_MAX_CPU_ISA", onednn);
    env.emplace_back("DNNL_MAX_CPU_ISA", onednn);
  }
  env.insert(env.end(), run_env.begin(), run_env.end());
  return env;
}

std::string test_level() {
  const char* v = std::getenv("QWEN3_MAX_ISA");
  return v ? v : "";
}

bool cpu_has(const std::string& isa) {
  if (isa == "scalar") return true;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  const bool f16c = __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
  // __builtin_cpu_supports counts AVX and AVX-512 only where the OS saves their registers.
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  if (isa == "avx2") return avx2;
  if (isa == "avx512")
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#endif
  return false;
}

int isa_rank(const std::string& isa) { return isa == "scalar" ? 0 : isa == "avx2" ? 1 : 2; }

// The number of --verify ids in `args`, when it has --verify.
std::optional<std::int64_t> verify_id_count(const Args& args) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--verify") return static_cast<std::int64_t>(std::count(args[i + 1].begin(), args[i + 1].end(), ',')) + 1;
  return std::nullopt;
}

std::vector<std::string> resolve_regexes(CaseDir& dir, const std::vector<std::string>& regexes) {
  std::vector<std::string> out;
  for (const std::string& re : regexes) out.push_back(dir.resolve_regex(re));
  return out;
}

}  // namespace

// QWEN3_MPIEXEC_PREFIX holds the launcher and its options joined by '|' (cmake/Qwen3Testing.cmake).
Args mpiexec_prefix() {
  Args out;
  std::string all = QWEN3_MPIEXEC_PREFIX;
  for (std::size_t start = 0; start <= all.size();) {
    const auto bar = all.find('|', start);
    out.push_back(all.substr(start, bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return out;
}

Args operator+(Args a, const Args& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string id_arg(const Ids& ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(ids[i]);
  }
  return s;
}

Args verify_gqa4(int gen_len, const std::string& model) {
  return {"-m", model, "--verify", id_arg(kGqa4PromptIds), "--gen-len", std::to_string(gen_len)};
}

Args verify_mha(int gen_len) { return {"-m", kMhaTied, "--verify", id_arg(kMhaPromptIds), "--gen-len", std::to_string(gen_len)}; }

CaseDir::CaseDir(const std::optional<ModelCopy>& model) {
  write_file_at(resolve(kPromptFile), kGqa4PromptText);
  write_file_at(resolve(kEmptyFile), "");
  write_file_at(resolve(kOneTokenFile), "I");
  write_file_at(resolve(kChatTurnsFile), "Hello\nWho are you?\n");
  write_file_at(resolve(kReplayPromptsFile), "It is a truth universally acknowledged\nMy dear Mr. Bennet\nWhat do you mean?\n");
  if (model) make_model_copy(*model, resolve(kModelCopy));
}

std::string CaseDir::resolve(const std::string& text) {
  std::string out = replace_all(text, kTmp, dir_.path().string());
  if (!long_prompt_written_ && text.find("long_prompt_1mb.txt") != std::string::npos) {
    std::string long_text;
    for (int i = 0; i < 10700; ++i) long_text += "It is a truth universally acknowledged, that a single man in possession of a good fortune. ";
    write_file_at(replace_all(kLongPromptFile, kTmp, dir_.path().string()), long_text);
    long_prompt_written_ = true;
  }
  return out;
}

std::string CaseDir::resolve_regex(const std::string& re) { return replace_all(re, kTmp, regex_escape(dir_.path().string())); }

Args CaseDir::resolve(const Args& args) {
  Args out;
  for (const std::string& a : args) out.push_back(resolve(a));
  return out;
}

RunResult run_qwen3(CaseDir& dir, const Qwen3Run& run) {
  Command c;
  if (run.ranks > 0) c.argv = mpiexec_prefix() + Args{"-n", std::to_string(run.ranks)};
  c.argv.push_back(kQwen3Mpi);
  c.argv = c.argv + dir.resolve(run.args);
  c.env = child_env(run.env);
  if (!run.stdin_file.empty()) c.stdin_file = dir.resolve(run.stdin_file);
  c.timeout = std::chrono::seconds(run.timeout_s > 0 ? run.timeout_s : run.ranks > 0 ? 60 : 20);
  c.cpus = run.cpus;
  return cli::run(c);
}

bool kernel_runs_here(const std::string& isa) {
  const std::string level = test_level();
  return cpu_has(isa) && (level.empty() || isa_rank(isa) <= isa_rank(level));
}

void CliTest::SetUp() {
  if (test_level() == "avx2" && !cpu_has("avx2"))
    GTEST_SKIP() << "requires avx2: this test runs at QWEN3_MAX_ISA=avx2, and this CPU has no AVX2";
}

void check_ids_case(const IdsCase& c) {
  CaseDir dir;
  const RunResult r = run_qwen3(dir, {.args = c.args, .env = c.env, .ranks = c.ranks});
  Findings f;
  check_generation(r, {.prompt_tokens = verify_id_count(c.args)}, f);
  if (const auto ids = parse_id_list_line(r.out, f); ids && *ids != c.ids) f.add("printed " + format_ids(*ids) + ", expected " + format_ids(c.ids));
  check_stderr_has(r, resolve_regexes(dir, c.stderr_has), f);
  for (const std::string& re : c.stderr_lacks) check_stderr_lacks(r, re, f);
  report(f, {&r});
}

void check_same_output_case(const SameOutputCase& c) {
  CaseDir dir;
  const RunResult a = run_qwen3(dir, c.first);
  const RunResult b = run_qwen3(dir, c.second);
  Findings f, second;
  check_exit(a, 0, f);
  check_exit(b, 0, second);
  f.add_all("second run: ", second);
  if (a.out != b.out) f.add("the two runs printed different stdout");
  if (a.out.empty()) f.add("the runs printed nothing on stdout");
  if (c.stdout_lines > 0 && static_cast<int>(lines_of(a.out).size()) != c.stdout_lines)
    f.add("stdout has " + std::to_string(lines_of(a.out).size()) + " lines, expected " + std::to_string(c.stdout_lines));
  if (!c.ids_prefix.empty()) {
    const auto ids = parse_id_list_line(a.out, f);
    if (ids && (ids->size() < c.ids_prefix.size() || !std::equal(c.ids_prefix.begin(), c.ids_prefix.end(), ids->begin())))
      f.add("printed " + format_ids(*ids) + ", which does not start with " + format_ids(c.ids_prefix));
  }
  check_stderr_has(a, resolve_regexes(dir, c.stderr_has), f);
  if (c.generation) check_generation(a, *c.generation, f);
  report(f, {&a, &b});
}

void check_json_case(const JsonCase& c) {
  CaseDir dir;
  const RunResult r = run_qwen3(dir, c.run);
  Findings f;
  const auto j = parse_json_line(r.out, f);
  std::optional<std::int64_t> prompt_tokens;
  if (j && j->contains("prompt_ids") && (*j)["prompt_ids"].is_array()) prompt_tokens = static_cast<std::int64_t>((*j)["prompt_ids"].size());
  check_generation(r, {.prompt_tokens = prompt_tokens}, f);
  if (j) check_generate_json(*j, c.expect, f);
  check_stderr_has(r, resolve_regexes(dir, c.stderr_has), f);
  for (const std::string& re : c.stderr_lacks) check_stderr_lacks(r, re, f);
  report(f, {&r});
}

void check_text_case(const TextCase& c) {
  CaseDir dir;
  const RunResult r = run_qwen3(dir, c.run);
  Findings f;
  check_generation(r, {.prompt_tokens = c.prompt_tokens, .timing_lines = c.timing_lines}, f);
  if (r.out != c.out) f.add("stdout is " + escaped(r.out) + ", expected " + escaped(c.out));
  check_stderr_has(r, resolve_regexes(dir, c.stderr_has), f);
  report(f, {&r});
}

void check_replay_case(const ReplayCase& c) {
  CaseDir dir;
  const RunResult r = run_qwen3(dir, c.run);
  Findings f;
  check_exit(r, 0, f);
  const std::vector<nlohmann::json> objects = parse_json_lines(r.out, f);
  if (objects.size() != c.objects) f.add("stdout has " + std::to_string(objects.size()) + " JSON objects, expected " + std::to_string(c.objects));
  std::vector<std::string> input_lines;
  for (const std::string& line : lines_of(read_text(dir.resolve(c.run.stdin_file))))
    if (!line.empty()) input_lines.push_back(line);
  std::vector<RunResult> replays;
  Ids conversation;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const std::string where = "object " + std::to_string(i) + ": ";
    Findings about;
    const auto prompt = json_ids(objects[i], "prompt_ids", about);
    const auto generated = json_ids(objects[i], "generated_ids", about);
    f.add_all(where, about);
    if (!prompt || !generated) break;
    if (generated->empty()) f.add(where + "no generated ids, nothing to compare");
    Args args = c.replay_args;
    if (c.kind == ReplayCase::Kind::Chat) {
      conversation.insert(conversation.end(), prompt->begin(), prompt->end());
      args = args + Args{"--verify", id_arg(conversation), "--gen-len", std::to_string(generated->size()), "--json"};
    } else if (i < input_lines.size()) {
      args = args + Args{"-p", input_lines[i], "--json"};
    } else {
      f.add(where + "more JSON objects than the " + std::to_string(input_lines.size()) + " non-empty lines of stdin");
      break;
    }
    replays.push_back(run_qwen3(dir, {.args = args}));
    Findings replay;
    check_exit(replays.back(), 0, replay);
    if (const auto j = parse_json_line(replays.back().out, replay)) {
      if (c.kind == ReplayCase::Kind::Lines && json_ids(*j, "prompt_ids", replay) != prompt)
        replay.add("prompt_ids differ from " + format_ids(*prompt));
      if (const auto again = json_ids(*j, "generated_ids", replay); again && again != generated)
        replay.add("generated_ids are " + format_ids(*again) + ", but the object has " + format_ids(*generated));
    }
    f.add_all(where + "run alone (run " + std::to_string(replays.size() + 1) + " below): ", replay);
    if (c.kind == ReplayCase::Kind::Chat) conversation.insert(conversation.end(), generated->begin(), generated->end());
  }
  std::vector<const RunResult*> runs{&r};
  for (const RunResult& x : replays) runs.push_back(&x);
  report(f, runs);
}

void check_bad_input_case(const BadInputCase& c) {
  CaseDir dir(c.model);
  const RunResult r = run_qwen3(dir, {.args = c.args, .env = c.env, .timeout_s = 10});
  Findings f;
  check_one_error_line(r, dir.resolve_regex(c.error), f);
  report(f, {&r});
}

void PrintTo(const IdsCase& c, std::ostream* os) { *os << c.name; }
void PrintTo(const SameOutputCase& c, std::ostream* os) { *os << c.name; }
void PrintTo(const JsonCase& c, std::ostream* os) { *os << c.name; }
void PrintTo(const TextCase& c, std::ostream* os) { *os << c.name; }
void PrintTo(const BadInputCase& c, std::ostream* os) { *os << c.name; }
void PrintTo(const ReplayCase& c, std::ostream* os) { *os << c.name; }

}  // namespace qwen3::test::cli
