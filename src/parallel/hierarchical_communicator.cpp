#include "parallel/hierarchical_communicator.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <type_traits>

#include "qwen3/error.hpp"
#include "qwen3/online_softmax.hpp"

namespace qwen3 {
namespace {

// Handed from the thread that makes them (the group's member 0 on this process) to the members that
// lead each new group after a split. Shared by the members of one group on one process.
struct SplitHandOff {
  std::map<int, std::shared_ptr<Communicator>> procs;    // color -> the processes hosting that new group
  std::map<int, std::shared_ptr<SplitHandOff>> handoffs;  // color -> the new group's own hand-off
};

class HierarchicalCommunicator final : public Communicator {
 public:
  // counts[p]: members on the p-th process of the group; `procs` only on local member 0 (else null).
  HierarchicalCommunicator(std::unique_ptr<Communicator> local, std::shared_ptr<Communicator> procs, int my_process,
                           std::vector<int> counts, std::shared_ptr<SplitHandOff> handoff)
      : local_(std::move(local)), procs_(std::move(procs)), my_process_(my_process), counts_(std::move(counts)),
        handoff_(std::move(handoff)) {
    offsets_.resize(counts_.size() + 1, 0);
    std::partial_sum(counts_.begin(), counts_.end(), offsets_.begin() + 1);
  }

  int rank() const override { return offsets_[static_cast<std::size_t>(my_process_)] + local_->rank(); }
  int size() const override { return offsets_.back(); }

  std::unique_ptr<Communicator> split(int color, int key) override {
    if (color < 0 || key < 0) throw Error("split: color and key must be non-negative across NUMA domains");
    // Every member's (color, key), as 16-bit halves so that floats carry them exactly.
    const float mine[4] = {static_cast<float>(color >> 16), static_cast<float>(color & 0xffff), static_cast<float>(key >> 16),
                           static_cast<float>(key & 0xffff)};
    std::vector<float> all(static_cast<std::size_t>(size()) * 4);
    allgather(mine, all, std::vector<std::int64_t>(static_cast<std::size_t>(size()), 4));
    auto color_of = [&](int m) { return (static_cast<int>(all[m * 4u]) << 16) | static_cast<int>(all[m * 4u + 1]); };
    auto key_of = [&](int m) { return (static_cast<int>(all[m * 4u + 2]) << 16) | static_cast<int>(all[m * 4u + 3]); };

    // The new group: by key, then by old rank (MPI_Comm_split's order). The numbering must keep each
    // process's members together and in their local order, which every split this program makes does.
    std::vector<int> members;
    for (int m = 0; m < size(); ++m)
      if (color_of(m) == color) members.push_back(m);
    std::stable_sort(members.begin(), members.end(), [&](int a, int b) { return key_of(a) < key_of(b); });
    // The numbering must keep each process's members together and in their local order: the new
    // order has to be the old one, which every split this program makes keeps (key = old rank or a
    // rank within a block of consecutive ranks).
    if (!std::is_sorted(members.begin(), members.end()))
      throw Error("split: across NUMA domains the new order must follow the old ranks");
    std::vector<int> counts;
    int my_new_process = -1, last_process = -1;
    for (int m : members) {
      const int p = process_of(m);
      if (p != last_process) counts.push_back(0);
      last_process = p;
      ++counts.back();
      if (p == my_process_) my_new_process = static_cast<int>(counts.size()) - 1;
    }

    std::unique_ptr<Communicator> local = local_->split(color, key);
    if (local_->rank() == 0) {
      // One split of the processes per new group, in the same order on every process.
      std::vector<int> colors;
      for (int m = 0; m < size(); ++m) colors.push_back(color_of(m));
      std::sort(colors.begin(), colors.end());
      colors.erase(std::unique(colors.begin(), colors.end()), colors.end());
      for (int c : colors) {
        bool hosts = false;
        for (int m = offsets_[static_cast<std::size_t>(my_process_)]; m < offsets_[static_cast<std::size_t>(my_process_) + 1]; ++m)
          hosts = hosts || color_of(m) == c;
        if (!hosts && procs_) procs_->split(1, my_process_);  // a group this process has no part in
        if (!hosts) continue;
        handoff_->handoffs[c] = std::make_shared<SplitHandOff>();
        if (procs_) handoff_->procs[c] = std::shared_ptr<Communicator>(procs_->split(0, my_process_));
      }
    }
    local_barrier();
    std::shared_ptr<SplitHandOff> handoff = handoff_->handoffs.at(color);
    std::shared_ptr<Communicator> procs;
    if (local->rank() == 0 && handoff_->procs.count(color)) procs = handoff_->procs.at(color);
    local_barrier();
    if (local_->rank() == 0) {
      handoff_->procs.clear();
      handoff_->handoffs.clear();
    }
    return std::make_unique<HierarchicalCommunicator>(std::move(local), std::move(procs), my_new_process, std::move(counts),
                                                      std::move(handoff));
  }

  void allreduce_sum(std::span<float> data) override {
    local_->allreduce_sum(data);
    if (!several()) return;
    if (procs_) procs_->allreduce_sum(data);
    local_->broadcast(data, 0);
  }

  void merge_softmax_states(std::span<float> rows, std::int64_t head_dim) override {
    local_->merge_softmax_states(rows, head_dim);
    if (!several()) return;
    if (procs_) procs_->merge_softmax_states(rows, head_dim);
    local_->broadcast(rows, 0);
  }

  void merge_softmax_states_scatter(std::span<const float> rows, std::span<float> mine, std::span<const std::int64_t> row_counts,
                                    std::int64_t head_dim) override {
    if (!several()) return local_->merge_softmax_states_scatter(rows, mine, row_counts, head_dim);
    // Across processes: the whole merge, then this member's rows.
    std::vector<float> merged(rows.begin(), rows.end());
    merge_softmax_states(merged, head_dim);
    std::int64_t first = 0;
    for (int m = 0; m < rank(); ++m) first += row_counts[static_cast<std::size_t>(m)];
    const auto off = static_cast<std::ptrdiff_t>(first * OnlineSoftmaxState::packed_size(head_dim));
    std::copy(merged.begin() + off, merged.begin() + off + static_cast<std::ptrdiff_t>(mine.size()), mine.begin());
  }

  void argmax(std::span<float> values, std::span<std::int32_t> indices) override {
    local_->argmax(values, indices);
    if (!several()) return;
    if (procs_) procs_->argmax(values, indices);
    local_->broadcast(values, 0);
    local_->broadcast(indices, 0);
  }

  void broadcast(std::span<std::int32_t> data, int root) override { broadcast_any(data, root); }
  void broadcast(std::span<float> data, int root) override { broadcast_any(data, root); }
  void broadcast_patiently(std::span<std::int32_t> data, int root) override { broadcast_any(data, root, /*patiently=*/true); }

  void allgather(std::span<const float> mine, std::span<float> all, std::span<const std::int64_t> counts) override {
    // This process's members straight into their place in `all`, then the processes' blocks.
    std::vector<std::int64_t> at(counts.size() + 1, 0);
    std::partial_sum(counts.begin(), counts.end(), at.begin() + 1);
    const int first = offsets_[static_cast<std::size_t>(my_process_)], last = offsets_[static_cast<std::size_t>(my_process_) + 1];
    std::span<float> block = all.subspan(static_cast<std::size_t>(at[static_cast<std::size_t>(first)]),
                                         static_cast<std::size_t>(at[static_cast<std::size_t>(last)] - at[static_cast<std::size_t>(first)]));
    local_->allgather(mine, block, counts.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(last - first)));
    if (!several()) return;
    if (procs_) {
      std::vector<std::int64_t> per_process;
      for (std::size_t p = 0; p < counts_.size(); ++p) per_process.push_back(at[static_cast<std::size_t>(offsets_[p + 1])] - at[static_cast<std::size_t>(offsets_[p])]);
      const std::vector<float> copy(block.begin(), block.end());  // MPI may not read and write one buffer
      procs_->allgather(copy, all, per_process);
    }
    local_->broadcast(all, 0);
  }

  std::vector<float> gather(std::span<const float> mine, int root) override {
    const float n[1] = {static_cast<float>(mine.size())};
    std::vector<float> sizes(static_cast<std::size_t>(size()));
    allgather(n, sizes, std::vector<std::int64_t>(static_cast<std::size_t>(size()), 1));
    std::vector<std::int64_t> counts(sizes.begin(), sizes.end());
    std::vector<float> all(static_cast<std::size_t>(std::accumulate(counts.begin(), counts.end(), std::int64_t{0})));
    allgather(mine, all, counts);
    return rank() == root ? all : std::vector<float>{};
  }

  CommStats stats() const override {
    CommStats s = local_->stats();
    if (procs_) {
      const CommStats p = procs_->stats();
      s.seconds += p.seconds;
      s.bytes += p.bytes;
      s.calls += p.calls;
    }
    return s;
  }

 private:
  bool several() const { return counts_.size() > 1; }
  int process_of(int member) const {
    return static_cast<int>(std::upper_bound(offsets_.begin(), offsets_.end(), member) - offsets_.begin()) - 1;
  }
  void local_barrier() {
    float x[1] = {0};
    local_->allreduce_sum(x);
  }

  template <class T>
  void broadcast_any(std::span<T> data, int root, bool patiently = false) {
    const int root_process = process_of(root);
    if (root_process == my_process_) local_->broadcast(data, root - offsets_[static_cast<std::size_t>(my_process_)]);
    if (!several()) return;
    if (procs_) {  // the long wait, when there is one, is for another process
      bool waited = false;
      if constexpr (std::is_same_v<T, std::int32_t>) {
        if (patiently) procs_->broadcast_patiently(data, root_process), waited = true;
      }
      if (!waited) procs_->broadcast(data, root_process);
    }
    local_->broadcast(data, 0);
  }

  std::unique_ptr<Communicator> local_;
  std::shared_ptr<Communicator> procs_;
  int my_process_;
  std::vector<int> counts_;
  std::vector<int> offsets_;
  std::shared_ptr<SplitHandOff> handoff_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_hierarchical_world(Communicator& procs,
                                                                   std::vector<std::unique_ptr<Communicator>> locals) {
  const float mine[1] = {static_cast<float>(locals.size())};
  std::vector<float> all(static_cast<std::size_t>(procs.size()));
  procs.allgather(mine, all, std::vector<std::int64_t>(static_cast<std::size_t>(procs.size()), 1));
  const std::vector<int> counts(all.begin(), all.end());
  // Not owned: the caller keeps the process communicator alive.
  const std::shared_ptr<Communicator> shared_procs(&procs, [](Communicator*) {});
  auto handoff = std::make_shared<SplitHandOff>();
  std::vector<std::unique_ptr<Communicator>> out;
  for (std::size_t i = 0; i < locals.size(); ++i)
    out.push_back(std::make_unique<HierarchicalCommunicator>(std::move(locals[i]), i == 0 ? shared_procs : nullptr, procs.rank(),
                                                             counts, handoff));
  return out;
}

}  // namespace qwen3
