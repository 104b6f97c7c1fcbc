#pragma once
// Partial attention of one query row over a subset of keys, as in online softmax (Milakov &
// Gimelshein 2018, arXiv 1805.02867) and FlashAttention (arXiv 2205.14135):
//   m = max score seen,  l = sum_j exp(s_j - m),  o = sum_j exp(s_j - m) * v_j  (unnormalised).
// The final output is o / l. Two states over disjoint key sets combine with merge(), which is
// associative and commutative; it is the single function that joins KV blocks split across threads,
// NUMA domains (numa/shared_memory_communicator) and MPI ranks (wrapped in an MPI_Op, mpi/).
// Implemented in src/base/ (library qwen3_base, which the communicators link without the model).
//
// Packed layout: one row is head_dim + 2 floats [m, l, o_0 .. o_{d-1}], so a batch of rows is one
// flat buffer that threads, shared memory and MPI can move as is.
#include <cstdint>
#include <limits>
#include <span>

namespace qwen3 {

class OnlineSoftmaxState {
 public:
  static constexpr std::int64_t packed_size(std::int64_t head_dim) { return head_dim + 2; }

  OnlineSoftmaxState(float* packed, std::int64_t head_dim) : p_(packed), d_(head_dim) {}

  float& m() const { return p_[0]; }
  float& l() const { return p_[1]; }
  float* o() const { return p_ + 2; }
  std::int64_t head_dim() const { return d_; }
  bool empty() const { return p_[0] == -std::numeric_limits<float>::infinity(); }

  // The empty state: no keys seen (m = -inf, l = 0, o = 0). Merging it changes nothing.
  void reset() const;
  // Writes o / l to out[0..head_dim). An empty state (a row that saw no key) writes zeros.
  void normalize_into(float* out) const;

 private:
  float* p_;
  std::int64_t d_;
};

// into <- into (+) from, for states over disjoint key sets.
void merge(const OnlineSoftmaxState& into, const OnlineSoftmaxState& from);

// Row-wise merge of two packed batches of equal shape (rows * packed_size(head_dim) floats).
void merge_rows(std::span<float> into, std::span<const float> from, std::int64_t head_dim);

}  // namespace qwen3
