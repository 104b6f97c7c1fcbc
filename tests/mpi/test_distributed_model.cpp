// The model split over the ranks of this job, in every tp x sp layout the job size allows, against
// transformers' outputs (tests/data/models/*/reference.safetensors) and against one process.
// Control flow is the same on every rank (all collectives are reached by all); only rank 0 checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>

#include "engine/evaluate.hpp"
#include "engine/loaded_model.hpp"
#include "engine/sampler.hpp"
#include "kernels/dispatch.hpp"
#include "mpi_test_world.hpp"
#include "qwen3/partition.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

const kernels::KernelTable& host_kernels() {
  return kernels::select_kernels(kernels::KernelChoice::Auto, kernels::detect_cpu_features());
}

// Every tp that divides both the KV heads and the job size.
std::vector<int> tp_choices(const Qwen3Config& cfg, int n) {
  std::vector<int> out;
  for (int tp = 1; tp <= n; ++tp)
    if (n % tp == 0 && cfg.num_key_value_heads % tp == 0) out.push_back(tp);
  return out;
}

// Rows [n][vocab slice] of every rank, reassembled on rank 0 as [n][vocab].
std::vector<float> full_logits(Communicator& world, const std::vector<float>& local, std::int64_t n, std::int64_t vocab) {
  const std::vector<float> all = world.gather(local, 0);
  if (world.rank() != 0) return {};
  std::vector<float> out(static_cast<std::size_t>(n * vocab));
  std::size_t at = 0;
  for (int r = 0; r < world.size(); ++r) {
    const Range v = split_even(vocab, r, world.size());
    for (std::int64_t t = 0; t < n; ++t)
      for (std::int64_t c = v.begin; c < v.end; ++c) out[static_cast<std::size_t>(t * vocab + c)] = all[at++];
  }
  return out;
}

// Prefill logits and 8 greedy steps of one split model against transformers' (rank 0 checks, every
// rank samples); returns the largest |logit - transformers|.
float check_against_transformers(Communicator& world, LoadedModel& lm, const std::filesystem::path& dir, std::int64_t kv_block,
                                 const std::string& where) {
  const SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
  const auto prompt = test::read_tensor<std::int32_t>(ref, "prompt_ids");
  const auto prefill_logits = test::read_tensor<float>(ref, "prefill_logits");
  const auto greedy_ids = test::read_tensor<std::int32_t>(ref, "greedy_ids");
  const auto greedy_logits = test::read_tensor<float>(ref, "greedy_logits");
  const auto T = static_cast<std::int64_t>(prompt.size());
  const std::int64_t V = lm.config.vocab_size;
  float worst = 0;
  KvCache cache = lm.model->new_cache(KvType::F32, kv_block, 512);
  std::vector<std::int32_t> positions(static_cast<std::size_t>(T));
  std::iota(positions.begin(), positions.end(), 0);
  const std::int64_t width = lm.model->vocab_range().size();
  std::vector<float> logits(static_cast<std::size_t>(T * width));
  lm.model->forward(prompt, positions, cache, T, logits.data());
  const auto full = full_logits(world, logits, T, V);
  if (world.rank() == 0) {
    const float diff = test::max_abs_diff(full.data(), prefill_logits.data(), full.size());
    EXPECT_LE(diff, 1e-4f) << where;
    worst = std::max(worst, diff);
  }
  Sampler greedy(SamplerOptions{});
  std::vector<float> step(logits.end() - width, logits.end());
  for (std::size_t s = 0; s < greedy_ids.size(); ++s) {
    const auto row = full_logits(world, step, 1, V);
    if (world.rank() == 0) {
      const float diff = test::max_abs_diff(row.data(), greedy_logits.data() + s * static_cast<std::size_t>(V), row.size());
      EXPECT_LE(diff, 1e-4f) << where << " step " << s;
      worst = std::max(worst, diff);
    }
    const std::int32_t id = greedy.sample(LogitsSlice{step, lm.model->vocab_range().begin}, {}, world);
    EXPECT_EQ(id, greedy_ids[s]) << where << " step " << s;  // the same on every rank
    const std::int32_t pos[1] = {static_cast<std::int32_t>(T + static_cast<std::int64_t>(s))};
    const std::int32_t tok[1] = {greedy_ids[s]};
    lm.model->forward(tok, pos, cache, 1, step.data());
  }
  return worst;
}

// Property: with the model split over this job's ranks (any layout, both attention paths, KV blocks
// of 64 tokens -- fewer blocks than ranks -- and of 4 -- several per rank), the prefill logits and 8
// greedy decode steps match transformers within 1e-4, and greedy picks transformers' ids. tiny-gqa4-yarn
// (YaRN, factor 4 over an original context of 128) runs its 400-token prompt to 3x past that context.
TEST(DistributedModel, MatchesTransformersInEveryLayout) {
  Communicator& world = test::world();
  int checked = 0;
  float worst = 0;  // the largest |logit - transformers| over every layout and step, printed for the record
  for (const std::string model : {"tiny-gqa4", "tiny-mha-tied", "tiny-gqa4-yarn"}) {
    const auto dir = test::model_dir(model);
    const Qwen3Config cfg = Qwen3Config::from_file(dir / "config.json");
    for (int tp : tp_choices(cfg, world.size())) {
      for (AttentionKind attention : {AttentionKind::Standard, AttentionKind::Streaming}) {
        for (std::int64_t block : {64, 4}) {
          const std::string where = model + " tp " + std::to_string(tp) + " x sp " + std::to_string(world.size() / tp) + " " +
                                    std::string(attention_kind_name(attention)) + " kv-block " + std::to_string(block);
          const RankGroups groups = join_ranks(world, cfg, {tp, 0});
          LoadedModel lm = load_model(dir, host_kernels(), attention, WeightPlacement::Map, &groups);
          worst = std::max(worst, check_against_transformers(world, lm, dir, block, where));
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
  if (world.rank() == 0)
    std::printf("%d rank(s), %d layout cases: max |logits - transformers| = %.3g (tolerance 1e-4)\n", world.size(), checked,
                static_cast<double>(worst));
}

// Property: a mixture-of-experts model matches transformers whichever way its experts are spread
// (whole experts per rank, every expert's rows over all ranks, and groups in between), and its
// expert weights are held once over the job: the ranks' matrix bytes add up to one process's, less
// the embedding table and the router every rank holds.
TEST(DistributedMoe, MatchesTransformersWithEveryExpertSplit) {
  Communicator& world = test::world();
  const auto dir = test::model_dir("tiny-moe");
  const Qwen3Config cfg = Qwen3Config::from_file(dir / "config.json");
  const LoadedModel whole = load_model(dir, host_kernels(), AttentionKind::Streaming, WeightPlacement::Copy);
  double shared = 0;  // what every rank holds (router) or none copies (embedding, left in the mapping)
  const auto bytes = [](const kernels::MatrixView& m) { return static_cast<double>(m.rows * m.cols * static_cast<std::int64_t>(dtype_size(m.dtype))); };
  for (const LayerWeights& l : whole.model->weights().layers)
    if (l.sparse()) shared += bytes(l.router);
  std::vector<int> splits = {1, world.size()};
  if (world.size() >= 4) splits.push_back(2);  // groups of 2+ ranks, each holding its experts' rows
  float worst = 0;
  for (int expert_groups : splits) {
    RankGroups groups = join_ranks(world, cfg, {});
    groups.layout.expert_groups = expert_groups;
    LoadedModel lm = load_model(dir, host_kernels(), AttentionKind::Streaming, WeightPlacement::Copy, &groups);
    const std::string where = "tiny-moe on " + std::to_string(world.size()) + " ranks in " + std::to_string(expert_groups) + " expert group(s)";
    worst = std::max(worst, check_against_transformers(world, lm, dir, 4, where));
    float sum[1] = {static_cast<float>(lm.model->weights().matrix_bytes)};
    world.allreduce_sum(sum);
    const double want = world.size() == 1 ? static_cast<double>(whole.model->weights().matrix_bytes)
                                          : static_cast<double>(whole.model->weights().matrix_bytes) - bytes(whole.model->weights().embed_tokens) +
                                                (world.size() - 1) * shared;
    EXPECT_EQ(static_cast<double>(sum[0]), want) << where;
  }
  if (world.rank() == 0)
    std::printf("tiny-moe, %d rank(s), expert groups 1, 2 (from 4 ranks) and N: max |logits - transformers| = %.3g (tolerance 1e-4)\n",
                world.size(), static_cast<double>(worst));
}

// Property: every weight is held by exactly one rank: the ranks' matrix bytes add up to one process's
// (less the embedding table, which ranks leave in the file mapping and read a row at a time), in every
// layout, so per-rank weight memory falls as 1/N.
TEST(DistributedModel, WeightsSplitWithoutReplication) {
  Communicator& world = test::world();
  for (const std::string model : {"tiny-gqa4", "tiny-mha-tied"}) {
    const auto dir = test::model_dir(model);
    const Qwen3Config cfg = Qwen3Config::from_file(dir / "config.json");
    const LoadedModel whole = load_model(dir, host_kernels(), AttentionKind::Streaming, WeightPlacement::Copy);
    const kernels::MatrixView& e = whole.model->weights().embed_tokens;
    const double embed = static_cast<double>(e.rows * e.cols * static_cast<std::int64_t>(dtype_size(e.dtype)));
    const double want = static_cast<double>(whole.model->weights().matrix_bytes) - (cfg.tie_word_embeddings ? 0.0 : embed);
    for (int tp : tp_choices(cfg, world.size())) {
      const RankGroups groups = join_ranks(world, cfg, {tp, 0});
      const LoadedModel split = load_model(dir, host_kernels(), AttentionKind::Streaming, WeightPlacement::Copy, &groups);
      float sum[1] = {static_cast<float>(split.model->weights().matrix_bytes)};
      world.allreduce_sum(sum);
      EXPECT_EQ(static_cast<double>(sum[0]), world.size() == 1 ? static_cast<double>(whole.model->weights().matrix_bytes) : want)
          << model << " tp " << tp;
    }
  }
}

// Property: a seeded sampler draws the same ids from a vocabulary split over the ranks as from the
// whole vocabulary in one process (top-k on: candidates gathered; top-k off: every logit gathered),
// with the repetition penalty applied on whichever rank holds the id; logprobs agree too.
TEST(DistributedSampler, SameDrawsAsOneProcess) {
  Communicator& world = test::world();
  const std::int64_t V = 1000;
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 2.f);
  std::vector<float> logits(static_cast<std::size_t>(V));
  for (float& x : logits) x = nd(rng);
  logits[10] = logits[11] = 9.f;  // a tie at the top, across a slice boundary on some rank counts
  const Range mine = split_even(V, world.rank(), world.size());
  const std::span<const float> slice(logits.data() + mine.begin, static_cast<std::size_t>(mine.size()));
  const std::vector<std::int32_t> recent = {3, 10, 500, 999};
  for (const SamplerOptions& opt : {SamplerOptions{0.8f, 20, 0.9f, 0.f, 1.3f, 64, 7}, SamplerOptions{1.f, 0, 1.f, 0.05f, 1.f, 64, 9},
                                    SamplerOptions{0.f, 0, 1.f, 0.f, 1.3f, 64, 0}}) {
    Sampler split(opt), whole(opt);
    for (int i = 0; i < 50; ++i) {
      const std::int32_t a = split.sample(LogitsSlice{slice, mine.begin}, recent, world);
      const std::int32_t b = whole.sample(logits, recent);
      ASSERT_EQ(a, b) << "draw " << i << " temperature " << opt.temperature << " top_k " << opt.top_k;
    }
  }
  const TokenLogprobs a = token_logprobs(LogitsSlice{slice, mine.begin}, 500, 5, world);
  const TokenLogprobs b = token_logprobs(logits, 500, 5);
  EXPECT_NEAR(a.logprob, b.logprob, 1e-5);
  if (world.rank() == 0) {
    ASSERT_EQ(a.top.size(), b.top.size());
    for (std::size_t i = 0; i < a.top.size(); ++i) {
      EXPECT_EQ(a.top[i].first, b.top[i].first);
      EXPECT_NEAR(a.top[i].second, b.top[i].second, 1e-5);
    }
  }
}

// Property: eval's perplexity and accuracy over a split model equal one process's, for both protocols.
TEST(DistributedEval, SameScoresAsOneProcess) {
  Communicator& world = test::world();
  const auto dir = test::model_dir("tiny-gqa4");
  const Qwen3Config cfg = Qwen3Config::from_file(dir / "config.json");
  const SafetensorsFile ref = SafetensorsFile::open(dir / "reference.safetensors");
  const auto ids = test::read_tensor<std::int32_t>(ref, "prompt_ids");
  LoadedModel whole = load_model(dir, host_kernels(), AttentionKind::Streaming);
  const RankGroups groups = join_ranks(world, cfg, {});
  LoadedModel split = load_model(dir, host_kernels(), AttentionKind::Streaming, WeightPlacement::Map, &groups);
  for (std::int64_t chunk : {0, 32}) {
    EvalOptions opt;
    opt.chunk = chunk;
    opt.kv_block = 8;
    opt.kv_type = KvType::F32;
    const EvalResult a = evaluate(*split.model, ids, opt);
    const EvalResult b = evaluate(*whole.model, ids, opt);
    EXPECT_EQ(a.scored, b.scored);
    EXPECT_NEAR(a.ppl, b.ppl, 1e-4 * b.ppl) << "chunk " << chunk;
    EXPECT_EQ(a.correct, b.correct) << "chunk " << chunk;
  }
}

}  // namespace
}  // namespace qwen3
