#include "engine/evaluate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include <unistd.h>

#include "engine/sampler.hpp"
#include "qwen3/comm.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

// -log softmax(logits)[target], whether the arg-max is the target, and the arg-max.
struct Score {
  double nll;
  bool correct;
  std::int32_t argmax;
};

// The scores of `targets` from rows of this rank's logits (score_rows: the vocabulary may be split).
std::vector<Score> score(std::span<const float> logits, std::int64_t offset, std::span<const std::int32_t> targets,
                         Communicator& comm) {
  const std::vector<RowScore> rows = score_rows(logits, offset, targets, comm);
  std::vector<Score> out(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) out[r] = {-rows[r].logprob, rows[r].argmax == targets[r], rows[r].argmax};
  return out;
}

// Resident bytes of this process now (/proc/self/statm), 0 where unavailable.
std::size_t current_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long pages = 0, resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &pages, &resident);
  std::fclose(f);
  return got == 2 ? static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

class Tally {
 public:
  Tally(EvalResult& r, std::int64_t window) : r_(r), window_(std::max<std::int64_t>(1, window)) {}
  // Fills each finished window's time and memory fields.
  void set_stamp(std::function<void(EvalWindow&)> stamp) { stamp_ = std::move(stamp); }
  // Records the prediction of the token at stream position `pos`.
  void add(std::int64_t pos, const Score& s) {
    if (w_count_ == 0) w_start_ = pos;
    r_.nll_sum += s.nll;
    r_.correct += s.correct;
    r_.predictions.push_back(s.argmax);
    ++r_.scored;
    w_nll_ += s.nll;
    w_correct_ += s.correct;
    if (++w_count_ == window_) flush(pos + 1);
  }
  void finish(std::int64_t end) {
    if (w_count_ > 0) flush(end);
    if (r_.scored > 0) {
      r_.ppl = std::exp(r_.nll_sum / static_cast<double>(r_.scored));
      r_.accuracy = static_cast<double>(r_.correct) / static_cast<double>(r_.scored);
    }
  }

 private:
  void flush(std::int64_t end) {
    r_.windows.push_back({w_start_, end, std::exp(w_nll_ / static_cast<double>(w_count_)),
                          static_cast<double>(w_correct_) / static_cast<double>(w_count_)});
    if (stamp_) stamp_(r_.windows.back());
    w_nll_ = 0;
    w_correct_ = 0;
    w_count_ = 0;
  }
  EvalResult& r_;
  std::int64_t window_;
  std::function<void(EvalWindow&)> stamp_;
  double w_nll_ = 0;
  std::int64_t w_correct_ = 0, w_count_ = 0, w_start_ = 0;
};

}  // namespace

EvalResult evaluate(Qwen3Model& model, std::span<const std::int32_t> tokens, const EvalOptions& opt,
                    const std::function<void(std::int64_t, std::int64_t)>& progress) {
  const auto n = static_cast<std::int64_t>(tokens.size());
  if (n < 2) throw Error("eval: the text has " + std::to_string(n) + " token(s); at least 2 are needed to score one prediction");
  if (opt.chunk == 1) throw Error("eval: --chunk must be at least 2");
  EvalResult r;
  r.tokens = n;
  Tally tally(r, opt.window);
  model.stats() = {};
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  clock::time_point t_first{};
  Communicator& comm = *model.distribution().all;
  const std::int64_t offset = model.vocab_range().begin;

  if (opt.chunk <= 0) {
    // With `full` every token stays in the cache, even past max_position_embeddings.
    Session s(model, model.new_cache(opt.kv_type, opt.kv_block, n), opt.kv_policy);
    auto window_start = clock::now();
    tally.set_stamp([&](EvalWindow& w) {
      const auto now = clock::now();
      w.ms_per_token = std::chrono::duration<double, std::milli>(now - window_start).count() / static_cast<double>(w.end - w.start);
      w.kv_bytes = s.cache().bytes();
      w.rss_bytes = current_rss_bytes();
      window_start = now;
    });
    for (std::int64_t t = 0; t + 1 < n; ++t) {
      const auto logits = s.feed(tokens.subspan(static_cast<std::size_t>(t), 1));
      if (t == 0) {
        r.ttft_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
        t_first = clock::now();
      }
      tally.add(t + 1, score(logits, offset, tokens.subspan(static_cast<std::size_t>(t + 1), 1), comm)[0]);
      r.peak_kv_bytes = std::max(r.peak_kv_bytes, s.cache().peak_bytes());
      if (progress && (t % 64 == 0 || t + 2 == n)) progress(t + 2, n);
    }
    tally.finish(n);  // the last window's stamp reads this session
  } else {
    // llama-perplexity: chunks of `chunk` tokens from an empty cache; score positions chunk/2 .. chunk-1.
    const std::int64_t c = opt.chunk;
    if (n < c) throw Error("eval: --chunk " + std::to_string(c) + " is longer than the text (" + std::to_string(n) + " tokens)");
    const std::int64_t width = model.vocab_range().size();
    for (std::int64_t start = 0; start + c <= n; start += c) {
      Session s(model, model.new_cache(opt.kv_type, opt.kv_block, c), opt.kv_policy);
      const auto& logits = s.feed_all_logits(tokens.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(c)));
      if (start == 0) {
        r.ttft_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
        t_first = clock::now();
      }
      const std::int64_t first = c / 2, n_scored = c - 1 - first;  // rows first .. c-2 predict tokens first+1 .. c-1
      const auto scores = score(std::span<const float>(logits).subspan(static_cast<std::size_t>(first * width),
                                                                      static_cast<std::size_t>(n_scored * width)),
                                offset, tokens.subspan(static_cast<std::size_t>(start + first + 1), static_cast<std::size_t>(n_scored)), comm);
      for (std::int64_t i = 0; i < n_scored; ++i) tally.add(start + first + i + 1, scores[static_cast<std::size_t>(i)]);
      r.peak_kv_bytes = std::max(r.peak_kv_bytes, s.cache().peak_bytes());
      if (progress) progress(start + c, n);
    }
  }
  if (opt.chunk > 0) tally.finish(n);
  const double total_s = std::chrono::duration<double>(clock::now() - t0).count();
  const double after_first_ms = std::chrono::duration<double, std::milli>(clock::now() - t_first).count();
  const double fed = static_cast<double>(opt.chunk > 0 ? (n / opt.chunk) * opt.chunk : n - 1);
  r.tpot_ms = fed > 1 ? after_first_ms / (fed - 1) : 0;
  r.tokens_per_s = fed / total_s;
  r.attn_ms_per_token = 1e3 * model.stats().attention_seconds / fed;
  return r;
}

}  // namespace qwen3
