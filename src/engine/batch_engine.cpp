#include "engine/batch_engine.hpp"

#include <algorithm>
#include <numeric>

#include "qwen3/error.hpp"

namespace qwen3 {

using Clock = std::chrono::steady_clock;

// One running request: its cache, policy and sampler, and how far it has come.
struct BatchEngine::Sequence {
  BatchRequest request;
  KvCache cache;
  KvEvictionPolicy policy;
  Sampler sampler;
  std::vector<std::int32_t> history;  // prompt and generated ids: what the repetition penalty sees
  std::int64_t prefilled = 0;         // prompt tokens fed so far
  std::int32_t next_position = 0;
  std::vector<float> logits;
  std::int64_t reserved_blocks = 0;    // its own, not counting blocks it holds in the prefix cache
  bool shares_prefix = false;          // offers its blocks to the prefix cache (the full policy)
  std::vector<std::uint64_t> prefix_keys;  // prefix cache entries it holds: its blocks 0, 1, ... in order
  std::int64_t cached_blocks = 0;      // of its blocks, those that live in the prefix cache
  BatchResult result;
  Clock::time_point admitted, first_token;

  Sequence(BatchRequest r, KvCache c, const KvPolicyOptions& p)
      : request(std::move(r)), cache(std::move(c)), policy(p), sampler(request.sampling), history(request.prompt) {
    if (policy.bounded()) {  // the cache holds the budget, whatever the context said (as Session)
      cache = KvCache(cache.shape(), policy.budget(), cache.owner());
      cache.track_key_norms(policy.needs_key_norms());
      cache.track_key_mass(policy.needs_attention_mass());
    }
    result.id = request.id;
    result.timing.prompt_tokens = static_cast<std::int64_t>(request.prompt.size());
  }
  bool in_prefill() const { return prefilled < static_cast<std::int64_t>(request.prompt.size()); }
  // The prompt tokens one step feeds: a function of this sequence alone, never of what runs beside it,
  // because under a bounded policy the chunking decides what the early queries of a chunk see.
  std::int64_t chunk(std::int64_t prefill_chunk) const {
    const std::int64_t left = static_cast<std::int64_t>(request.prompt.size()) - prefilled;
    return std::min({left, prefill_chunk, policy.bounded() ? policy.max_chunk() : left});
  }
};

BatchEngine::BatchEngine(Qwen3Model& model, const BatchEngineOptions& options)
    : model_(model), opt_(options), prefix_(options.kv_block) {
  if (opt_.max_running < 1) throw Error("batch engine: at least one running sequence is needed");
  if (opt_.token_budget < opt_.max_running)
    throw Error("batch engine: a token budget of " + std::to_string(opt_.token_budget) + " cannot give " +
                std::to_string(opt_.max_running) + " running sequences one token each");
  KvEvictionPolicy{opt_.kv_policy};  // checks the policy's options
  model_.set_batch_invariant(opt_.batch_invariant);
  const std::int64_t pool_tokens = opt_.kv_pool_tokens > 0 ? opt_.kv_pool_tokens : opt_.max_running * opt_.context;
  pool_blocks_ = pool_tokens / opt_.kv_block;
}

KvPolicyOptions BatchEngine::policy_of(const BatchRequest& r) const {
  KvPolicyOptions p = r.kv_policy.value_or(opt_.kv_policy);
  p.seed = opt_.kv_policy.seed;
  return p;
}

std::int64_t BatchEngine::blocks_needed(const BatchRequest& r) const {
  const KvEvictionPolicy policy(policy_of(r));
  const auto prompt = static_cast<std::int64_t>(r.prompt.size());
  // The last generated token is never fed, so prompt + max_new_tokens - 1 tokens is the most it holds.
  const std::int64_t tokens = policy.bounded()        ? policy.budget()
                              : r.max_new_tokens < 0 ? opt_.context
                                                     : std::min(opt_.context, prompt + std::max<std::int64_t>(r.max_new_tokens - 1, 0));
  return (std::max<std::int64_t>(tokens, 1) + opt_.kv_block - 1) / opt_.kv_block;
}

KvPoolUse BatchEngine::kv_pool() const {
  const std::int64_t idle = prefix_.idle_blocks();
  KvPoolUse use{pool_blocks_, reserved_blocks_ + prefix_.blocks() - idle, idle, prefix_.blocks() - idle};
  for (const auto& s : running_) use.filled += (s->cache.size() + opt_.kv_block - 1) / opt_.kv_block - s->cached_blocks;
  return use;
}

std::int64_t BatchEngine::cached_tokens(const std::string& id) const {
  const auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& s) { return s->request.id == id; });
  return it == running_.end() ? 0 : (*it)->result.cached_tokens;
}

void BatchEngine::retire(Sequence& s) {
  reserved_blocks_ -= s.reserved_blocks;
  prefix_.release(s.prefix_keys);
}

std::int64_t BatchEngine::prefill_chunk() const { return opt_.token_budget - (opt_.max_running - 1); }

std::int64_t BatchEngine::reused_tokens(const PrefixCache::Match& match) const {
  // Batch invariance: a prompt row's values depend on the chunk it was computed in, and chunks start
  // at multiples of prefill_chunk(), so a sequence resumes at one of those to compute its rows in the
  // chunks it would have alone (offer_blocks offers only rows computed in whole chunks).
  return opt_.batch_invariant ? match.tokens() - match.tokens() % prefill_chunk() : match.tokens();
}

void BatchEngine::start_from_prefix(Sequence& s, const PrefixCache::Match& match, std::span<const std::uint64_t> kept) {
  const std::int64_t reused = reused_tokens(match);
  s.cache.share_prefix(match.tokens(), match.held);
  if (reused < match.tokens()) s.cache.truncate(reused);  // the block it resumes in becomes its own copy
  s.prefilled = reused;
  s.next_position = static_cast<std::int32_t>(reused);
  s.prefix_keys.assign(kept.begin(), kept.end());  // offer_blocks finds the entries after them again
  s.cached_blocks = static_cast<std::int64_t>(kept.size());
  s.result.cached_tokens = reused;
  prefix_hit_tokens_ += reused;
}

void BatchEngine::offer_blocks(Sequence& s) {
  // Whole blocks of fed tokens (prompt, then generated), each once; under the full policy nothing is
  // evicted, so block b holds history[b * kv_block, (b + 1) * kv_block). Under batch invariance only
  // rows computed in whole prefill chunks: a row of a short last chunk or of a decode step has other
  // values than the same row inside a whole chunk, where a later sequence alone would compute it.
  if (!s.shares_prefix) return;
  const auto prompt = static_cast<std::int64_t>(s.request.prompt.size());
  const std::int64_t rows = opt_.batch_invariant ? std::min<std::int64_t>(s.next_position, prompt - prompt % prefill_chunk()) : s.next_position;
  while (static_cast<std::int64_t>(s.prefix_keys.size() + 1) * opt_.kv_block <= rows) {
    const auto index = static_cast<std::int64_t>(s.prefix_keys.size());
    const auto offer = prefix_.offer(index == 0 ? 0 : s.prefix_keys.back(), index, s.history, s.cache.full_block(index));
    if (!offer.cached) {
      s.shares_prefix = false;
      return;
    }
    s.prefix_keys.push_back(offer.key);
    if (offer.added) --s.reserved_blocks, --reserved_blocks_, ++s.cached_blocks;
  }
}

bool BatchEngine::cancel(const std::string& id) {
  const auto queued = std::find_if(queue_.begin(), queue_.end(), [&](const BatchRequest& r) { return r.id == id; });
  if (queued != queue_.end()) return queue_.erase(queued), true;
  const auto running = std::find_if(running_.begin(), running_.end(), [&](const auto& s) { return s->request.id == id; });
  if (running == running_.end()) return false;
  retire(**running);
  running_.erase(running);
  return true;
}

BatchEngine::~BatchEngine() = default;

void BatchEngine::check(const BatchRequest& request) const {
  const auto n = static_cast<std::int64_t>(request.prompt.size());
  if (n == 0) throw Error("request " + request.id + ": the prompt is empty");
  const KvEvictionPolicy policy(policy_of(request));  // checks a request's own options
  if (!policy.bounded() && n >= opt_.context)
    throw Error("request " + request.id + ": prompt of " + std::to_string(n) + " tokens leaves no room in the context of " +
                std::to_string(opt_.context));
  if (blocks_needed(request) > pool_blocks_)
    throw Error("request " + request.id + ": needs " + std::to_string(blocks_needed(request)) + " KV blocks of " + std::to_string(opt_.kv_block) +
                " tokens, and the pool holds " + std::to_string(pool_blocks_));
}

void BatchEngine::submit(BatchRequest request) {
  check(request);
  queue_.push_back(std::move(request));
}

void BatchEngine::admit() {
  // First come, first served: a request whose blocks are not free holds the ones behind it back, so a
  // long request is not overtaken for ever by short ones.
  // Idle cached prefix blocks give up their room to a request that needs it.
  while (!queue_.empty() && static_cast<std::int64_t>(running_.size()) < opt_.max_running) {
    const BatchRequest& r = queue_.front();
    const KvPolicyOptions policy = policy_of(r);
    // A bounded policy's blocks change as it slides: such a sequence neither shares nor offers.
    const bool share = opt_.prefix_cache && !KvEvictionPolicy(policy).bounded();
    // At least the prompt's last token is fed, to give the first token's logits.
    const auto match = share ? prefix_.acquire(r.prompt, (static_cast<std::int64_t>(r.prompt.size()) - 1) / opt_.kv_block) : PrefixCache::Match{};
    // Blocks past the reused tokens are computed again: their entries are not held (match.held
    // keeps them alive until start_from_prefix has copied what it needs).
    const auto kept = std::span(match.keys).first(static_cast<std::size_t>(reused_tokens(match) / opt_.kv_block));
    prefix_.release(std::span(match.keys).subspan(kept.size()));
    const std::int64_t own = blocks_needed(r) - static_cast<std::int64_t>(kept.size());
    if (free_blocks() + prefix_.idle_blocks() < own) {  // every idle entry can go, a chain from its end
      prefix_.release(kept);
      break;
    }
    while (free_blocks() < own && prefix_.drop_idle()) {
    }
    auto s = std::make_unique<Sequence>(std::move(queue_.front()), model_.new_cache(opt_.kv_type, opt_.kv_block, opt_.context), policy);
    queue_.pop_front();
    s->admitted = Clock::now();
    s->reserved_blocks = own;
    reserved_blocks_ += own;
    s->shares_prefix = share;
    if (!match.keys.empty()) start_from_prefix(*s, match, kept);
    running_.push_back(std::move(s));
  }
}

std::vector<std::int64_t> BatchEngine::plan() const {
  std::vector<std::int64_t> feed(running_.size(), 0);
  std::int64_t budget = opt_.token_budget;
  for (std::size_t i = 0; i < running_.size(); ++i)  // decode first: one token each keeps every stream moving
    if (!running_[i]->in_prefill()) feed[i] = 1, --budget;
  // Then prompt chunks, oldest first, each whole or not at all. A chunk is at most the budget less one
  // token for each other running sequence, so the oldest prompt always gets one.
  const std::int64_t chunk = prefill_chunk();
  for (std::size_t i = 0; i < running_.size(); ++i) {
    const Sequence& s = *running_[i];
    if (!s.in_prefill() || s.chunk(chunk) > budget) continue;
    feed[i] = s.chunk(chunk);
    budget -= feed[i];
  }
  return feed;
}

std::vector<BatchResult> BatchEngine::step(const TokenCallback& on_token) {
  admit();
  const std::vector<std::int64_t> feed = plan();
  const std::int64_t vocab = model_.vocab_range().size();
  std::vector<std::vector<std::int32_t>> tokens(running_.size()), positions(running_.size());
  std::vector<SequenceStep> batch;
  std::vector<std::size_t> in_step;
  for (std::size_t i = 0; i < running_.size(); ++i) {
    if (feed[i] == 0) continue;
    Sequence& s = *running_[i];
    if (s.in_prefill())
      tokens[i].assign(s.request.prompt.begin() + s.prefilled, s.request.prompt.begin() + s.prefilled + feed[i]);
    else
      tokens[i] = {s.result.ids.back()};
    positions[i].resize(tokens[i].size());
    std::iota(positions[i].begin(), positions[i].end(), s.next_position);
    s.policy.make_room(s.cache, feed[i]);
    const bool wants_logits = !s.in_prefill() || s.prefilled + feed[i] == static_cast<std::int64_t>(s.request.prompt.size());
    s.logits.resize(static_cast<std::size_t>(vocab));
    batch.push_back({tokens[i], positions[i], &s.cache, wants_logits ? 1 : 0, s.logits.data()});
    in_step.push_back(i);
  }
  if (!batch.empty()) model_.forward(batch);

  std::vector<BatchResult> finished;
  std::vector<bool> done(running_.size(), false);
  for (std::size_t k = 0; k < in_step.size(); ++k) {
    Sequence& s = *running_[in_step[k]];
    const std::int64_t fed = feed[in_step[k]];
    s.policy.observe_step(s.cache, fed, *model_.distribution().all);
    const bool ended = advance(s, fed, batch[k].n_logits > 0, on_token);
    offer_blocks(s);  // finished ones too: the next turn of a chat starts with this one's tokens
    if (ended) {
      done[in_step[k]] = true;
      retire(s);
      finished.push_back(std::move(s.result));
    }
  }
  std::size_t keep = 0;  // a finished sequence returns its cache at once
  for (std::size_t i = 0; i < running_.size(); ++i)
    if (!done[i]) running_[keep++] = std::move(running_[i]);
  running_.resize(keep);
  return finished;
}

bool BatchEngine::advance(Sequence& s, std::int64_t fed, bool sampled, const TokenCallback& on_token) {
  if (s.in_prefill()) s.prefilled += fed;
  s.next_position += static_cast<std::int32_t>(fed);
  if (!sampled) return false;
  const LogitsSlice logits{s.logits, model_.vocab_range().begin};
  Communicator& all = *model_.distribution().all;
  GeneratedStep step;
  step.id = s.sampler.sample(logits, s.history, all);
  const std::int32_t id = step.id;
  const auto now = Clock::now();
  Timing& t = s.result.timing;
  if (s.result.ids.empty() && t.ttft_ms == 0) {
    t.ttft_ms = std::chrono::duration<double, std::milli>(now - s.admitted).count();
    s.first_token = now;
  }
  const auto finish = [&](StopReason why) {
    s.result.stop = why;
    t.generated_tokens = static_cast<std::int64_t>(s.result.ids.size());
    if (s.result.ids.size() >= 2) {
      t.tpot_ms = std::chrono::duration<double, std::milli>(now - s.first_token).count() / static_cast<double>(s.result.ids.size() - 1);
      t.tokens_per_s = 1000.0 / t.tpot_ms;
    }
    return true;
  };
  const auto& stops = s.request.stop_ids;
  if (std::find(stops.begin(), stops.end(), id) != stops.end()) return finish(StopReason::EndOfText);
  s.result.ids.push_back(id);
  s.history.push_back(id);
  // The model's own distribution (before penalty and temperature), as OpenAI's logprobs report it; a
  // collective with a split vocabulary, so every member computes it.
  if (s.request.top_logprobs >= 0) step.logprobs = token_logprobs(logits, id, s.request.top_logprobs, all);
  if (on_token) on_token(s.request.id, step);
  const std::int64_t max_new = s.request.max_new_tokens;
  if (max_new >= 0 && static_cast<std::int64_t>(s.result.ids.size()) >= max_new) return finish(StopReason::Length);
  if (!s.policy.bounded() && s.cache.size() + 1 > s.cache.capacity()) return finish(StopReason::ContextFull);
  return false;
}

}  // namespace qwen3
