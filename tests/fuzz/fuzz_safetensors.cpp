// libFuzzer harness: the safetensors loader on arbitrary files (header length, JSON header, tensor
// table, data section). Property: a file either fails with qwen3::Error, or every tensor it yields
// lies inside the mapped file with nbytes = numel x element size, and no two tensors overlap.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "fuzz_support.hpp"
#include "qwen3/error.hpp"
#include "qwen3/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const qwen3::fuzz::TempFile file(data, size, ".safetensors");
  try {
    const qwen3::SafetensorsFile st = qwen3::SafetensorsFile::open(file.path());
    std::vector<std::pair<const std::byte*, const std::byte*>> spans;
    for (const qwen3::TensorView& t : st.tensors()) {
      if (t.nbytes != static_cast<std::size_t>(t.numel()) * qwen3::dtype_size(t.dtype)) qwen3::fuzz::property_failed("nbytes != numel x element size");
      spans.emplace_back(t.data, t.data + t.nbytes);
    }
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 0; i < spans.size(); ++i) {
      // Every tensor is inside the mapping: a read past it faults, which libFuzzer reports.
      volatile std::uint8_t sink = 0;
      for (const std::byte* p = spans[i].first; p < spans[i].second; p += 4096) sink = sink + static_cast<std::uint8_t>(*p);
      if (spans[i].second > spans[i].first) sink = sink + static_cast<std::uint8_t>(*(spans[i].second - 1));
      if (i + 1 < spans.size() && spans[i].second > spans[i + 1].first) qwen3::fuzz::property_failed("tensors overlap");
    }
    if (st.file_bytes() != size) qwen3::fuzz::property_failed("file_bytes != the file's size");
  } catch (const qwen3::Error&) {
  }
  return 0;
}
