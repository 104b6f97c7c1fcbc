// Where the weights live: the huge-page copy, and the file mapping when the copy cannot be had.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <omp.h>

#include <cstdint>
#include <fstream>
#include <string>

#include <unistd.h>

#include "model/weights.hpp"
#include "qwen3/config.hpp"
#include "test_support.hpp"

namespace qwen3 {
namespace {

const std::filesystem::path kModel = test::data_dir() / ".." / ".." / "models" / "qwen3-gutenberg-11m";

// Bytes of address space this process uses now (/proc/self/statm, first field, in pages).
std::size_t address_space_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  statm >> pages;
  return pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Whether a loaded matrix is the checkpoint's own tensor (a view into the mapping), not a copy.
bool is_view(const kernels::MatrixView& m, const Checkpoint& ckpt, const std::string& name) {
  const TensorView* t = ckpt.find(name);
  return t && m.data == static_cast<const void*>(t->data);
}

// Property: a huge-page copy that the address-space limit (ulimit -v) refuses leaves the weights as
// views into the file mapping (storage == nullptr) instead of failing the load; the same load without
// the limit copies them.
TEST(Weights, CopyRefusedLeavesViewsIntoTheMapping) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "requires no-asan: AddressSanitizer reserves terabytes of address space, so an RLIMIT_AS limit cannot be set under it";
#endif
  const Qwen3Config cfg = Qwen3Config::from_file(kModel / "config.json");
  const Checkpoint ckpt = Checkpoint::open(kModel);
  const Qwen3Weights copied = load_weights(ckpt, cfg, WeightPlacement::Copy);
  ASSERT_NE(copied.storage, nullptr);
  ASSERT_GT(copied.matrix_bytes, std::size_t(4) << 20) << "the copy must be large enough to refuse on its own";
  EXPECT_FALSE(is_view(copied.layers[0].q_proj, ckpt, "model.layers.0.self_attn.q_proj.weight"));

#pragma omp parallel
  { (void)omp_get_thread_num(); }  // the OpenMP thread pool (and its stacks) exists before the limit
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_AS, &old), 0);
  rlimit tight = old;
  tight.rlim_cur = address_space_bytes() + copied.matrix_bytes / 2;  // room for everything but the copy
  ASSERT_EQ(setrlimit(RLIMIT_AS, &tight), 0);
  Qwen3Weights mapped;
  std::string error;
  try {
    mapped = load_weights(ckpt, cfg, WeightPlacement::Copy);
  } catch (const std::exception& e) {
    error = e.what();
  }
  ASSERT_EQ(setrlimit(RLIMIT_AS, &old), 0);
  ASSERT_EQ(error, "");
  EXPECT_EQ(mapped.storage, nullptr);
  EXPECT_TRUE(is_view(mapped.layers[0].q_proj, ckpt, "model.layers.0.self_attn.q_proj.weight"));
  EXPECT_TRUE(is_view(mapped.embed_tokens, ckpt, "model.embed_tokens.weight"));
}

}  // namespace
}  // namespace qwen3
