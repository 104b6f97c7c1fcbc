// Continuous batching (engine/batch_engine.hpp): a request's tokens must not depend on what else runs
// beside it, on when it joined, or on the token budget that cut its prompt into chunks.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "engine/batch_engine.hpp"
#include "engine/generate.hpp"
#include "engine/loaded_model.hpp"
#include "kernels/dispatch.hpp"
#include "qwen3/error.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

using Ids = std::vector<std::int32_t>;

Ids random_ids(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Ids ids(n);
  for (auto& id : ids) id = static_cast<std::int32_t>(rng() % 384);
  return ids;
}

// Greedy and sampled requests of different lengths; one stops at an id it is likely to meet.
std::vector<BatchRequest> mixed_requests() {
  std::vector<BatchRequest> r;
  const std::size_t lengths[] = {7, 40, 1, 23, 64, 12};
  for (std::size_t i = 0; i < 6; ++i) {
    BatchRequest q;
    q.id = "r" + std::to_string(i);
    q.prompt = random_ids(lengths[i], static_cast<std::uint32_t>(i + 1));
    q.max_new_tokens = 6 + static_cast<std::int64_t>(i) * 3;
    if (i % 2 == 1) q.sampling = {.temperature = 0.8f, .top_k = 40, .top_p = 0.9f, .seed = 1000 + i};
    r.push_back(q);
  }
  return r;
}

BatchEngineOptions small_steps() {
  BatchEngineOptions o;
  o.max_running = 4;
  o.token_budget = 16;  // prompts in chunks of 13, and every step below the gemm threshold
  o.context = 256;
  o.kv_type = KvType::F32;
  o.kv_block = 16;
  return o;
}

std::map<std::string, BatchResult> run_all(Qwen3Model& m, const BatchEngineOptions& o, const std::vector<BatchRequest>& requests) {
  BatchEngine engine(m, o);
  for (const auto& r : requests) engine.submit(r);
  std::map<std::string, BatchResult> out;
  while (!engine.idle())
    for (auto& r : engine.step()) out[r.id] = std::move(r);
  return out;
}

class BatchEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const kernels::KernelTable& kt = kernels::select_kernels("auto", "onednn", "f32", kernels::detect_cpu_features());
    lm_ = std::make_unique<LoadedModel>(load_model(test::model_dir("tiny-gqa4"), kt, AttentionKind::Streaming));
  }
  Qwen3Model& model() { return *lm_->model; }
  std::unique_ptr<LoadedModel> lm_;
};

TEST_F(BatchEngineTest, EveryRequestGetsTheTokensItGetsAlone) {
  const auto requests = mixed_requests();
  const auto together = run_all(model(), small_steps(), requests);
  ASSERT_EQ(together.size(), requests.size());
  for (const auto& r : requests) {
    const auto alone = run_all(model(), small_steps(), {r});
    EXPECT_EQ(together.at(r.id).ids, alone.at(r.id).ids) << r.id;
    EXPECT_EQ(together.at(r.id).stop, alone.at(r.id).stop) << r.id;
    EXPECT_EQ(static_cast<std::int64_t>(together.at(r.id).ids.size()), r.max_new_tokens) << r.id;
  }
}

TEST_F(BatchEngineTest, GreedyRequestsGiveGeneratesIds) {
  auto requests = mixed_requests();
  const auto together = run_all(model(), small_steps(), requests);
  for (const auto& r : requests) {
    if (r.sampling.temperature > 0) continue;
    Session session(model(), model().new_cache(KvType::F32, 16, 256));
    Sampler sampler(r.sampling);
    GenerationRequest g;
    g.prompt = r.prompt;
    g.max_new_tokens = r.max_new_tokens;
    EXPECT_EQ(together.at(r.id).ids, generate(session, sampler, g, [](std::int32_t) {}).ids) << r.id;
  }
}

TEST_F(BatchEngineTest, RequestsThatJoinMidwayAndLargerBudgetsChangeNothing) {
  const auto requests = mixed_requests();
  const auto reference = run_all(model(), small_steps(), requests);
  BatchEngine engine(model(), small_steps());
  std::map<std::string, BatchResult> out;
  for (std::size_t i = 0; i < 2; ++i) engine.submit(requests[i]);
  for (int s = 0; s < 5; ++s)
    for (auto& r : engine.step()) out[r.id] = std::move(r);
  for (std::size_t i = 2; i < requests.size(); ++i) engine.submit(requests[i]);
  while (!engine.idle())
    for (auto& r : engine.step()) out[r.id] = std::move(r);
  for (const auto& r : requests) EXPECT_EQ(out.at(r.id).ids, reference.at(r.id).ids) << r.id;
  // One sequence at a time with the prompt in one piece: greedy ids as before.
  BatchEngineOptions wide = small_steps();
  wide.max_running = 1;
  wide.token_budget = 256;
  const auto one_by_one = run_all(model(), wide, requests);
  for (const auto& r : requests)
    if (r.sampling.temperature == 0) {
      EXPECT_EQ(one_by_one.at(r.id).ids, reference.at(r.id).ids) << r.id;
    }
}

TEST_F(BatchEngineTest, StopIdsEndOneSequenceAndTheContextEndsAnother) {
  auto requests = mixed_requests();
  const auto reference = run_all(model(), small_steps(), requests);
  BatchRequest stopping = requests[0];
  stopping.stop_ids = {reference.at("r0").ids[2]};  // its third token
  BatchRequest long_one = requests[4];              // 64 prompt tokens
  long_one.max_new_tokens = -1;
  BatchEngineOptions o = small_steps();
  o.context = 70;
  const auto out = run_all(model(), o, {stopping, long_one, requests[2]});
  EXPECT_EQ(out.at("r0").stop, StopReason::EndOfText);
  EXPECT_EQ(out.at("r0").ids, Ids(reference.at("r0").ids.begin(), reference.at("r0").ids.begin() + 2));
  EXPECT_EQ(out.at("r4").stop, StopReason::ContextFull);
  EXPECT_EQ(out.at("r4").ids.size(), 7u);  // 64 + 6 fed fill the context; the 7th is sampled from them
  EXPECT_EQ(out.at("r2").ids, reference.at("r2").ids);
}

TEST_F(BatchEngineTest, ABoundedPolicyStreamsEachSequenceInItsOwnBudget) {
  BatchEngineOptions o = small_steps();
  o.kv_policy = KvPolicyOptions(KvPolicyKind::SinkWindow, 4, 12);
  o.context = 32;  // less than the 64-token prompt: only a bounded policy can take it
  const auto requests = mixed_requests();
  const auto together = run_all(model(), o, requests);
  for (const auto& r : requests) EXPECT_EQ(together.at(r.id).ids, run_all(model(), o, {r}).at(r.id).ids) << r.id;
}

// A request's own policy: StreamingLLM sequences (prompts longer than the context included) run beside
// full ones, each getting the tokens it gets alone under an engine whose policy is its own.
TEST_F(BatchEngineTest, EachRequestCanStreamUnderItsOwnPolicy) {
  const KvPolicyOptions streaming(KvPolicyKind::SinkWindow, 4, 12);
  auto requests = mixed_requests();
  for (std::size_t i : {1, 4}) requests[i].kv_policy = streaming;
  BatchEngineOptions o = small_steps();
  o.context = 48;  // r4's 64-token prompt fits only its own bounded policy
  const auto together = run_all(model(), o, requests);
  BatchEngineOptions streaming_engine = o;
  streaming_engine.kv_policy = streaming;
  for (const auto& r : requests) {
    BatchRequest plain = r;
    plain.kv_policy.reset();
    const auto alone = run_all(model(), r.kv_policy ? streaming_engine : o, {plain});
    EXPECT_EQ(together.at(r.id).ids, alone.at(r.id).ids) << r.id;
  }
  BatchEngine engine(model(), o);
  BatchRequest full_long = requests[4];
  full_long.kv_policy.reset();
  EXPECT_THROW(engine.check(full_long), Error);
  BatchRequest bad = requests[0];
  bad.kv_policy = KvPolicyOptions(KvPolicyKind::SinkWindow, 4, 0);
  EXPECT_THROW(engine.check(bad), Error);
}

TEST_F(BatchEngineTest, RequestsThatCanNeverRunAreRefusedAtSubmit) {
  BatchEngine engine(model(), small_steps());
  BatchRequest empty;
  empty.id = "empty";
  EXPECT_THROW(engine.submit(empty), Error);
  BatchRequest too_long;
  too_long.id = "long";
  too_long.prompt = random_ids(256, 3);
  EXPECT_THROW(engine.submit(too_long), Error);
  EXPECT_TRUE(engine.idle());
}

TEST_F(BatchEngineTest, ACancelledRequestLeavesAtOnceAndTheOthersKeepTheirTokens) {
  const auto requests = mixed_requests();
  const auto reference = run_all(model(), small_steps(), requests);
  BatchEngine engine(model(), small_steps());
  for (const auto& r : requests) engine.submit(r);
  std::map<std::string, BatchResult> out;
  for (int s = 0; s < 3; ++s)
    for (auto& r : engine.step()) out[r.id] = std::move(r);
  ASSERT_EQ(engine.running(), 4u);
  const KvPoolUse before = engine.kv_pool();
  EXPECT_TRUE(engine.cancel("r1"));  // running
  EXPECT_TRUE(engine.cancel("r5"));  // still waiting
  EXPECT_FALSE(engine.cancel("r5"));
  EXPECT_FALSE(engine.cancel("nobody"));
  EXPECT_EQ(engine.running(), 3u);
  EXPECT_LT(engine.kv_pool().reserved, before.reserved);
  while (!engine.idle())
    for (auto& r : engine.step()) out[r.id] = std::move(r);
  EXPECT_EQ(out.count("r1") + out.count("r5"), 0u);
  for (const char* id : {"r0", "r2", "r3", "r4"}) EXPECT_EQ(out.at(id).ids, reference.at(id).ids) << id;
  EXPECT_EQ(engine.kv_pool().reserved, 0);
  EXPECT_EQ(engine.kv_pool().filled, 0);
}

TEST_F(BatchEngineTest, RequestsWaitForPoolBlocksAndRunningOnesKeepTheirs) {
  const auto requests = mixed_requests();
  const auto reference = run_all(model(), small_steps(), requests);
  BatchEngineOptions o = small_steps();
  o.kv_pool_tokens = 6 * 16;  // six blocks: r4 (64 + 20 tokens) takes all of them, the others wait
  BatchEngine engine(model(), o);
  for (const auto& r : requests) engine.submit(r);
  std::map<std::string, BatchResult> out;
  std::int64_t most_reserved = 0;
  while (!engine.idle()) {
    for (auto& r : engine.step()) out[r.id] = std::move(r);
    const KvPoolUse use = engine.kv_pool();
    most_reserved = std::max(most_reserved, use.reserved);
    ASSERT_LE(use.filled, use.reserved);
    ASSERT_LE(use.reserved, use.total);
  }
  EXPECT_EQ(most_reserved, 6);
  for (const auto& r : requests) EXPECT_EQ(out.at(r.id).ids, reference.at(r.id).ids) << r.id;
  BatchRequest too_big = requests[4];
  too_big.id = "too-big";
  too_big.max_new_tokens = 40;  // 64 + 39 tokens: seven blocks
  EXPECT_THROW(engine.submit(too_big), Error);
}

TEST_F(BatchEngineTest, LogprobsAreTheModelsOwnAndTheirTopAlternativesAreSorted) {
  BatchRequest r = mixed_requests()[0];
  r.top_logprobs = 3;
  BatchEngine engine(model(), small_steps());
  engine.submit(r);
  std::vector<GeneratedStep> steps;
  while (!engine.idle()) engine.step([&](const std::string&, const GeneratedStep& s) { steps.push_back(s); });
  ASSERT_EQ(steps.size(), static_cast<std::size_t>(r.max_new_tokens));
  // Greedy: the chosen token is the most likely one, so it heads its alternatives.
  Session session(model(), model().new_cache(KvType::F32, 16, 256));
  const auto first = session.feed(r.prompt);
  std::vector<float> logits(first.begin(), first.end());
  for (const GeneratedStep& s : steps) {
    ASSERT_EQ(s.logprobs.top.size(), 3u);
    EXPECT_EQ(s.logprobs.top[0].first, s.id);
    EXPECT_NEAR(s.logprobs.top[0].second, s.logprobs.logprob, 1e-9);
    EXPECT_GE(s.logprobs.top[0].second, s.logprobs.top[1].second);
    EXPECT_GE(s.logprobs.top[1].second, s.logprobs.top[2].second);
    EXPECT_NEAR(s.logprobs.logprob, token_logprobs(logits, s.id, 0).logprob, 1e-5);
    const std::int32_t next[1] = {s.id};
    const auto more = session.feed(next);
    logits.assign(more.begin(), more.end());
  }
}

// Requests that start with the same 40 tokens (a system prompt). The first computes them. The others
// join while it still runs and start from its cached blocks: 32 tokens, two 16-token blocks. They
// get the tokens they get without the cache. Under --batch-invariant they take 26 of them (resuming
// where a 13-token prefill chunk starts, as alone) and get the same logprobs bit for bit; without it,
// the same within 1e-5.
TEST_F(BatchEngineTest, ASharedPrefixIsComputedOnceAndChangesNoToken) {
  const Ids system = random_ids(40, 77);
  std::vector<BatchRequest> requests;
  for (std::uint32_t i = 0; i < 4; ++i) {
    BatchRequest q;
    q.id = "p" + std::to_string(i);
    q.prompt = system;
    const Ids own = random_ids(3 + 5 * i, 200 + i);
    q.prompt.insert(q.prompt.end(), own.begin(), own.end());
    q.max_new_tokens = 8;
    q.top_logprobs = 2;
    if (i % 2 == 1) q.sampling = {.temperature = 0.8f, .top_k = 40, .seed = 7 + i};
    requests.push_back(q);
  }
  for (bool invariant : {false, true}) {
    const auto run = [&](bool prefix_cache) {
      BatchEngineOptions o = small_steps();
      o.batch_invariant = invariant;
      o.prefix_cache = prefix_cache;
      BatchEngine engine(model(), o);
      std::map<std::string, std::vector<GeneratedStep>> steps;
      std::map<std::string, BatchResult> out;
      const auto step = [&] {
        for (auto& r : engine.step([&](const std::string& id, const GeneratedStep& s) { steps[id].push_back(s); })) out[r.id] = std::move(r);
      };
      engine.submit(requests[0]);
      for (int s = 0; s < 5; ++s) step();  // 43 prompt tokens in chunks of 13: p0 decodes from step 4 on
      EXPECT_EQ(engine.running(), 1u);
      for (std::size_t i = 1; i < requests.size(); ++i) engine.submit(requests[i]);
      while (!engine.idle()) step();
      EXPECT_EQ(engine.kv_pool().reserved, 0);
      EXPECT_EQ(engine.prefix_hit_tokens(), prefix_cache ? 3 * (invariant ? 26 : 32) : 0);
      return std::make_pair(out, steps);
    };
    const auto [shared, shared_steps] = run(true);
    const auto [alone, alone_steps] = run(false);
    for (const auto& r : requests) {
      EXPECT_EQ(shared.at(r.id).cached_tokens, r.id == "p0" ? 0 : invariant ? 26 : 32) << r.id;
      EXPECT_EQ(shared.at(r.id).ids, alone.at(r.id).ids) << r.id;
      const auto& a = shared_steps.at(r.id);
      const auto& b = alone_steps.at(r.id);
      ASSERT_EQ(a.size(), b.size());
      for (std::size_t t = 0; t < a.size(); ++t) {
        if (invariant)
          EXPECT_EQ(a[t].logprobs.logprob, b[t].logprobs.logprob) << r.id << " token " << t;
        else
          EXPECT_NEAR(a[t].logprobs.logprob, b[t].logprobs.logprob, 1e-5) << r.id << " token " << t;
      }
    }
  }
}

// The next turn of a chat sends the whole conversation again: the blocks of the first turn's prompt
// and of its answer come from the cache, and the second turn's tokens are those computed afresh.
TEST_F(BatchEngineTest, ANextChatTurnReusesTheAnswersBlocksToo) {
  BatchRequest first = mixed_requests()[4];  // 64 prompt tokens, 18 generated
  const auto turn1 = run_all(model(), small_steps(), {first}).at(first.id);
  BatchRequest second = first;
  second.id = "turn2";
  second.prompt.insert(second.prompt.end(), turn1.ids.begin(), turn1.ids.end());
  const Ids more = random_ids(5, 99);
  second.prompt.insert(second.prompt.end(), more.begin(), more.end());
  BatchEngine engine(model(), small_steps());
  engine.submit(first);
  while (!engine.idle()) engine.step();
  EXPECT_EQ(engine.kv_pool().cached, 5);  // 64 + 17 fed tokens: five whole blocks
  engine.submit(second);
  std::map<std::string, BatchResult> out;
  while (!engine.idle())
    for (auto& r : engine.step()) out[r.id] = std::move(r);
  EXPECT_EQ(out.at("turn2").cached_tokens, 80);
  BatchEngineOptions no_cache = small_steps();
  no_cache.prefix_cache = false;
  EXPECT_EQ(out.at("turn2").ids, run_all(model(), no_cache, {second}).at("turn2").ids);
}

// Idle cached blocks hold no room a request needs: a pool of six blocks, five of them cached by a
// finished request, still admits one that needs all six, and it gets its own tokens.
TEST_F(BatchEngineTest, IdleCachedBlocksGiveWayToANewRequest) {
  const auto requests = mixed_requests();
  BatchEngineOptions o = small_steps();
  o.kv_pool_tokens = 6 * 16;
  BatchEngine engine(model(), o);
  engine.submit(requests[4]);
  while (!engine.idle()) engine.step();
  EXPECT_EQ(engine.kv_pool().cached, 5);
  BatchRequest other = requests[4];
  other.id = "other";
  other.prompt = random_ids(64, 555);
  engine.submit(other);
  std::map<std::string, BatchResult> out;
  while (!engine.idle())
    for (auto& r : engine.step()) out[r.id] = std::move(r);
  EXPECT_EQ(out.at("other").cached_tokens, 0);
  EXPECT_EQ(out.at("other").ids, run_all(model(), small_steps(), {other}).at("other").ids);
  EXPECT_LE(engine.kv_pool().cached, 6);
}

// Under --batch-invariant a sequence reuses only rows computed in whole prefill chunks, as it would
// compute them alone: the next turn of a chat (its earlier answer decoded one row at a time) still
// gets bit-identical logprobs. And the cached blocks past where it resumes are not held, so a pool
// that fits it once they are dropped admits it (it waited for ever before).
TEST_F(BatchEngineTest, UnderBatchInvarianceReuseKeepsBitsAndNeverStallsThePool) {
  BatchEngineOptions o = small_steps();  // prefill chunks of 13 tokens, blocks of 16
  o.batch_invariant = true;
  o.kv_pool_tokens = 5 * 16;
  BatchRequest first;
  first.id = "first";
  first.prompt = random_ids(60, 31);
  first.max_new_tokens = 10;
  const auto turn1 = run_all(model(), o, {first}).at("first");
  BatchRequest second = first;
  second.id = "second";
  second.prompt.insert(second.prompt.end(), turn1.ids.begin(), turn1.ids.end());  // 70 tokens, five blocks with its answer
  second.top_logprobs = 1;
  const auto logprobs_of = [&](BatchEngine& engine, const BatchRequest& r, int max_steps) {
    std::vector<double> out;
    engine.submit(r);
    for (int step = 0; step < max_steps && !engine.idle(); ++step)
      engine.step([&](const std::string& id, const GeneratedStep& g) { if (id == r.id) out.push_back(g.logprobs.logprob); });
    EXPECT_TRUE(engine.idle()) << r.id << " did not finish in " << max_steps << " steps";
    return out;
  };
  BatchEngine engine(model(), o);
  logprobs_of(engine, first, 100);
  const auto reused = logprobs_of(engine, second, 100);
  BatchEngine alone(model(), o);
  const auto fresh = logprobs_of(alone, second, 100);
  ASSERT_EQ(reused.size(), 10u);
  EXPECT_EQ(reused, fresh);  // bit for bit
  EXPECT_EQ(engine.prefix_hit_tokens(), 39);  // rows of first's whole chunks [0, 52) in whole blocks (48), resumed at 39
}

}  // namespace
}  // namespace qwen3
