#include "numa/shared_memory_communicator.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <vector>

#include "qwen3/online_softmax.hpp"
#include "qwen3/partition.hpp"

namespace qwen3::numa {
namespace {

// One step of a spin wait: tells the core that this is a spin loop (x86 pause, Arm yield), so a
// sibling hyperthread gets the pipeline and leaving the loop costs no misspeculation. Other CPUs
// simply spin.
inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__arm__) && __ARM_ARCH >= 7)
  asm volatile("yield" ::: "memory");
#endif
}

// A reusable barrier that spins first: the members are leaders of teams on their own cores, and a
// decode step makes a few collectives per layer, so a futex sleep and wake (~5-10 us) on each would
// cost more than the split saves. After a short spin it waits on the atomic (futex), so an
// oversubscribed machine does not burn the core the late member needs.
class SpinBarrier {
 public:
  explicit SpinBarrier(int n) : n_(n) {}
  void arrive_and_wait() {
    const std::uint32_t gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      count_.store(0, std::memory_order_relaxed);
      gen_.store(gen + 1, std::memory_order_release);
      gen_.notify_all();
      return;
    }
    for (int i = 0; i < 4000; ++i) {
      if (gen_.load(std::memory_order_acquire) != gen) return;
      spin_pause();
    }
    while (gen_.load(std::memory_order_acquire) == gen) gen_.wait(gen, std::memory_order_acquire);
  }

 private:
  const int n_;
  std::atomic<int> count_{0};
  std::atomic<std::uint32_t> gen_{0};
};

// What a member publishes for the collective in progress: its buffers, read by the others in place.
struct Slot {
  const void* in = nullptr;
  void* out = nullptr;
  std::size_t n = 0;
  int color = 0, key = 0;
};

struct Group;
struct Group {
  explicit Group(int members) : size(members), barrier(members), slots(static_cast<std::size_t>(members)),
                                made(static_cast<std::size_t>(members)) {}
  const int size;
  SpinBarrier barrier;
  std::vector<Slot> slots;
  std::vector<std::shared_ptr<Group>> made;  // split(): the group each new group's first member made
};

class SharedMemoryCommunicator final : public Communicator {
 public:
  SharedMemoryCommunicator(std::shared_ptr<Group> g, int rank) : g_(std::move(g)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_->size; }

  std::unique_ptr<Communicator> split(int color, int key) override {
    publish(nullptr, nullptr, 0);
    me().color = color;
    me().key = key;
    sync();
    // New rank: by key, then by old rank (MPI_Comm_split's order).
    std::vector<int> peers;
    for (int m = 0; m < size(); ++m)
      if (g_->slots[static_cast<std::size_t>(m)].color == color) peers.push_back(m);
    std::stable_sort(peers.begin(), peers.end(), [&](int a, int b) {
      return g_->slots[static_cast<std::size_t>(a)].key < g_->slots[static_cast<std::size_t>(b)].key;
    });
    const int first = *std::min_element(peers.begin(), peers.end());
    if (first == rank_) g_->made[static_cast<std::size_t>(rank_)] = std::make_shared<Group>(static_cast<int>(peers.size()));
    sync();
    auto sub = g_->made[static_cast<std::size_t>(first)];
    const int new_rank = static_cast<int>(std::find(peers.begin(), peers.end(), rank_) - peers.begin());
    sync();  // every member has its group before the slots are reused
    if (first == rank_) g_->made[static_cast<std::size_t>(rank_)].reset();
    return std::make_unique<SharedMemoryCommunicator>(std::move(sub), new_rank);
  }

  void allreduce_sum(std::span<float> data) override {
    if (size() == 1) return;
    Timed t(this, data.size_bytes());
    publish(data.data(), data.data(), data.size());
    sync();
    // Each member sums its share of the elements, in member order, and writes it into every buffer:
    // only it touches those elements, so no one reads a half-written sum.
    const Range mine = split_even(static_cast<std::int64_t>(data.size()), rank_, size());
    auto& acc = scratch();
    acc.assign(buffer(0) + mine.begin, buffer(0) + mine.end);
    for (int m = 1; m < size(); ++m) {
      const float* src = buffer(m) + mine.begin;
      for (std::size_t i = 0; i < acc.size(); ++i) acc[i] += src[i];
    }
    for (int m = 0; m < size(); ++m) std::copy(acc.begin(), acc.end(), buffer(m) + mine.begin);
    sync();
  }

  void merge_softmax_states(std::span<float> rows, std::int64_t head_dim) override {
    if (size() == 1) return;
    Timed t(this, rows.size_bytes());
    publish(rows.data(), rows.data(), rows.size());
    sync();
    const std::int64_t w = OnlineSoftmaxState::packed_size(head_dim);
    const Range mine = split_even(static_cast<std::int64_t>(rows.size()) / w, rank_, size());
    auto& acc = scratch();
    acc.assign(buffer(0) + mine.begin * w, buffer(0) + mine.end * w);
    for (int m = 1; m < size(); ++m) merge_rows(acc, std::span<const float>(buffer(m) + mine.begin * w, acc.size()), head_dim);
    for (int m = 0; m < size(); ++m) std::copy(acc.begin(), acc.end(), buffer(m) + mine.begin * w);
    sync();
  }

  void merge_softmax_states_scatter(std::span<const float> rows, std::span<float> mine, std::span<const std::int64_t> row_counts,
                                    std::int64_t head_dim) override {
    const std::int64_t w = OnlineSoftmaxState::packed_size(head_dim);
    std::int64_t first = 0;
    for (int m = 0; m < rank_; ++m) first += row_counts[static_cast<std::size_t>(m)];
    const std::size_t off = static_cast<std::size_t>(first * w);
    if (size() == 1) {
      std::copy(rows.begin() + static_cast<std::ptrdiff_t>(off), rows.begin() + static_cast<std::ptrdiff_t>(off + mine.size()), mine.begin());
      return;
    }
    Timed t(this, rows.size_bytes());
    publish(rows.data(), nullptr, rows.size());
    sync();
    std::copy(buffer(0) + off, buffer(0) + off + mine.size(), mine.begin());
    for (int m = 1; m < size(); ++m) merge_rows(mine, std::span<const float>(buffer(m) + off, mine.size()), head_dim);
    sync();  // the inputs stay alive until every member has read its rows
  }

  void argmax(std::span<float> values, std::span<std::int32_t> indices) override {
    if (size() == 1) return;
    Timed t(this, values.size_bytes() + indices.size_bytes());
    publish(values.data(), indices.data(), values.size());
    sync();
    auto& best = scratch();
    best.assign(values.begin(), values.end());
    std::vector<std::int32_t> at(indices.begin(), indices.end());
    for (int m = 0; m < size(); ++m) {
      const float* v = buffer(m);
      const auto* ix = static_cast<const std::int32_t*>(g_->slots[static_cast<std::size_t>(m)].out);
      for (std::size_t i = 0; i < best.size(); ++i)
        if (v[i] > best[i] || (v[i] == best[i] && ix[i] < at[i])) {
          best[i] = v[i];
          at[i] = ix[i];
        }
    }
    sync();  // everyone has read every member's candidates
    std::copy(best.begin(), best.end(), values.begin());
    std::copy(at.begin(), at.end(), indices.begin());
  }

  void broadcast(std::span<std::int32_t> data, int root) override { broadcast_bytes(data.data(), data.size_bytes(), root); }
  void broadcast(std::span<float> data, int root) override { broadcast_bytes(data.data(), data.size_bytes(), root); }

  void allgather(std::span<const float> mine, std::span<float> all, std::span<const std::int64_t> counts) override {
    if (size() == 1) {
      std::copy(mine.begin(), mine.end(), all.begin());
      return;
    }
    Timed t(this, mine.size_bytes());
    publish(mine.data(), nullptr, mine.size());
    sync();
    std::size_t at = 0;
    for (int m = 0; m < size(); ++m) {
      const auto n = static_cast<std::size_t>(counts[static_cast<std::size_t>(m)]);
      std::copy(buffer(m), buffer(m) + n, all.begin() + static_cast<std::ptrdiff_t>(at));
      at += n;
    }
    sync();
  }

  std::vector<float> gather(std::span<const float> mine, int root) override {
    if (size() == 1) return {mine.begin(), mine.end()};
    Timed t(this, mine.size_bytes());
    publish(mine.data(), nullptr, mine.size());
    sync();
    std::vector<float> all;
    if (rank_ == root)
      for (int m = 0; m < size(); ++m) {
        const Slot& s = g_->slots[static_cast<std::size_t>(m)];
        all.insert(all.end(), static_cast<const float*>(s.in), static_cast<const float*>(s.in) + s.n);
      }
    sync();
    return all;
  }

  CommStats stats() const override { return stats_; }

 private:
  // Wall time and payload of one collective, for --stats (as MpiCommunicator counts them).
  struct Timed {
    Timed(SharedMemoryCommunicator* c, std::size_t bytes) : c_(c), t0_(std::chrono::steady_clock::now()) {
      c_->stats_.bytes += bytes;
      ++c_->stats_.calls;
    }
    ~Timed() { c_->stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }
    SharedMemoryCommunicator* c_;
    std::chrono::steady_clock::time_point t0_;
  };

  Slot& me() { return g_->slots[static_cast<std::size_t>(rank_)]; }
  void publish(const void* in, void* out, std::size_t n) { me() = Slot{in, out, n, 0, 0}; }
  void sync() { g_->barrier.arrive_and_wait(); }
  float* buffer(int m) { return const_cast<float*>(static_cast<const float*>(g_->slots[static_cast<std::size_t>(m)].in)); }
  static std::vector<float>& scratch() {
    thread_local std::vector<float> s;
    return s;
  }

  void broadcast_bytes(void* data, std::size_t bytes, int root) {
    if (size() == 1) return;
    Timed t(this, rank_ == root ? bytes : 0);
    publish(data, data, bytes);
    sync();
    if (rank_ != root) std::memcpy(data, g_->slots[static_cast<std::size_t>(root)].in, bytes);
    sync();
  }

  std::shared_ptr<Group> g_;
  int rank_;
  CommStats stats_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_shared_memory_group(int members) {
  auto g = std::make_shared<Group>(members);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int m = 0; m < members; ++m) out.push_back(std::make_unique<SharedMemoryCommunicator>(g, m));
  return out;
}

}  // namespace qwen3::numa
