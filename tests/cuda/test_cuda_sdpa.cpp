// cuda/: the GPU's attention states against the CPU's (attention/streaming.cpp with the scalar
// kernels), on caches of several blocks with evicted slots, for decode and prefill rows, f32 and bf16
// KV, GQA groups of 1 to 8; and the device choice of a rank, which needs no GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "attention/attention.hpp"
#include "attention_problem.hpp"
#include "cuda/cuda_sdpa.hpp"
#include "kernels/dispatch.hpp"
#include "qwen3/online_softmax.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

// Property: rank i of a node takes device i mod count, and the local rank is read from whichever
// launcher set it (Open MPI, Slurm, MPICH), 0 when none did.
TEST(CudaDevice, LocalRankPicksDeviceModuloCount) {
  EXPECT_EQ(cuda::device_for_local_rank(0, 4), 0);
  EXPECT_EQ(cuda::device_for_local_rank(5, 4), 1);
  EXPECT_EQ(cuda::device_for_local_rank(3, 1), 0);
  EXPECT_EQ(cuda::device_for_local_rank(2, 0), -1);
  const char* const launchers[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"};
  std::vector<std::optional<std::string>> saved;
  for (const char* name : launchers) {
    const char* value = std::getenv(name);
    saved.push_back(value ? std::optional<std::string>(value) : std::nullopt);
  }
  for (const char* name : launchers) {
    for (const char* other : launchers) unsetenv(other);
    EXPECT_EQ(cuda::local_rank_from_environment(), 0);
    setenv(name, "3", 1);
    EXPECT_EQ(cuda::local_rank_from_environment(), 3) << name;
    setenv(name, "x", 1);
    EXPECT_EQ(cuda::local_rank_from_environment(), 0) << name << " unparsable";
  }
  for (std::size_t i = 0; i < saved.size(); ++i) {
    if (saved[i]) setenv(launchers[i], saved[i]->c_str(), 1);
    else unsetenv(launchers[i]);
  }
}

// Property: the probe never throws, and a machine without a device says why in one line.
TEST(CudaDevice, ProbeSaysWhyThereIsNoDevice) {
  const cuda::DeviceProbe probe = cuda::probe_devices();
  if (probe.count == 0) {
    EXPECT_FALSE(probe.why_none.empty());
    EXPECT_EQ(probe.why_none.find('\n'), std::string::npos);
  } else {
    EXPECT_TRUE(probe.why_none.empty());
  }
}

struct Shape {
  std::int64_t n_heads, n_kv_heads, head_dim, block;
  KvType kv;
};

// A cache of `len` tokens at positions 0..len-1 (every 7th evicted), its blocks copied to the device
// as the GPU holds them, and q for the last n_query positions.
struct DeviceCase {
  Shape s;
  KvCache cache;
  std::vector<float> q;
  std::vector<std::int32_t> query_positions;
  std::vector<cuda::DeviceBuffer> keys, values, positions;
  std::vector<cuda::DeviceKvBlock> blocks;
  cuda::DeviceBuffer block_table, q_device, query_positions_device, states_device;

  DeviceCase(const Shape& shape, std::int64_t len, std::int64_t n_query)
      : s(shape), cache(KvCacheShape{1, shape.n_kv_heads, shape.head_dim, shape.block, shape.kv}, len) {
    std::vector<std::int32_t> pos(static_cast<std::size_t>(len));
    std::iota(pos.begin(), pos.end(), 0);
    const auto slots = cache.append(pos);
    const auto k = test::random_floats(static_cast<std::size_t>(len * s.n_kv_heads * s.head_dim), 41);
    const auto v = test::random_floats(k.size(), 42);
    cache.store(0, slots, k.data(), v.data());
    for (std::int64_t t = 3; t < len - n_query; t += 7) cache.evict(t);
    q = test::random_floats(static_cast<std::size_t>(n_query * s.n_heads * s.head_dim), 43, 2.f);
    query_positions.assign(pos.end() - n_query, pos.end());

    const std::size_t element = kv_element_size(s.kv);
    for (const auto& b : cache.blocks()) {
      const std::size_t bytes = static_cast<std::size_t>(s.n_kv_heads * b->capacity() * s.head_dim) * element;
      keys.emplace_back(bytes).upload(b->keys(0, 0).data, bytes);
      values.emplace_back(bytes).upload(b->values(0, 0).data, bytes);
      positions.emplace_back(b->positions().size_bytes()).upload(b->positions().data(), b->positions().size_bytes());
      blocks.push_back({keys.back().data(), values.back().data(), static_cast<const std::int32_t*>(positions.back().data()),
                        static_cast<std::int32_t>(b->size()), static_cast<std::int32_t>(b->capacity())});
    }
    block_table = cuda::DeviceBuffer(blocks.size() * sizeof(cuda::DeviceKvBlock));
    block_table.upload(blocks.data(), blocks.size() * sizeof(cuda::DeviceKvBlock));
    q_device = cuda::DeviceBuffer(q.size() * sizeof(float));
    q_device.upload(q.data(), q.size() * sizeof(float));
    query_positions_device = cuda::DeviceBuffer(query_positions.size() * sizeof(std::int32_t));
    query_positions_device.upload(query_positions.data(), query_positions.size() * sizeof(std::int32_t));
    states_device = cuda::DeviceBuffer(state_floats() * sizeof(float));
  }

  std::size_t state_floats() const { return query_positions.size() * static_cast<std::size_t>(s.n_heads * (s.head_dim + 2)); }

  std::vector<float> cpu_states() const {
    std::vector<float> states(state_floats());
    const auto& scalar = kernels::select_kernels(kernels::KernelChoice::Scalar, kernels::detect_cpu_features());
    AttentionProblem p = test::attention_problem(scalar, s.n_heads, s.n_kv_heads, s.head_dim, q.data(), query_positions, cache, nullptr);
    p.states = states.data();
    streaming_attention(p);
    return states;
  }

  std::vector<float> gpu_states(std::int32_t kv_splits) {
    cuda::DeviceAttentionProblem p;
    p.n_heads = static_cast<std::int32_t>(s.n_heads);
    p.n_kv_heads = static_cast<std::int32_t>(s.n_kv_heads);
    p.head_dim = static_cast<std::int32_t>(s.head_dim);
    p.scale = 1.f / std::sqrt(static_cast<float>(s.head_dim));
    p.kv_element = s.kv == KvType::BF16 ? cuda::KvElement::BF16 : cuda::KvElement::F32;
    p.n_tokens = static_cast<std::int32_t>(query_positions.size());
    p.q = static_cast<const float*>(q_device.data());
    p.positions = static_cast<const std::int32_t*>(query_positions_device.data());
    p.blocks = static_cast<const cuda::DeviceKvBlock*>(block_table.data());
    p.n_blocks = static_cast<std::int32_t>(blocks.size());
    p.states = static_cast<float*>(states_device.data());
    p.kv_splits = kv_splits;
    cuda::AttentionWorkspace workspace;
    cuda::attend(p, workspace);
    std::vector<float> states(state_floats());
    states_device.download(states.data(), states.size() * sizeof(float));
    return states;
  }
};

// Every row's normalised output o / l, and m itself: equal to the CPU's within `tolerance` (the
// unnormalised o and l depend on the order the keys were summed in, o / l and m do not).
void expect_same_states(const std::vector<float>& gpu, const std::vector<float>& cpu, std::int64_t head_dim, float tolerance,
                        const std::string& where) {
  const std::int64_t width = head_dim + 2;
  ASSERT_EQ(gpu.size(), cpu.size());
  for (std::size_t r = 0; r < gpu.size() / static_cast<std::size_t>(width); ++r) {
    const OnlineSoftmaxState g(const_cast<float*>(gpu.data()) + r * static_cast<std::size_t>(width), head_dim);
    const OnlineSoftmaxState c(const_cast<float*>(cpu.data()) + r * static_cast<std::size_t>(width), head_dim);
    ASSERT_EQ(g.empty(), c.empty()) << where << " row " << r;
    if (c.empty()) continue;
    EXPECT_NEAR(g.m(), c.m(), tolerance) << where << " row " << r;
    std::vector<float> go(static_cast<std::size_t>(head_dim)), co(go.size());
    g.normalize_into(go.data());
    c.normalize_into(co.data());
    EXPECT_LE(test::max_abs_diff(go.data(), co.data(), go.size()), tolerance) << where << " row " << r;
  }
}

class CudaSdpa : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    const cuda::DeviceProbe probe = cuda::probe_devices();
    if (probe.count == 0) GTEST_SKIP() << "requires cuda: " << probe.why_none;
    cuda::use_device(0);
  }
};

// Property: decode (one query at the end of a 300-token cache) gives the CPU's state in every row,
// whether the blocks run in one CTA chain, in 3 splits merged on the device, or in as many as fill it.
TEST_P(CudaSdpa, DecodeStatesMatchTheCpu) {
  DeviceCase c(GetParam(), 300, 1);
  const auto cpu = c.cpu_states();
  for (std::int32_t splits : {1, 3, 0}) expect_same_states(c.gpu_states(splits), cpu, c.s.head_dim, 1e-5f, "splits " + std::to_string(splits));
}

// Property: prefill rows (the last 70 positions querying causally, some seeing keys only in the
// first blocks they share with others) give the CPU's states, evicted slots hidden alike.
TEST_P(CudaSdpa, PrefillStatesMatchTheCpu) {
  DeviceCase c(GetParam(), 200, 70);
  expect_same_states(c.gpu_states(0), c.cpu_states(), c.s.head_dim, 1e-5f, "prefill");
}

// bf16 KV: both sides read the same bf16 values (exact in f32), so the tolerance stays f32's.
INSTANTIATE_TEST_SUITE_P(Shapes, CudaSdpa,
                         ::testing::Values(Shape{8, 8, 64, 16, KvType::F32}, Shape{16, 8, 128, 64, KvType::F32}, Shape{32, 4, 128, 64, KvType::BF16},
                                           Shape{16, 2, 256, 32, KvType::BF16}, Shape{8, 1, 96, 24, KvType::F32}),
                         [](const auto& info) {
                           const Shape& s = info.param;
                           std::string name = "h";  // built by appends: gcc 12 warns (-Wrestrict) on "h" + std::string
                           for (const std::string& part : {std::to_string(s.n_heads), "_kv" + std::to_string(s.n_kv_heads),
                                                           "_d" + std::to_string(s.head_dim), "_b" + std::to_string(s.block)})
                             name += part;
                           return name + (s.kv == KvType::BF16 ? "_bf16" : "_f32");
                         });

}  // namespace
}  // namespace qwen3
