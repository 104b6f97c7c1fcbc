#pragma once
// Packed OnlineSoftmaxState rows for tests of the collectives that merge them (MPI ranks, NUMA
// domains): the cases a merge gets wrong first.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "qwen3/online_softmax.hpp"

namespace qwen3::test {

// Member `member`'s `rows` states of width head_dim: row 0 empty on every member, row 1 empty on even
// members, row 2 with maxima 80 apart between members (exp(-80) underflows in a naive sum of exp),
// the rest random from `seed`.
inline std::vector<float> packed_states_of(int member, int rows, std::int64_t head_dim, unsigned seed) {
  std::mt19937 rng(seed + static_cast<unsigned>(member));
  std::uniform_real_distribution<float> u(-3.f, 3.f);
  const std::int64_t stride = OnlineSoftmaxState::packed_size(head_dim);
  std::vector<float> s(static_cast<std::size_t>(rows * stride));
  for (int row = 0; row < rows; ++row) {
    OnlineSoftmaxState st(s.data() + row * stride, head_dim);
    st.reset();
    if (row == 0 || (row == 1 && member % 2 == 0)) continue;
    st.m() = row == 2 ? 80.f * static_cast<float>(member) : u(rng);
    st.l() = 1.f + std::abs(u(rng));
    for (std::int64_t i = 0; i < head_dim; ++i) st.o()[i] = u(rng) * st.l();
  }
  return s;
}

}  // namespace qwen3::test
