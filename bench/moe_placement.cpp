// bench/moe_placement: how evenly a mixture-of-experts model's expert work falls on the ranks under
// each --expert-split, at batch 1 and 16 (the choice behind ExpertSplit::Auto, parallel/layout.hpp).
//  - Measured, under mpiexec: every rank decodes B sequences (random prompts, then random tokens, the
//    same on every rank) for --gen steps; per rank, the time in its expert products, the wait in the
//    sum after them, and the expert slices and token rows it ran. The busiest rank over the mean
//    says how much the others wait; decode tokens/s says what it costs.
//  - Counted, for any rank count: the routing of those decode steps (logged on rank 0) laid onto N
//    ranks by partition_model itself; per step, each rank's bytes read (rows of its experts that at
//    least one token chose) and multiply-adds (tokens x rows); busiest rank / mean, averaged over
//    steps and layers.
//   mpirun -n 2 build/bench/moe_placement --model DIR --threads 1 [--batch 1,16] [--prompt 32] [--gen 16]
//          [--split whole,rows] [--ranks 2,4,8,16,64] [--json out.json]
#include <CLI/CLI.hpp>

#include <random>

#include "bench_util.hpp"
#include "engine/loaded_model.hpp"
#include "engine/threads.hpp"
#include "kernels/dispatch.hpp"
#include "mpi/mpi_runtime.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

struct Measured {
  double decode_tokens_per_s = 0;
  std::vector<double> expert_seconds, sum_seconds, slices, token_rows;  // per rank, per decode step
};

// B sequences: their prompts in one step, then `gen` steps of one random token each (the same ids on
// every rank, so every rank routes the same tokens), with the routing logged when `log` is set.
Measured run_batch(Communicator& world, Qwen3Model& m, std::int64_t batch, std::int64_t prompt, std::int64_t gen, bool log) {
  std::mt19937 rng(static_cast<unsigned>(batch));
  const auto random_id = [&] { return static_cast<std::int32_t>(rng() % static_cast<unsigned>(m.config().vocab_size)); };
  std::vector<KvCache> caches;
  std::vector<std::vector<std::int32_t>> tokens(static_cast<std::size_t>(batch)), positions(tokens.size());
  std::vector<std::vector<float>> logits(tokens.size(), std::vector<float>(static_cast<std::size_t>(m.vocab_range().size())));
  for (std::size_t b = 0; b < tokens.size(); ++b) {
    caches.push_back(m.new_cache(KvType::BF16, 64, prompt + gen));
    for (std::int64_t i = 0; i < prompt; ++i) {
      tokens[b].push_back(random_id());
      positions[b].push_back(static_cast<std::int32_t>(i));
    }
  }
  const auto step = [&] {
    std::vector<SequenceStep> steps;
    for (std::size_t b = 0; b < tokens.size(); ++b) steps.push_back({tokens[b], positions[b], &caches[b], 1, logits[b].data()});
    m.forward(steps);
    for (std::size_t b = 0; b < tokens.size(); ++b) {
      positions[b] = {positions[b].back() + 1};
      tokens[b] = {random_id()};
    }
  };
  step();  // the prompts
  ForwardStats& s = m.stats();
  s = ForwardStats{};
  s.log_routing = log;
  float start[1] = {0};
  world.allreduce_sum(start);  // every rank starts the clock together
  const auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < gen; ++i) step();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Each rank's figures, gathered into every rank's copy by a sum of one-hot vectors.
  const auto per_rank = [&](double mine) {
    std::vector<float> v(static_cast<std::size_t>(world.size()), 0.f);
    v[static_cast<std::size_t>(world.rank())] = static_cast<float>(mine / static_cast<double>(gen));
    world.allreduce_sum(v);
    return std::vector<double>(v.begin(), v.end());
  };
  return {static_cast<double>(batch * gen) / secs, per_rank(s.expert_seconds), per_rank(s.expert_sum_seconds),
          per_rank(static_cast<double>(s.expert_slices_read)), per_rank(static_cast<double>(s.expert_token_rows))};
}

double max_over_mean(const std::vector<double>& v) {
  double sum = 0, top = 0;
  for (double x : v) {
    sum += x;
    top = std::max(top, x);
  }
  return sum > 0 ? top * static_cast<double>(v.size()) / sum : 1.0;
}

double mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

struct Counted {
  double bytes_max_over_mean = 0, work_max_over_mean = 0;
  double rows_per_rank_min = 0;  // the smallest share of an expert any rank holds
};

// The logged routing (tokens per expert, one row per layer and step) laid onto n ranks of `split`.
Counted count_on_ranks(const Qwen3Config& cfg, const std::vector<std::vector<std::int32_t>>& routing, int n, ExpertSplit split) {
  std::vector<ModelPartition> parts;
  for (int r = 0; r < n; ++r) parts.push_back(partition_model(cfg, choose_layout(cfg, n, r, LayoutRequest{0, 0, split})));
  Counted c;
  c.rows_per_rank_min = 1e30;
  for (const ModelPartition& p : parts)
    if (p.expert_rows.size() > 0) c.rows_per_rank_min = std::min(c.rows_per_rank_min, static_cast<double>(p.expert_rows.size()));
  for (const auto& counts : routing) {
    std::vector<double> bytes(static_cast<std::size_t>(n)), work(bytes.size());
    for (int r = 0; r < n; ++r) {
      const ModelPartition& p = parts[static_cast<std::size_t>(r)];
      for (auto e = p.experts.begin; e < p.experts.end; ++e) {
        const double tokens = counts[static_cast<std::size_t>(e)];
        if (tokens == 0) continue;
        bytes[static_cast<std::size_t>(r)] += static_cast<double>(p.expert_rows.size());
        work[static_cast<std::size_t>(r)] += tokens * static_cast<double>(p.expert_rows.size());
      }
    }
    c.bytes_max_over_mean += max_over_mean(bytes) / static_cast<double>(routing.size());
    c.work_max_over_mean += max_over_mean(work) / static_cast<double>(routing.size());
  }
  return c;
}

const char* split_name(ExpertSplit s) { return s == ExpertSplit::Whole ? "whole" : s == ExpertSplit::Rows ? "rows" : "auto"; }

}  // namespace
}  // namespace qwen3

int main(int argc, char** argv) {
  using namespace qwen3;
  const bool under_mpi = mpi::launched_by_mpi();
  std::optional<mpi::MpiRuntime> mpi_runtime;
  if (under_mpi) mpi_runtime.emplace(argc, argv);
  Communicator& world = under_mpi ? mpi_runtime->world() : local_communicator();
  CLI::App app{"expert load balance over ranks, per --expert-split"};
  std::string model_dir, json_path;
  int threads = 1;
  std::vector<std::int64_t> batches = {1, 16};
  std::vector<std::string> splits = {"whole", "rows"};
  std::vector<int> rank_counts = {2, 4, 8, 16, 64};
  std::int64_t prompt = 32, gen = 16;
  app.add_option("--model", model_dir)->required();
  app.add_option("--threads", threads, "threads per rank");
  app.add_option("--batch", batches)->delimiter(',');
  app.add_option("--prompt", prompt);
  app.add_option("--gen", gen, "decode steps measured");
  app.add_option("--split", splits, "expert splits run on this job's ranks: whole, rows, auto")->delimiter(',');
  app.add_option("--ranks", rank_counts, "rank counts the routing is counted on")->delimiter(',');
  app.add_option("--json", json_path);
  CLI11_PARSE(app, argc, argv);
  const bool print = world.rank() == 0;
  try {
    set_thread_count(threads);
    const auto& kt = kernels::select_kernels(kernels::KernelChoice::Auto, kernels::detect_cpu_features());
    if (print)
      std::printf("moe_placement: %s | %s | %d rank(s) x %d thread(s) | prompt %lld, %lld decode steps\n", model_dir.c_str(),
                  bench::cpu_name().c_str(), world.size(), threads, static_cast<long long>(prompt), static_cast<long long>(gen));
    nlohmann::json out = nlohmann::json::array();
    std::vector<std::pair<std::int64_t, std::vector<std::vector<std::int32_t>>>> routing;  // per batch size
    if (print)
      std::printf("\nmeasured on %d rank(s): busiest rank / mean of the rank figures per decode step\n%6s %4s %12s %16s %14s %14s %14s\n",
                  world.size(), "split", "B", "decode t/s", "expert ms/step", "expert s max/", "slices max/", "sum wait ms");
    for (const std::string& name : splits) {
      const ExpertSplit split = parse_expert_split(name);
      RankModel rm = load_on_ranks(world, model_dir, kt, AttentionKind::Streaming, WeightPlacement::Copy, LayoutRequest{0, 0, split});
      Qwen3Model& m = *rm.loaded.model;
      if (!m.config().moe) throw qwen3::Error(model_dir + ": not a mixture-of-experts model");
      for (std::int64_t b : batches) {
        const bool log = print && routing.size() < batches.size();
        const Measured r = run_batch(world, m, b, prompt, gen, log);
        if (log) routing.emplace_back(b, std::move(m.stats().tokens_per_expert));
        if (!print) continue;
        std::printf("%6s %4lld %12.2f %16.2f %14.3f %14.3f %14.2f\n", name.c_str(), static_cast<long long>(b), r.decode_tokens_per_s,
                    1e3 * mean(r.expert_seconds), max_over_mean(r.expert_seconds), max_over_mean(r.slices), 1e3 * mean(r.sum_seconds));
        std::fflush(stdout);
        out.push_back({{"kind", "measured"}, {"split", name}, {"ranks", world.size()}, {"threads", threads}, {"batch", b},
                       {"decode_tokens_per_s", r.decode_tokens_per_s}, {"expert_seconds_per_step", r.expert_seconds},
                       {"sum_wait_seconds_per_step", r.sum_seconds}, {"expert_slices_per_step", r.slices},
                       {"expert_token_rows_per_step", r.token_rows}, {"cpu", bench::cpu_name()}});
      }
    }
    if (print && !routing.empty()) {
      const Qwen3Config cfg = Qwen3Config::from_file(std::filesystem::path(model_dir) / "config.json");
      std::printf("\ncounted from the routing of those decode steps: busiest rank / mean\n%6s %4s %6s %14s %14s %16s\n", "split", "B", "ranks",
                  "bytes max/", "work max/", "rows per rank");
      for (const auto& [b, steps] : routing)
        for (int n : rank_counts)
          for (ExpertSplit split : {ExpertSplit::Whole, ExpertSplit::Rows, ExpertSplit::Auto}) {
            const Counted c = count_on_ranks(cfg, steps, n, split);
            std::printf("%6s %4lld %6d %14.3f %14.3f %16.0f\n", split_name(split), static_cast<long long>(b), n, c.bytes_max_over_mean,
                        c.work_max_over_mean, c.rows_per_rank_min);
            out.push_back({{"kind", "counted"}, {"split", split_name(split)}, {"batch", b}, {"ranks", n},
                           {"expert_groups", choose_expert_groups(cfg, n, split)}, {"bytes_max_over_mean", c.bytes_max_over_mean},
                           {"work_max_over_mean", c.work_max_over_mean}, {"min_rows_per_rank", c.rows_per_rank_min},
                           {"layer_steps", steps.size()}});
          }
    }
    if (print && !json_path.empty()) bench::write_json(json_path, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moe_placement: %s\n", e.what());
    if (under_mpi) mpi::abort_job(1);
    return 1;
  }
  return 0;
}
