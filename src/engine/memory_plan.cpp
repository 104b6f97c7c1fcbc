#include "engine/memory_plan.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/agreement.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

// The process itself beyond weights, cache and activations: code, tokenizer tables (~50 MiB for
// Qwen3's 151k entries), oneDNN scratch, MPI buffers. Measured peak RSS of a run minus its weights and
// cache is 30-90 MiB here; the margin covers a larger tokenizer.
constexpr double kRuntimeBytes = 128.0 * (1 << 20);
// Tokens per prefill forward (Session's default chunk), which sizes the activations.
constexpr double kPrefillChunk = 256;

std::string available_text(const AvailableMemory& a) {
  return format_bytes(static_cast<double>(a.bytes)) + " " + (a.bytes == 1 ? "is" : "are") + " available (" + a.source + ")";
}

std::string ranks_text(const HostMemory& h) {
  return h.ranks == 1 ? std::string() : " for the " + std::to_string(h.ranks) + " ranks on this host";
}

}  // namespace

RankMemory rank_memory(const Qwen3Config& cfg, const ModelPartition& part, double weight_bytes, const KvRequest& kv) {
  const double H = static_cast<double>(cfg.hidden_size), D = static_cast<double>(cfg.head_dim);
  const double q = static_cast<double>(part.q_heads.size()) * D, k = static_cast<double>(part.kv_heads.size()) * D;
  const double mlp = static_cast<double>(part.mlp.size()), vocab = static_cast<double>(part.vocab.size());
  // Activations of one prefill chunk (x, norms, q/k/v own and gathered, attention states, MLP halves)
  // and the logits kept at once, in f32.
  const double activations = kPrefillChunk * 4.0 * (4 * H + 3 * (q + 2 * k) + 2 * mlp);
  const double logits = static_cast<double>(std::max<std::int64_t>(1, kv.logits_rows)) * vocab * 4.0;
  RankMemory m;
  m.weights = weight_bytes;
  m.fixed = weight_bytes + activations + logits + kRuntimeBytes;
  // Every layer keeps a key and a value row per KV head; the sp members share the blocks.
  m.kv_per_token = static_cast<double>(cfg.num_hidden_layers) * 2 * static_cast<double>(part.kv_heads.size()) *
                   static_cast<double>(kv_row_bytes(kv.type, cfg.head_dim)) / static_cast<double>(std::max(1, part.kv_members));
  return m;
}

MemoryFit fit_memory(const HostMemory& host, const KvRequest& kv, std::int64_t default_tokens, const AvailableMemory& available,
                     const std::string& what) {
  MemoryFit fit;
  fit.available = available;
  const double avail = static_cast<double>(available.bytes);
  std::string way_out;
  for (std::size_t i = 0; i < kv.instead.size(); ++i)
    way_out += (i == 0 ? "; use " : i + 1 == kv.instead.size() ? " or " : ", ") + kv.instead[i];
  if (host.fixed > avail)
    throw Error(what + ": the weights and working buffers need " + format_bytes(host.fixed) + ranks_text(host) + " (weights " +
                format_bytes(host.weights) + "), but " + available_text(available));
  const double room_tokens = host.kv_per_token > 0 ? std::floor((avail - host.fixed) / host.kv_per_token) : 1e18;
  if (kv.tokens > 0) {
    const double need = host.fixed + host.kv_per_token * static_cast<double>(kv.tokens);
    if (need > avail)
      throw Error(kv.asked_by + ": the KV cache needs " + format_bytes(host.kv_per_token * static_cast<double>(kv.tokens)) + " (" +
                  std::string(kernels::kv_type_name(kv.type)) + ") beside " + format_bytes(host.fixed) + " of weights and buffers" +
                  ranks_text(host) + ", " + format_bytes(need) + " in all, but " + available_text(available) + "; room for " +
                  std::to_string(static_cast<std::int64_t>(room_tokens)) + " tokens" + way_out);
    fit.kv_tokens = kv.tokens;
  } else {
    // Whole blocks: the cache allocates a block at a time.
    const std::int64_t block = std::max<std::int64_t>(1, kv.block);
    const std::int64_t fits = static_cast<std::int64_t>(std::min(room_tokens, 9e18)) / block * block;
    fit.kv_tokens = std::min(default_tokens, fits);
    if (fit.kv_tokens < std::min(default_tokens, block))
      throw Error(what + ": no room for a KV cache: " + format_bytes(host.fixed) + " of weights and buffers" + ranks_text(host) +
                  " leave room for " + std::to_string(std::max<std::int64_t>(0, fits)) + " tokens of " +
                  std::string(kernels::kv_type_name(kv.type)) + " KV cache, and " + available_text(available) + way_out);
    if (fit.kv_tokens < default_tokens) fit.lowered_from = default_tokens;
  }
  fit.host_bytes = host.fixed + host.kv_per_token * static_cast<double>(fit.kv_tokens);
  return fit;
}

MemoryFit plan_memory(Communicator& world, const RankMemory& mine, const KvRequest& kv, std::int64_t default_tokens,
                      const std::string& what) {
  // Ranks under one kernel share its memory, wherever mpirun placed them.
  const std::unique_ptr<Communicator> host = world.split(memory_system_id(), world.rank());
  std::vector<float> sums = {static_cast<float>(mine.fixed), static_cast<float>(mine.weights), static_cast<float>(mine.kv_per_token)};
  host->allreduce_sum(sums);
  const HostMemory h{sums[0], sums[1], sums[2], host->size()};
  MemoryFit fit;
  on_every_rank(world, [&] { fit = fit_memory(h, kv, default_tokens, available_memory(), what); });
  if (world.size() > 1 && kv.tokens == 0) {
    // Hosts may differ: every rank takes the smallest context any host fits, counted in blocks
    // (exact in a float up to 2^24 blocks).
    const std::int64_t block = std::max<std::int64_t>(1, kv.block);
    const float mine_blocks[1] = {static_cast<float>((fit.kv_tokens + block - 1) / block)};
    std::vector<float> all(static_cast<std::size_t>(world.size()));
    world.allgather(mine_blocks, all, std::vector<std::int64_t>(static_cast<std::size_t>(world.size()), 1));
    const std::int64_t agreed = static_cast<std::int64_t>(*std::min_element(all.begin(), all.end())) * block;
    if (agreed < fit.kv_tokens) {
      fit.kv_tokens = agreed;
      fit.lowered_from = default_tokens;
    }
  }
  return fit;
}

std::string describe_lowered_context(const MemoryFit& fit) {
  if (fit.lowered_from == 0) return {};
  return " (lowered from " + std::to_string(fit.lowered_from) + " to fit " + format_bytes(static_cast<double>(fit.available.bytes)) +
         " available, " + fit.available.source + ")";
}

}  // namespace qwen3
