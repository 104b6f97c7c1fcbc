#pragma once
// Memory-mapped, validated safetensors files and Hugging Face checkpoint directories.
// Every offset in a header is checked against the file size before any tensor is exposed, so a
// hostile or truncated file raises qwen3::Error instead of reading out of bounds.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qwen3/dtype.hpp"

namespace qwen3 {

// Read-only mmap of a whole file (RAII). Empty files map to {nullptr, 0}.
class MappedFile {
 public:
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// A tensor inside a mapped file. Non-owning: valid while its SafetensorsFile/Checkpoint lives.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const std::byte* data = nullptr;
  std::size_t nbytes = 0;

  std::int64_t numel() const;
  // Typed access; throws qwen3::Error if sizeof(T) does not match the dtype's element size.
  template <class T>
  std::span<const T> as() const;
};

class SafetensorsFile {
 public:
  // Throws qwen3::Error (naming the file) on: missing file, file shorter than 8 bytes, header length
  // past the end of the file, header that is not a JSON object, unknown dtype, shape/offset mismatch
  // (end-begin != numel*dtype_size), offsets past the data section, overlapping tensors.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(std::string_view name) const;  // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return path_; }
  std::size_t file_bytes() const;

 private:
  std::filesystem::path path_;
  std::shared_ptr<const MappedFile> file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A Hugging Face checkpoint directory: model.safetensors, or model.safetensors.index.json with
// its shards (every shard named in the index must exist and hold the tensors the index says).
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& dir);

  const TensorView* find(std::string_view name) const;  // nullptr if absent
  // The tensor, after checking it exists, has a float dtype and exactly `shape`; otherwise throws
  // qwen3::Error like "model.layers.0.self_attn.q_proj.weight: shape [512, 64] in the checkpoint,
  // config.json implies [1024, 64]".
  const TensorView& require(std::string_view name, std::span<const std::int64_t> shape) const;
  std::vector<std::string> tensor_names() const;
  std::size_t mapped_bytes() const;  // sum of file sizes mapped
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::vector<SafetensorsFile> files_;
  // name -> (index into files_, index into that file's tensors()): stays valid across copies and moves.
  std::map<std::string, std::pair<std::size_t, std::size_t>, std::less<>> index_;
};

}  // namespace qwen3
