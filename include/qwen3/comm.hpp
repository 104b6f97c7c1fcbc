#pragma once
// The communication seam. The model states what it needs by intent -- sum these partial vectors,
// merge these partial attention states, agree on the arg-max, share these tokens -- and an
// implementation decides how: LocalCommunicator (one process, all identities) here, MPI ranks in
// mpi/ (mpi/mpi_communicator.hpp), NUMA domains of one process in numa/ (shared memory), and both at
// once in src/parallel/hierarchical_communicator.hpp. No MPI or hwloc type appears above
// this interface. Header-only; part of qwen3_base (src/base/) with the merge it carries.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace qwen3 {

// What one member spent in collectives since it was made: the figures behind --stats.
struct CommStats {
  double seconds = 0;          // wall time inside collectives (waiting for slower members included)
  std::uint64_t bytes = 0;     // payload this member contributed (not the wire bytes of the algorithm)
  std::uint64_t calls = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Members with the same `color` form a new group, ordered by `key` (MPI_Comm_split).
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // Element-wise sum across all members (tensor-parallel partial products).
  virtual void allreduce_sum(std::span<float> data) = 0;
  // Row-wise merge() of packed OnlineSoftmaxState rows (sequence-parallel attention over KV blocks).
  virtual void merge_softmax_states(std::span<float> packed_rows, std::int64_t head_dim) = 0;
  // The same merge, but member r receives only rows [sum of row_counts before r, + row_counts[r]) of
  // the result, in `mine` (Helix's reduce-scatter along the heads: each member ends with the heads it
  // multiplies by o_proj). Half the traffic of the all-reduce, and the merges are shared.
  virtual void merge_softmax_states_scatter(std::span<const float> packed_rows, std::span<float> mine,
                                            std::span<const std::int64_t> row_counts, std::int64_t head_dim) = 0;
  // Per element i: the largest values[i] across members and its indices[i] (ties: lowest index),
  // written back on every member. Greedy over a vocabulary split by rows never moves the logits.
  virtual void argmax(std::span<float> values, std::span<std::int32_t> indices) = 0;
  // Copies `data` from `root` to every member (rank 0 talks to the user; the others follow).
  virtual void broadcast(std::span<std::int32_t> data, int root) = 0;
  virtual void broadcast(std::span<float> data, int root) = 0;
  // broadcast() for members that may wait long for the root (the follower ranks of an idle server):
  // they sleep between polls instead of spinning in the MPI library, so an idle job leaves its cores
  // to other work. Up to about a millisecond later than broadcast() once the data is sent.
  virtual void broadcast_patiently(std::span<std::int32_t> data, int root) { broadcast(data, root); }
  // Every member's part, concatenated in rank order, on every member: counts[r] floats from member r
  // (`mine` has counts[rank()]); `all` has their sum.
  virtual void allgather(std::span<const float> mine, std::span<float> all, std::span<const std::int64_t> counts) = 0;
  // Every member's `mine`, concatenated in rank order, on `root`; empty elsewhere.
  virtual std::vector<float> gather(std::span<const float> mine, int root) = 0;

  virtual CommStats stats() const = 0;
};

// A single process: every collective is the identity.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::unique_ptr<Communicator> split(int, int) override { return std::make_unique<LocalCommunicator>(); }
  void allreduce_sum(std::span<float>) override {}
  void merge_softmax_states(std::span<float>, std::int64_t) override {}
  void merge_softmax_states_scatter(std::span<const float> rows, std::span<float> mine, std::span<const std::int64_t>,
                                    std::int64_t) override {
    std::copy(rows.begin(), rows.end(), mine.begin());
  }
  void argmax(std::span<float>, std::span<std::int32_t>) override {}
  void broadcast(std::span<std::int32_t>, int) override {}
  void broadcast(std::span<float>, int) override {}
  void allgather(std::span<const float> mine, std::span<float> all, std::span<const std::int64_t>) override {
    std::copy(mine.begin(), mine.end(), all.begin());
  }
  std::vector<float> gather(std::span<const float> mine, int) override { return {mine.begin(), mine.end()}; }
  CommStats stats() const override { return {}; }
};

// The group every rank of a single-process run belongs to.
inline Communicator& local_communicator() {
  static LocalCommunicator local;
  return local;
}

}  // namespace qwen3
