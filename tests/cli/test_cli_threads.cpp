// Thread counts: -t, OMP_NUM_THREADS, fewer threads than asked for, more than cores; the ids never
// change. These run one at a time (RUN_SERIAL): several OpenMP threads next to other tests on a small
// machine can spin for seconds.
#include "cli_case.hpp"
#include "cli_fixtures.hpp"

namespace qwen3::test::cli {
namespace {

const IdsCase kThreadCases[] = {
    {"reference_gqa4_default_threads", verify_gqa4(8), kGqa4GreedyIds},
    // Fewer OpenMP threads than -t asks for: the run says so once and still gives the reference ids.
    // The bf16 prompt of 74 tokens takes the oneDNN prefill path, which (told 2 threads, given 1)
    // skipped part of its products before the thread count was set to what a team really gets.
    {"runtime_grants_fewer", verify_gqa4(8, kGqa4Bf16) + Args{"-t", "2"}, kGqa4GreedyIds,
     {"^note: 2 threads asked for, the OpenMP runtime gives 1", R"(\| threads 1$)"}, {{"OMP_THREAD_LIMIT", "1"}}, 0, {"oneDNN unusable"}},
    // Without -t, OMP_NUM_THREADS holds (batch scripts set it from SLURM_CPUS_PER_TASK); -t overrides it.
    {"omp_num_threads_without_t", verify_gqa4(8), kGqa4GreedyIds, {R"(\| threads 3$)"}, {{"OMP_NUM_THREADS", "3"}}},
    {"t_overrides_omp_num_threads", verify_gqa4(8) + Args{"-t", "1"}, kGqa4GreedyIds, {R"(\| threads 1$)"}, {{"OMP_NUM_THREADS", "3"}}},
    // More threads than cores works (threads share cores) and gives the same ids.
    {"more_than_cores", verify_gqa4(8, kGqa4Bf16) + Args{"-t", "48"}, kGqa4GreedyIds, {R"(\| threads 48$)"}},
};

class Threads : public CliCaseTest<IdsCase> {};
TEST_P(Threads, PrintTheReferenceIds) { check_ids_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, Threads, ::testing::ValuesIn(kThreadCases), CaseName());

const Args kSeed11 = {"-m", kGqa4, "-p", "It is", "-n", "32", "--seed", "11"};
const SameOutputCase kSameCases[] = {
    {"threads1_equals_threads2", {verify_gqa4(64) + Args{"-t", "1"}}, {verify_gqa4(64) + Args{"-t", "2"}}, kGqa4GreedyIds},
    // Sampling with a seed draws the same tokens whatever the thread count.
    {"seed_reproducible", {kSeed11 + Args{"-t", "1"}}, {kSeed11 + Args{"-t", "2"}}},
};

class ThreadsCompared : public CliCaseTest<SameOutputCase> {};
TEST_P(ThreadsCompared, PrintWhatTheOtherRunPrints) { check_same_output_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, ThreadsCompared, ::testing::ValuesIn(kSameCases), CaseName());

}  // namespace
}  // namespace qwen3::test::cli
