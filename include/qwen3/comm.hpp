#pragma once
// The communication seam. The model states what it needs by intent -- sum these partial vectors,
// merge these partial attention states, agree on the arg-max, share these tokens -- and an
// implementation decides how: LocalCommunicator (one process, all no-ops) now, MPI ranks in mpi/
// and NUMA domains in numa/ later. No MPI or hwloc type appears above this interface.
#include <cstdint>
#include <span>

namespace qwen3 {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Element-wise sum across all members (tensor-parallel partial products).
  virtual void allreduce_sum(std::span<float> data) = 0;
  // Row-wise merge() of packed OnlineSoftmaxState rows (sequence-parallel attention over KV blocks).
  virtual void merge_softmax_states(std::span<float> packed_rows, std::int64_t head_dim) = 0;
  // The largest value and its index across members (greedy over a split vocabulary; ties: lowest index).
  virtual void argmax(float& value, std::int32_t& index) = 0;
  // Copies `tokens` from `root` to every member (rank 0 talks to the user; the others follow).
  virtual void broadcast(std::span<std::int32_t> tokens, int root) = 0;
};

// A single process: every collective is the identity.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(std::span<float>) override {}
  void merge_softmax_states(std::span<float>, std::int64_t) override {}
  void argmax(float&, std::int32_t&) override {}
  void broadcast(std::span<std::int32_t>, int) override {}
};

}  // namespace qwen3
