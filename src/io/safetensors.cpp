// Memory-mapped safetensors files and Hugging Face checkpoint directories.
//
// Layout of a safetensors file: an 8-byte little-endian u64 N, then N bytes of JSON header, then
// the data section. Every header entry is validated against the data section's size before a
// TensorView pointing into the mapping is handed out, so hostile or truncated files raise
// qwen3::Error instead of reading out of bounds.
#include "qwen3/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "io/json_messages.hpp"
#include "io/mapping_guard.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {
namespace {

using json = nlohmann::json;
using io::json_type;
using io::short_parse_reason;

// Headers larger than this are refused (the reference implementation uses the same 100 MB cap);
// real checkpoints have headers of a few hundred KB.
constexpr std::uint64_t kMaxHeaderBytes = 100u * 1000u * 1000u;

[[noreturn]] void fail(const std::string& msg) { throw Error(one_line(msg)); }

std::string shape_str(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string read_text_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail(path.string() + ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path.string() + ": read error");
  return ss.str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// MappedFile

std::shared_ptr<const MappedFile> MappedFile::open(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path.string() + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(path.string() + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path.string() + ": not a regular file");
  }
  std::shared_ptr<MappedFile> mf(new MappedFile());
  if (st.st_size > 0) {
    const auto size = static_cast<std::size_t>(st.st_size);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      fail(path.string() + ": cannot mmap: " + std::strerror(err));
    }
    mf->data_ = static_cast<const std::byte*>(p);
    mf->size_ = size;
    register_mapping(p, size, path.string());
  }
  ::close(fd);  // the mapping keeps the file alive
  return mf;
}

MappedFile::~MappedFile() {
  if (data_ == nullptr) return;
  unregister_mapping(data_);
  ::munmap(const_cast<std::byte*>(data_), size_);
}

// ---------------------------------------------------------------------------------------------
// TensorView

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) throw Error(one_line(name + ": negative dimension in shape " + shape_str(shape)));
    if (__builtin_mul_overflow(n, d, &n)) {
      throw Error(one_line(name + ": shape " + shape_str(shape) + " has too many elements"));
    }
  }
  return n;
}

template <class T>
std::span<const T> TensorView::as() const {
  if (sizeof(T) != dtype_size(dtype)) {
    fail(name + ": dtype " + std::string(dtype_name(dtype)) + " has " + std::to_string(dtype_size(dtype)) +
         "-byte elements, requested a " + std::to_string(sizeof(T)) + "-byte type");
  }
  if (nbytes == 0) return {};
  if (reinterpret_cast<std::uintptr_t>(data) % alignof(T) != 0) {
    fail(name + ": data is not " + std::to_string(alignof(T)) +
         "-byte aligned in the file; copy it out instead of viewing it in place");
  }
  return {reinterpret_cast<const T*>(data), nbytes / sizeof(T)};
}

template std::span<const float> TensorView::as<float>() const;
template std::span<const std::uint16_t> TensorView::as<std::uint16_t>() const;
template std::span<const std::int32_t> TensorView::as<std::int32_t>() const;
template std::span<const std::int64_t> TensorView::as<std::int64_t>() const;

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile f;
  f.path_ = path;
  f.file_ = MappedFile::open(path);
  const std::string file = path.string();
  const std::byte* base = f.file_->data();
  const std::size_t size = f.file_->size();

  if (size < 8) {
    fail(file + ": file is " + std::to_string(size) +
         " bytes, too short for a safetensors file (needs an 8-byte header length)");
  }
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<std::uint8_t>(base[i]);
  if (header_len > size - 8) {
    fail(file + ": header length " + std::to_string(header_len) + " runs past the end of the file (" +
         std::to_string(size) + " bytes)");
  }
  if (header_len > kMaxHeaderBytes) {
    fail(file + ": header length " + std::to_string(header_len) + " exceeds the " +
         std::to_string(kMaxHeaderBytes) + "-byte limit");
  }
  const auto* hdr = reinterpret_cast<const char*>(base + 8);
  json header;
  try {
    header = json::parse(hdr, hdr + header_len);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number past double's range
    fail(file + ": header is not valid JSON: " + short_parse_reason(e));
  }
  if (!header.is_object()) fail(file + ": header is a JSON " + json_type(header) + ", expected an object");

  const std::byte* data = base + 8 + header_len;
  const std::uint64_t data_size = size - 8 - header_len;

  struct Span {
    std::uint64_t begin, end;
    std::size_t idx;
  };
  std::vector<Span> spans;
  f.tensors_.reserve(header.size());

  for (const auto& [key, entry] : header.items()) {
    if (key == "__metadata__") {
      if (!entry.is_object()) fail(file + ": __metadata__ is a " + json_type(entry) + ", expected an object");
      for (const auto& [mk, mv] : entry.items()) {
        if (!mv.is_string()) {
          fail(file + ": __metadata__." + mk + " is a " + json_type(mv) + ", expected a string");
        }
        f.metadata_.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    const std::string where = file + ": tensor " + key;
    if (!entry.is_object()) fail(where + ": entry is a " + json_type(entry) + ", expected an object");

    TensorView t;
    t.name = key;

    auto dt = entry.find("dtype");
    if (dt == entry.end()) fail(where + ": missing dtype");
    if (!dt->is_string()) fail(where + ": dtype is a " + std::string(json_type(*dt)) + ", expected a string");
    const auto& dts = dt->get_ref<const std::string&>();
    auto parsed = parse_dtype(dts);
    if (!parsed) fail(where + ": unsupported dtype \"" + dts + "\" (supported: F32, F16, BF16, F8_E4M3, I32, I64)");
    t.dtype = *parsed;

    auto sh = entry.find("shape");
    if (sh == entry.end()) fail(where + ": missing shape");
    if (!sh->is_array()) fail(where + ": shape is a " + std::string(json_type(*sh)) + ", expected an array");
    std::uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : *sh) {
      if (d.is_number_integer() && !d.is_number_unsigned()) {
        fail(where + ": shape has negative dimension " + std::to_string(d.get<std::int64_t>()));
      }
      if (!d.is_number_unsigned()) {
        fail(where + ": shape has a " + std::string(json_type(d)) + " entry, expected non-negative integers");
      }
      const auto v = d.get<std::uint64_t>();
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(where + ": shape dimension " + std::to_string(v) + " is too large");
      }
      t.shape.push_back(static_cast<std::int64_t>(v));
      if (__builtin_mul_overflow(numel, v, &numel)) overflow = true;
    }
    std::uint64_t nbytes = 0;
    if (overflow || numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        __builtin_mul_overflow(numel, static_cast<std::uint64_t>(dtype_size(t.dtype)), &nbytes)) {
      // A zero dimension anywhere makes the product 0 regardless of order; only flag real overflow.
      bool has_zero = std::find(t.shape.begin(), t.shape.end(), 0) != t.shape.end();
      if (!has_zero) fail(where + ": shape " + shape_str(t.shape) + " has too many elements");
      nbytes = 0;
    }

    auto off = entry.find("data_offsets");
    if (off == entry.end()) fail(where + ": missing data_offsets");
    if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned()) {
      fail(where + ": data_offsets must be [begin, end] with non-negative integers");
    }
    const auto begin = (*off)[0].get<std::uint64_t>();
    const auto end = (*off)[1].get<std::uint64_t>();
    if (begin > end) {
      fail(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] are reversed");
    }
    if (end > data_size) {
      fail(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
           "] run past the data section (" + std::to_string(data_size) + " bytes)");
    }
    if (end - begin != nbytes) {
      fail(where + ": data_offsets span " + std::to_string(end - begin) + " bytes, but shape " +
           shape_str(t.shape) + " of " + std::string(dtype_name(t.dtype)) + " needs " + std::to_string(nbytes));
    }
    t.data = data + begin;
    t.nbytes = static_cast<std::size_t>(nbytes);
    if (nbytes > 0) spans.push_back({begin, end, f.tensors_.size()});
    f.tensors_.push_back(std::move(t));
  }

  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin < spans[i - 1].end) {
      fail(file + ": tensors " + f.tensors_[spans[i - 1].idx].name + " and " + f.tensors_[spans[i].idx].name +
           " overlap in the data section");
    }
  }
  return f;
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::size_t SafetensorsFile::file_bytes() const { return file_ ? file_->size() : 0; }

// ---------------------------------------------------------------------------------------------
// Checkpoint

Checkpoint Checkpoint::open(const std::filesystem::path& dir) {
  Checkpoint c;
  c.dir_ = dir;
  const std::string d = dir.string();
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) fail(d + ": checkpoint directory does not exist");
  if (!std::filesystem::is_directory(dir, ec)) fail(d + ": not a directory");

  const auto index_path = dir / "model.safetensors.index.json";
  const auto single_path = dir / "model.safetensors";
  if (std::filesystem::exists(index_path, ec)) {
    const std::string ip = index_path.string();
    json index;
    try {
      index = json::parse(read_text_file(index_path));
    } catch (const json::exception& e) {  // parse_error, and out_of_range for a number past double's range
      fail(ip + ": malformed JSON: " + short_parse_reason(e));
    }
    if (!index.is_object()) fail(ip + ": expected a JSON object");
    auto wm = index.find("weight_map");
    if (wm == index.end()) fail(ip + ": missing weight_map");
    if (!wm->is_object()) fail(ip + ": weight_map is a " + std::string(json_type(*wm)) + ", expected an object");

    std::map<std::string, std::size_t> shard_idx;
    for (const auto& [name, shard] : wm->items()) {
      if (!shard.is_string()) {
        fail(ip + ": weight_map." + name + " is a " + json_type(shard) + ", expected a shard file name");
      }
      const auto& s = shard.get_ref<const std::string&>();
      const std::filesystem::path sp(s);
      if (s.empty() || sp.filename() != sp || s == "." || s == "..") {
        fail(ip + ": weight_map." + name + ": shard \"" + s + "\" is not a plain file name");
      }
      auto it = shard_idx.find(s);
      if (it == shard_idx.end()) {
        c.files_.push_back(SafetensorsFile::open(dir / sp));
        it = shard_idx.emplace(s, c.files_.size() - 1).first;
      }
      const SafetensorsFile& sf = c.files_[it->second];
      const TensorView* t = sf.find(name);
      if (t == nullptr) fail(ip + ": tensor " + name + " not found in shard " + s);
      c.index_.emplace(name, std::make_pair(it->second, static_cast<std::size_t>(t - sf.tensors().data())));
    }
  } else if (std::filesystem::exists(single_path, ec)) {
    c.files_.push_back(SafetensorsFile::open(single_path));
    const auto& ts = c.files_[0].tensors();
    for (std::size_t i = 0; i < ts.size(); ++i) c.index_.emplace(ts[i].name, std::make_pair(std::size_t{0}, i));
  } else {
    fail(d + ": no model.safetensors or model.safetensors.index.json");
  }
  return c;
}

const TensorView* Checkpoint::find(std::string_view name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return nullptr;
  return &files_[it->second.first].tensors()[it->second.second];
}

const TensorView& Checkpoint::require(std::string_view name, std::span<const std::int64_t> shape) const {
  const TensorView* t = find(name);
  if (t == nullptr) fail(dir_.string() + ": tensor " + std::string(name) + " not found");
  if (!is_float(t->dtype) && t->dtype != DType::F8_E4M3) {
    fail(std::string(name) + ": dtype " + std::string(dtype_name(t->dtype)) +
         " in the checkpoint, expected a float type (F32, F16, BF16 or F8_E4M3)");
  }
  if (!std::equal(t->shape.begin(), t->shape.end(), shape.begin(), shape.end())) {
    fail(std::string(name) + ": shape " + shape_str(t->shape) + " in the checkpoint, config.json implies " +
         shape_str(shape));
  }
  return *t;
}

std::vector<std::string> Checkpoint::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& [name, loc] : index_) names.push_back(name);
  return names;
}

std::size_t Checkpoint::mapped_bytes() const {
  std::size_t total = 0;
  for (const auto& f : files_) total += f.file_bytes();
  return total;
}

}  // namespace qwen3
