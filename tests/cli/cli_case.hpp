#pragma once
// The command-line cases' common ground: where qwen3_mpi and the fixtures are, the per-case
// directory with its input files, running qwen3_mpi (alone or under mpiexec), the instruction-set
// level a test runs at, and the kinds of case the tables in test_cli_*.cpp are made of.
#include <gtest/gtest.h>

#include <filesystem>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli_checks.hpp"
#include "cli_runner.hpp"
#include "model_copy.hpp"
#include "temp_dir.hpp"

namespace qwen3::test::cli {

// --- Where things are (compile definitions from tests/cli/CMakeLists.txt) -------------------------
inline const std::string kQwen3Mpi = QWEN3_MPI_EXECUTABLE;
inline const std::string kModels = QWEN3_TEST_DATA_DIR "/models";
inline const std::string kGqa4 = kModels + "/tiny-gqa4";
inline const std::string kGqa4Bf16 = kModels + "/tiny-gqa4-bf16";
inline const std::string kGqa4F16 = kModels + "/tiny-gqa4-f16";
inline const std::string kMhaTied = kModels + "/tiny-mha-tied";  // sharded, tied embeddings
inline const std::string kGqa4Fp8 = kModels + "/tiny-gqa4-fp8";  // Qwen's FP8 layout (scripts/make_fp8_fixtures.py)
inline const std::string kMoe = kModels + "/tiny-moe";           // qwen3_moe, 8 experts top 2 (scripts/make_moe_fixtures.py)
inline const std::string kMoeFp8 = kModels + "/tiny-moe-fp8";    // its FP8 copy (scripts/make_fp8_fixtures.py)
inline const std::string kCorpusExcerpt = kModels + "/corpus/pride-and-prejudice-1342-excerpt.txt";
inline const std::string kDefaultModel = QWEN3_DEFAULT_MODEL_DIR;
inline const std::string kEvalText = QWEN3_TEST_DATA_DIR "/eval/crime-and-punishment-excerpt.txt";
inline const std::string kEvalReference = QWEN3_TEST_DATA_DIR "/eval/qwen3-gutenberg-11m-reference.json";

// --- Paths inside the case's own directory ------------------------------------------------------
// "<TMP>" in an argument, a stdin file or an expected regex stands for the directory; these files are
// in it when the case runs.
inline const std::string kTmp = "<TMP>";
inline const std::string kPromptFile = "<TMP>/gqa4_prompt.txt";        // kGqa4PromptText
inline const std::string kEmptyFile = "<TMP>/empty.txt";
inline const std::string kOneTokenFile = "<TMP>/one_token.txt";        // "I": one token
inline const std::string kChatTurnsFile = "<TMP>/chat_turns.txt";      // "Hello\nWho are you?\n"
inline const std::string kReplayPromptsFile = "<TMP>/replay_prompts.txt";  // three lines for the default model
inline const std::string kLongPromptFile = "<TMP>/long_prompt_1mb.txt";    // 1 MB, no newline (~250k tokens)
inline const std::string kModelCopy = "<TMP>/model";                  // the case's ModelCopy

Args operator+(Args a, const Args& b);

// A fresh directory for one case, with the input files above and, when asked, a model copy.
class CaseDir {
 public:
  explicit CaseDir(const std::optional<ModelCopy>& model = std::nullopt);
  std::string resolve(const std::string& text);        // "<TMP>" -> the directory
  std::string resolve_regex(const std::string& re);    // "<TMP>" -> the directory, as a regex
  Args resolve(const Args& args);
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  TempDir dir_;
  bool long_prompt_written_ = false;
};

// --- Running qwen3_mpi ----------------------------------------------------------------------------
struct Qwen3Run {
  Args args;
  Env env = {};
  std::string stdin_file = {};  // empty: /dev/null
  int ranks = 0;                // 0: one process; n: under mpiexec -n n
  int timeout_s = 0;            // 0: 20 s for one process, 60 s under mpiexec
  std::vector<int> cpus = {};   // run on these CPUs only (sched_setaffinity before the spawn)
};

// Runs qwen3_mpi with OMP_WAIT_POLICY=passive and, at a capped instruction-set level
// (QWEN3_MAX_ISA in this process's or the run's environment), oneDNN capped by its own variables
// the way a user would (avx2 -> AVX2, scalar -> SSE41) unless the run sets them.
RunResult run_qwen3(CaseDir& dir, const Qwen3Run& run);
// mpiexec and its options for the tests (QWEN3_MPIEXEC_PREFIX), before "-n N program ...".
Args mpiexec_prefix();

// --- Instruction-set levels -----------------------------------------------------------------------
// Whether --kernel `isa` (scalar, avx2, avx512) can run here: the CPU has it and this test's level
// (QWEN3_MAX_ISA) allows it.
bool kernel_runs_here(const std::string& isa);

// Every case runs at the level ctest gives it (auto, isa_avx2, isa_scalar); at the avx2 level on a
// CPU without AVX2 it is skipped.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override;
};

template <class Case>
class CliCaseTest : public CliTest, public ::testing::WithParamInterface<Case> {};

// The test name of a case in a table.
struct CaseName {
  template <class Case>
  std::string operator()(const ::testing::TestParamInfo<Case>& info) const {
    return info.param.name;
  }
};

// The cases of several tables, in order, for one INSTANTIATE_TEST_SUITE_P.
template <class Case, std::size_t... N>
std::vector<Case> concat(const Case (&... tables)[N]) {
  std::vector<Case> all;
  (all.insert(all.end(), std::begin(tables), std::end(tables)), ...);
  return all;
}

// --- Kinds of case --------------------------------------------------------------------------------

// A run that prints ids as a list (--verify): exactly `ids`, and a generation that worked with one
// load line and one timing line counting the --verify ids as the prompt.
struct IdsCase {
  std::string name;
  Args args;
  Ids ids;
  std::vector<std::string> stderr_has = {};  // regexes, each matching a line of stderr
  Env env = {};
  int ranks = 0;
  std::vector<std::string> stderr_lacks = {};  // regexes no line of stderr matches
};
void check_ids_case(const IdsCase& c);

// Two runs (the first under mpiexec when ranks > 0) print the same non-empty stdout; when
// `ids_prefix` is given, stdout is an id list that starts with it.
struct SameOutputCase {
  std::string name;
  Qwen3Run first, second;
  Ids ids_prefix = {};
  std::vector<std::string> stderr_has = {};  // on the first run's stderr
  int stdout_lines = 0;                      // > 0: stdout has exactly this many lines
  std::optional<GenerationExpect> generation = std::nullopt;  // the first run is a generation that worked
};
void check_same_output_case(const SameOutputCase& c);

// One generate --json object that check_generate_json accepts with `expect`, from a generation that
// worked.
struct JsonCase {
  std::string name;
  Qwen3Run run;
  GenerateExpect expect;
  std::vector<std::string> stderr_has = {};
  std::vector<std::string> stderr_lacks = {};
};
void check_json_case(const JsonCase& c);

// Text generation: stdout is exactly `out`, from a generation that worked.
struct TextCase {
  std::string name;
  Qwen3Run run;
  std::string out;
  std::optional<std::int64_t> prompt_tokens = std::nullopt;
  int timing_lines = 1;
  std::vector<std::string> stderr_has = {};
};
void check_text_case(const TextCase& c);

// Prompts read from stdin with --json: one generate object per chat turn or stdin line, each run
// again on its own (one process) with `replay_args` plus
//   Chat:  --verify <every earlier object's prompt_ids and generated_ids, then its own prompt_ids>
//          --gen-len <its number of generated ids> --json: the same generated_ids (the KV cache kept
//          across turns holds exactly the conversation so far; use greedy decoding with
//          --repeat-penalty 1, as --verify does);
//   Lines: -p <the stdin line> --json: the same prompt_ids and generated_ids (each line starts from
//          an empty cache).
struct ReplayCase {
  enum class Kind { Chat, Lines };
  std::string name;
  Kind kind;
  Qwen3Run run;  // with stdin_file
  Args replay_args;
  std::size_t objects;  // JSON objects on stdout
};
void check_replay_case(const ReplayCase& c);

// Bad input refused with exit status 1 and one line, "qwen3_mpi: error: ..." matching `error`
// (which names the problem), within 10 seconds.
struct BadInputCase {
  std::string name;
  Args args;
  std::string error;
  std::optional<ModelCopy> model = std::nullopt;
  Env env = {};
};
void check_bad_input_case(const BadInputCase& c);

// gtest prints a case by its name.
void PrintTo(const IdsCase& c, std::ostream* os);
void PrintTo(const SameOutputCase& c, std::ostream* os);
void PrintTo(const JsonCase& c, std::ostream* os);
void PrintTo(const TextCase& c, std::ostream* os);
void PrintTo(const BadInputCase& c, std::ostream* os);
void PrintTo(const ReplayCase& c, std::ostream* os);

}  // namespace qwen3::test::cli
