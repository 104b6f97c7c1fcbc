// --verify: exactly the given ids in, exactly --gen-len greedy ids out, printed as a list on stdout;
// the same ids whatever the attention path, kernel or KV block size.
#include "cli_case.hpp"
#include "cli_fixtures.hpp"

namespace qwen3::test::cli {
namespace {

const Args kOneThread = {"-t", "1"};

const IdsCase kVerifyCases[] = {
    {"reference_gqa4", verify_gqa4(8) + kOneThread, kGqa4GreedyIds},
    // bf16 and f16 weights: the fixtures' greedy ids are tiny-gqa4's.
    {"reference_gqa4_bf16", verify_gqa4(8, kGqa4Bf16) + kOneThread, kGqa4GreedyIds},
    {"reference_gqa4_f16", verify_gqa4(8, kGqa4F16) + kOneThread, kGqa4GreedyIds},
    {"reference_mha_tied_sharded", verify_mha(8) + kOneThread, kMhaGreedyIds},
    // Greedy from id 3 gives <|endoftext|> (379) three times; --verify does not stop there.
    {"past_end_of_text", {"-m", kGqa4, "--verify", "3", "--gen-len", "5", "-t", "1"}, {379, 379, 379, 336, 189}},
    {"gen_len_zero", {"-m", kGqa4, "--verify", "40,83", "--gen-len", "0", "-t", "1"}, {}},
    // The last valid id (vocab_size - 1 = 399, a padding row) is accepted. (Ids recorded from one
    // process: qwen3_mpi -m tiny-gqa4 --verify 40,399 --gen-len 2 -t 1.)
    {"last_vocab_id", {"-m", kGqa4, "--verify", "40,399", "--gen-len", "2", "-t", "1"}, {217, 78}},
    // The prompt plus --gen-len exactly fill -c, and give the ids of a run with the default context
    // (recorded: qwen3_mpi -m tiny-gqa4 --verify 40,83 --gen-len 8 -t 1).
    {"fills_context", {"-m", kGqa4, "--verify", "40,83", "--gen-len", "8", "-c", "10", "-t", "1"}, {326, 64, 319, 218, 218, 218, 218, 218}},
};

class Verify : public CliCaseTest<IdsCase> {};
TEST_P(Verify, PrintsTheExpectedIds) { check_ids_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, Verify, ::testing::ValuesIn(kVerifyCases), CaseName());

// 64 new tokens after the 74-token prompt cross the 64- and 128-token KV block boundaries; the first 8
// are the reference's.
const Args kVerify64 = verify_gqa4(64) + kOneThread;
const Args kVerify64Bf16 = verify_gqa4(64, kGqa4Bf16) + kOneThread;
const Args kVerify64Mha = verify_mha(64) + kOneThread;

const SameOutputCase kSameIdsCases[] = {
    {"streaming_equals_standard", {kVerify64 + Args{"--attention", "streaming"}}, {kVerify64 + Args{"--attention", "standard"}}, kGqa4GreedyIds},
    {"streaming_equals_standard_bf16", {kVerify64Bf16 + Args{"--attention", "streaming"}}, {kVerify64Bf16 + Args{"--attention", "standard"}},
     kGqa4GreedyIds},
    {"streaming_equals_standard_mha_tied", {kVerify64Mha + Args{"--attention", "streaming"}}, {kVerify64Mha + Args{"--attention", "standard"}},
     kMhaGreedyIds},
    {"scalar_equals_auto", {kVerify64 + Args{"--kernel", "scalar"}}, {kVerify64 + Args{"--kernel", "auto"}}, kGqa4GreedyIds},
    {"kv_block16_equals_kv_block64", {kVerify64 + Args{"--kv-block", "16"}}, {kVerify64 + Args{"--kv-block", "64"}}, kGqa4GreedyIds},
};

class VerifyCompared : public CliCaseTest<SameOutputCase> {};
TEST_P(VerifyCompared, PrintsWhatTheOtherRunPrints) { check_same_output_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, VerifyCompared, ::testing::ValuesIn(kSameIdsCases), CaseName());

// The vector kernels against the scalar ones, with both attention paths. A kernel the CPU (or this
// test's QWEN3_MAX_ISA level) lacks cannot be compared: the case is skipped, naming it.
struct KernelCase {
  std::string name;
  std::string isa;
  Args attention;
};
void PrintTo(const KernelCase& c, std::ostream* os) { *os << c.name; }

const KernelCase kKernelCases[] = {
    {"avx2", "avx2", {}},
    {"avx2_standard_attention", "avx2", {"--attention", "standard"}},
    {"avx512", "avx512", {}},
    {"avx512_standard_attention", "avx512", {"--attention", "standard"}},
};

class VerifyKernels : public CliCaseTest<KernelCase> {};
TEST_P(VerifyKernels, PrintWhatTheScalarKernelsPrint) {
  const KernelCase& c = GetParam();
  if (!kernel_runs_here(c.isa)) GTEST_SKIP() << "requires " << c.isa << ": --kernel " << c.isa << " cannot run on this CPU at this QWEN3_MAX_ISA level";
  check_same_output_case({c.name, {kVerify64 + c.attention + Args{"--kernel", "scalar"}}, {kVerify64 + c.attention + Args{"--kernel", c.isa}},
                          kGqa4GreedyIds});
}
INSTANTIATE_TEST_SUITE_P(cli, VerifyKernels, ::testing::ValuesIn(kKernelCases), CaseName());

}  // namespace
}  // namespace qwen3::test::cli
