// Tests for MappedFile / SafetensorsFile / Checkpoint. Files are crafted in a temp dir by a tiny
// safetensors writer below, including hostile ones, which must raise qwen3::Error (never crash or
// read out of bounds: run under ASan/UBSan).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "io/io_test_util.hpp"
#include "qwen3/safetensors.hpp"

namespace {

using nlohmann::json;
using qwen3::Checkpoint;
using qwen3::DType;
using qwen3::SafetensorsFile;
using qwen3::TensorView;
using qwen3::test::TempDir;
using qwen3::test::write_file;

// ------------------------------------------------------------------------------------------------
// A minimal safetensors writer.

struct Entry {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;  // raw little-endian payload
};

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  std::string s(v.size() * sizeof(T), '\0');
  if (!v.empty()) std::memcpy(s.data(), v.data(), s.size());
  return s;
}

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// 8-byte length + header + data. The header is padded with spaces so the data section starts at
// `data_align_mod` modulo 8 (0: aligned like real files; 1: deliberately misaligned).
std::string pack(std::string header, const std::string& data, std::size_t data_align_mod = 0) {
  while ((8 + header.size()) % 8 != data_align_mod) header += ' ';
  return le64(header.size()) + header + data;
}

std::string make_file(const std::vector<Entry>& entries, const std::map<std::string, std::string>& metadata = {},
                      std::size_t data_align_mod = 0) {
  json h = json::object();
  std::string data;
  for (const auto& e : entries) {
    const std::size_t begin = data.size();
    data += e.bytes;
    h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {begin, data.size()}}};
  }
  if (!metadata.empty()) h["__metadata__"] = metadata;
  return pack(h.dump(), data, data_align_mod);
}

// A file holding one tensor whose header entry is the given raw JSON, with `data_bytes` of data.
std::string one_entry(const std::string& entry_json, std::size_t data_bytes) {
  return pack("{\"t\":" + entry_json + "}", std::string(data_bytes, '\x01'));
}

// A valid two-tensor file used for truncation tests.
std::string sample_file() {
  return make_file({{"a", "F32", {2, 3}, raw_bytes(std::vector<float>{1, 2, 3, 4, 5, 6})},
                    {"b", "I64", {2}, raw_bytes(std::vector<std::int64_t>{7, -8})}},
                   {{"format", "pt"}});
}

SafetensorsFile open_bytes(const TempDir& dir, const std::string& bytes, const char* name = "x.safetensors") {
  write_file(dir / name, bytes);
  return SafetensorsFile::open(dir / name);
}

// ------------------------------------------------------------------------------------------------
// Round trips

// Every supported dtype comes back with its dtype, shape, byte count and values.
TEST(Safetensors, RoundTripEveryDtype) {
  TempDir dir;
  const std::vector<float> f32{1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, -7.0f};
  const std::vector<std::uint16_t> f16{0x3C00, 0xC000, 0x7BFF, 0x0001};
  const std::vector<std::uint16_t> bf16{0x3F80, 0xBF80, 0x4049, 0x0000};
  const std::vector<std::int32_t> i32{1, -2, 2147483647};
  const std::vector<std::int64_t> i64{-9223372036854775807LL - 1, 42};
  // Widest elements first, as the reference writer orders them, so every tensor is aligned.
  auto f = open_bytes(dir, make_file({{"w.i64", "I64", {1, 2}, raw_bytes(i64)},
                                      {"w.f32", "F32", {2, 3}, raw_bytes(f32)},
                                      {"w.i32", "I32", {3}, raw_bytes(i32)},
                                      {"w.f16", "F16", {4}, raw_bytes(f16)},
                                      {"w.bf16", "BF16", {2, 1, 2}, raw_bytes(bf16)}}));
  ASSERT_EQ(f.tensors().size(), 5u);

  const TensorView* t = f.find("w.f32");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name, "w.f32");
  EXPECT_EQ(t->dtype, DType::F32);
  EXPECT_EQ(t->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(t->numel(), 6);
  EXPECT_EQ(t->nbytes, 24u);
  auto sf = t->as<float>();
  EXPECT_EQ(std::vector<float>(sf.begin(), sf.end()), f32);

  t = f.find("w.f16");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F16);
  EXPECT_EQ(t->shape, (std::vector<std::int64_t>{4}));
  auto sh = t->as<std::uint16_t>();
  EXPECT_EQ(std::vector<std::uint16_t>(sh.begin(), sh.end()), f16);

  t = f.find("w.bf16");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::BF16);
  EXPECT_EQ(t->shape, (std::vector<std::int64_t>{2, 1, 2}));
  EXPECT_EQ(t->numel(), 4);
  auto sb = t->as<std::uint16_t>();
  EXPECT_EQ(std::vector<std::uint16_t>(sb.begin(), sb.end()), bf16);

  t = f.find("w.i32");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::I32);
  auto si = t->as<std::int32_t>();
  EXPECT_EQ(std::vector<std::int32_t>(si.begin(), si.end()), i32);

  t = f.find("w.i64");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::I64);
  EXPECT_EQ(t->nbytes, 16u);
  auto sl = t->as<std::int64_t>();
  EXPECT_EQ(std::vector<std::int64_t>(sl.begin(), sl.end()), i64);

  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_EQ(f.path(), dir / "x.safetensors");
}

// Tensor data pointers point into the mapping at their data_offsets (no copies): the distance
// between two tensors equals the distance between their offsets.
TEST(Safetensors, DataPointsIntoTheMapping) {
  TempDir dir;
  const std::string bytes = sample_file();
  auto f = open_bytes(dir, bytes);
  EXPECT_EQ(f.file_bytes(), bytes.size());
  const TensorView* a = f.find("a");
  const TensorView* b = f.find("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b->data - a->data, 24);
  // The last tensor ends exactly at the end of the file.
  EXPECT_EQ(std::memcmp(b->data, bytes.data() + bytes.size() - 16, 16), 0);
}

// __metadata__ is exposed as a string map and is not a tensor.
TEST(Safetensors, MetadataIsAStringMap) {
  TempDir dir;
  auto f = open_bytes(dir, sample_file());
  EXPECT_EQ(f.metadata().size(), 1u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.find("__metadata__"), nullptr);
  EXPECT_EQ(f.tensors().size(), 2u);
}

// Scalars (shape []) have one element; zero-size tensors are allowed and never count as overlapping.
TEST(Safetensors, ScalarAndEmptyTensors) {
  TempDir dir;
  const std::string h = R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                        R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[2,2]},)"
                        R"("z":{"dtype":"I64","shape":[3,0],"data_offsets":[4,4]}})";
  auto f = open_bytes(dir, pack(h, raw_bytes(std::vector<float>{2.5f})));
  const TensorView* s = f.find("s");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->numel(), 1);
  EXPECT_EQ(s->as<float>()[0], 2.5f);
  const TensorView* e = f.find("e");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->numel(), 0);
  EXPECT_EQ(e->nbytes, 0u);
  EXPECT_TRUE(e->as<float>().empty());
  EXPECT_EQ(f.find("z")->numel(), 0);
}

// Alignment is not assumed: a file whose data section starts at an odd offset still opens and its
// bytes are right; as<T>() refuses a misaligned view with an Error instead of undefined behaviour.
TEST(Safetensors, MisalignedDataIsNotAssumedAligned) {
  TempDir dir;
  const std::vector<float> vals{1.0f, 2.0f, 3.0f};
  auto f = open_bytes(dir, make_file({{"m", "F32", {3}, raw_bytes(vals)}}, {}, /*data_align_mod=*/1));
  const TensorView* t = f.find("m");
  ASSERT_NE(t, nullptr);
  ASSERT_NE(reinterpret_cast<std::uintptr_t>(t->data) % alignof(float), 0u) << "test file should be misaligned";
  std::vector<float> copy(3);
  std::memcpy(copy.data(), t->data, t->nbytes);
  EXPECT_EQ(copy, vals);
  EXPECT_QWEN3_ERROR(t->as<float>(), "aligned");
}

// as<T>() with an element type of the wrong size throws.
TEST(Safetensors, AsWithWrongElementSizeThrows) {
  TempDir dir;
  auto f = open_bytes(dir, sample_file());
  EXPECT_QWEN3_ERROR(f.find("a")->as<std::uint16_t>(), "a: dtype F32");
  EXPECT_QWEN3_ERROR(f.find("b")->as<std::int32_t>(), "b: dtype I64");
  EXPECT_NO_THROW(f.find("a")->as<std::int32_t>());  // same element size: allowed by the contract
}

// ------------------------------------------------------------------------------------------------
// Hostile and broken files: every one raises qwen3::Error naming the file.

// Missing files and directories are Errors naming the path.
TEST(SafetensorsHostile, MissingFileOrDirectory) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(SafetensorsFile::open(dir / "nope.safetensors"), (dir / "nope.safetensors").string());
  EXPECT_QWEN3_ERROR(SafetensorsFile::open(dir.path()), dir.path().string());
}

// An empty file (mapped as {nullptr, 0}) is too short, not a crash.
TEST(SafetensorsHostile, EmptyFile) {
  TempDir dir;
  write_file(dir / "empty.safetensors", "");
  auto mf = qwen3::MappedFile::open(dir / "empty.safetensors");
  EXPECT_EQ(mf->data(), nullptr);
  EXPECT_EQ(mf->size(), 0u);
  EXPECT_QWEN3_ERROR(SafetensorsFile::open(dir / "empty.safetensors"), "empty.safetensors");
}

// Cutting a valid file at every byte position (inside the length, the header and the data) gives an
// Error each time, never a crash or an out-of-bounds read.
TEST(SafetensorsHostile, TruncatedAtEveryPosition) {
  TempDir dir;
  const std::string full = sample_file();
  ASSERT_NO_THROW(open_bytes(dir, full));
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(full.size()));
    EXPECT_QWEN3_ERROR(open_bytes(dir, full.substr(0, cut)), "x.safetensors");
  }
}

// A header length that points past the end of the file is refused.
TEST(SafetensorsHostile, HeaderLengthPastEof) {
  TempDir dir;
  const std::string full = sample_file();
  std::string bad = le64(full.size()) + full.substr(8);
  EXPECT_QWEN3_ERROR(open_bytes(dir, bad), "past the end of the file");
}

// Huge header lengths (2^63, 2^64-1) are refused without overflow in the bounds check.
TEST(SafetensorsHostile, HeaderLengthHuge) {
  TempDir dir;
  const std::string body = sample_file().substr(8);
  EXPECT_QWEN3_ERROR(open_bytes(dir, le64(std::uint64_t{1} << 63) + body), "header length 9223372036854775808");
  EXPECT_QWEN3_ERROR(open_bytes(dir, le64(~std::uint64_t{0}) + body), "past the end of the file");
  EXPECT_QWEN3_ERROR(open_bytes(dir, le64(~std::uint64_t{0} - 7) + body), "past the end of the file");
}

// A header that is not JSON, or is JSON but not an object, is refused.
TEST(SafetensorsHostile, HeaderNotAJsonObject) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack("this is not json", "")), "not valid JSON");
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack("{\"t\": {\"dtype\": \"F32\",", "")), "not valid JSON");
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack("[1, 2, 3]", "")), "expected an object");
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack("\"str\"", "")), "expected an object");
  EXPECT_QWEN3_ERROR(open_bytes(dir, le64(0)), "not valid JSON");
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack(std::string("{\"a\":\"\xff\xfe\"}"), "")), "not valid JSON");
  // An entry that is not an object.
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack(R"({"t": 5})", "")), "tensor t");
}

// An empty header object is a valid file with no tensors.
// Regression (found by tests/fuzz/fuzz_safetensors): a number past double's range in the header made
// nlohmann throw out_of_range, not parse_error, and the process ended in std::terminate.
TEST(SafetensorsHostile, NumberPastDoubleRangeIsAnError) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack("{\"a\": 1E799}", "")), "header is not valid JSON: number overflow");
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack("{\"t\": {\"dtype\": \"F32\", \"shape\": [1e400], \"data_offsets\": [0, 4]}}", "abcd")),
                     "header is not valid JSON: number overflow");
}

TEST(SafetensorsHostile, EmptyHeaderObjectIsValid) {
  TempDir dir;
  auto f = open_bytes(dir, pack("{}", ""));
  EXPECT_TRUE(f.tensors().empty());
}

// Unknown or unsupported dtypes (F64, I8, BOOL, lowercase), and non-string dtypes, are refused.
TEST(SafetensorsHostile, UnsupportedDtype) {
  TempDir dir;
  for (const char* dt : {"F64", "I8", "U8", "BOOL", "f32", "F8_E5M2", "Q8", ""}) {
    SCOPED_TRACE(dt);
    EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(std::string(R"({"dtype":")") + dt +
                                                     R"(","shape":[2],"data_offsets":[0,8]})",
                                                 8)),
                       "unsupported dtype");
  }
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})", 8)),
                     "tensor t: dtype");
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"shape":[2],"data_offsets":[0,8]})", 8)), "missing dtype");
}

// Shapes must be arrays of non-negative integers.
TEST(SafetensorsHostile, BadShape) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]})", 8)),
                     "negative dimension -1");
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,8]})", 8)),
                     "tensor t: shape");
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"F32","shape":"2","data_offsets":[0,8]})", 8)),
                     "tensor t: shape");
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"F32","shape":[null],"data_offsets":[0,8]})", 8)),
                     "tensor t: shape");
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"F32","data_offsets":[0,8]})", 8)), "missing shape");
  EXPECT_QWEN3_ERROR(
      open_bytes(dir, one_entry(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]})", 8)),
      "tensor t: shape");
}

// data_offsets [begin, end] with begin > end is refused.
TEST(SafetensorsHostile, OffsetsReversed) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})", 8)),
                     "reversed");
}

// data_offsets reaching past the data section are refused, even when the span size matches.
TEST(SafetensorsHostile, OffsetsPastEnd) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[4,12]})", 8)),
                     "run past the data section (8 bytes)");
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"F32","shape":[0],
                                                  "data_offsets":[18446744073709551615,18446744073709551615]})",
                                               8)),
                     "run past the data section");
}

// data_offsets must be exactly two non-negative integers.
TEST(SafetensorsHostile, OffsetsMalformed) {
  TempDir dir;
  for (const char* off : {"[0]", "[0,8,8]", "[-8,0]", "[0,8.0]", "\"0-8\"", "null", "[0,\"8\"]"}) {
    SCOPED_TRACE(off);
    EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(std::string(R"({"dtype":"F32","shape":[2],"data_offsets":)") +
                                                     off + "}",
                                                 8)),
                       "data_offsets");
  }
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"F32","shape":[2]})", 8)), "missing data_offsets");
}

// end - begin must equal numel * dtype_size.
TEST(SafetensorsHostile, SizeMismatch) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", 16)),
                     "needs 12");
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"BF16","shape":[2,2],"data_offsets":[0,16]})", 16)),
                     "span 16 bytes");
}

// Two tensors sharing bytes are refused, in either order of appearance.
TEST(SafetensorsHostile, OverlappingTensors) {
  TempDir dir;
  const std::string h1 = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack(h1, std::string(12, '\0'))), "overlap");
  const std::string h2 = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack(h2, std::string(12, '\0'))), "overlap");
  const std::string same = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack(same, std::string(8, '\0'))), "tensors a and b overlap");
}

// Element counts that overflow 64 bits (shape [2^40, 2^40]) or whose byte size overflows are refused.
TEST(SafetensorsHostile, NumelOverflow) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(
      open_bytes(dir, one_entry(R"({"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]})", 8)),
      "too many elements");
  // 2^62 I64 elements: numel fits, numel * 8 does not.
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"I64","shape":[4611686018427387904],"data_offsets":[0,8]})",
                                               8)),
                     "too many elements");
  // 2^61 F32: bytes fit in 64 bits but do not match the 8-byte span.
  EXPECT_QWEN3_ERROR(open_bytes(dir, one_entry(R"({"dtype":"F32","shape":[2305843009213693952],"data_offsets":[0,8]})",
                                               8)),
                     "tensor t");
  // A zero dimension makes the count 0 whatever the other dimensions are.
  EXPECT_NO_THROW(open_bytes(
      dir, one_entry(R"({"dtype":"F32","shape":[1099511627776,1099511627776,0],"data_offsets":[0,0]})", 8)));
}

// __metadata__ must be an object of strings.
TEST(SafetensorsHostile, BadMetadata) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack(R"({"__metadata__":{"format":1}})", "")), "__metadata__.format");
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack(R"({"__metadata__":["x"]})", "")), "__metadata__");
}

// Tensor names with control characters cannot break the one-line message rule.
TEST(SafetensorsHostile, MessagesStayOneLineWithHostileNames) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(open_bytes(dir, pack(R"({"evil\nname":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})",
                                          std::string(8, '\0'))),
                     "unsupported dtype");
}

// ------------------------------------------------------------------------------------------------
// Checkpoint directories

std::vector<float> iota_f(std::size_t n, float start) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}

void write_index(const TempDir& dir, const json& weight_map) {
  write_file(dir / "model.safetensors.index.json",
             json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump(2));
}

void write_two_shards(const TempDir& dir) {
  write_file(dir / "model-00001-of-00002.safetensors",
             make_file({{"embed.weight", "F32", {2, 3}, raw_bytes(iota_f(6, 0))},
                        {"norm.weight", "BF16", {3}, raw_bytes(std::vector<std::uint16_t>{0x3F80, 0x3F80, 0x3F80})}}));
  write_file(dir / "model-00002-of-00002.safetensors",
             make_file({{"lm_head.weight", "F16", {2, 3}, raw_bytes(std::vector<std::uint16_t>(6, 0x3C00))},
                        {"ids", "I32", {2}, raw_bytes(std::vector<std::int32_t>{1, 2})}}));
  write_index(dir, {{"embed.weight", "model-00001-of-00002.safetensors"},
                    {"norm.weight", "model-00001-of-00002.safetensors"},
                    {"lm_head.weight", "model-00002-of-00002.safetensors"},
                    {"ids", "model-00002-of-00002.safetensors"}});
}

// A directory with model.safetensors exposes all its tensors; require() checks dtype and shape.
TEST(Checkpoint, SingleFile) {
  TempDir dir;
  const std::string bytes = sample_file();
  write_file(dir / "model.safetensors", bytes);
  auto c = Checkpoint::open(dir.path());
  EXPECT_EQ(c.dir(), dir.path());
  EXPECT_EQ(c.tensor_names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.mapped_bytes(), bytes.size());
  const std::int64_t shape[] = {2, 3};
  const TensorView& a = c.require("a", shape);
  EXPECT_EQ(a.as<float>()[5], 6.0f);
  EXPECT_EQ(c.find("a"), &a);
  EXPECT_EQ(c.find("zzz"), nullptr);
}

// A sharded checkpoint (index + two shards) resolves every name to the right shard; mixed float
// dtypes across tensors are fine.
TEST(Checkpoint, ShardedIndexResolvesNames) {
  TempDir dir;
  write_two_shards(dir);
  auto c = Checkpoint::open(dir.path());
  EXPECT_EQ(c.tensor_names(), (std::vector<std::string>{"embed.weight", "ids", "lm_head.weight", "norm.weight"}));
  const std::int64_t s23[] = {2, 3};
  const std::int64_t s3[] = {3};
  EXPECT_EQ(c.require("embed.weight", s23).as<float>()[4], 4.0f);
  EXPECT_EQ(c.require("embed.weight", s23).dtype, DType::F32);
  EXPECT_EQ(c.require("lm_head.weight", s23).dtype, DType::F16);
  EXPECT_EQ(c.require("lm_head.weight", s23).as<std::uint16_t>()[0], 0x3C00);
  EXPECT_EQ(c.require("norm.weight", s3).dtype, DType::BF16);
  EXPECT_EQ(c.find("ids")->as<std::int32_t>()[1], 2);
  const auto size1 = std::filesystem::file_size(dir / "model-00001-of-00002.safetensors");
  const auto size2 = std::filesystem::file_size(dir / "model-00002-of-00002.safetensors");
  EXPECT_EQ(c.mapped_bytes(), size1 + size2);
}

// The index wins over a model.safetensors lying next to it.
TEST(Checkpoint, IndexTakesPrecedence) {
  TempDir dir;
  write_two_shards(dir);
  write_file(dir / "model.safetensors", sample_file());
  auto c = Checkpoint::open(dir.path());
  EXPECT_EQ(c.find("a"), nullptr);
  EXPECT_NE(c.find("embed.weight"), nullptr);
}

// An index naming a shard that does not exist is an Error naming that shard.
TEST(Checkpoint, IndexNamesMissingShard) {
  TempDir dir;
  write_two_shards(dir);
  std::filesystem::remove(dir / "model-00002-of-00002.safetensors");
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir.path()), "model-00002-of-00002.safetensors");
}

// An index mapping a tensor to a shard that does not hold it is an Error naming tensor and shard.
TEST(Checkpoint, IndexTensorNotInItsShard) {
  TempDir dir;
  write_two_shards(dir);
  write_index(dir, {{"embed.weight", "model-00002-of-00002.safetensors"},
                    {"lm_head.weight", "model-00002-of-00002.safetensors"}});
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir.path()),
                     "tensor embed.weight not found in shard model-00002-of-00002.safetensors");
}

// Malformed indexes: bad JSON, missing or mistyped weight_map, shard names that are paths.
TEST(Checkpoint, MalformedIndex) {
  TempDir dir;
  write_two_shards(dir);
  write_file(dir / "model.safetensors.index.json", "{\"weight_map\": {");
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir.path()), "model.safetensors.index.json: malformed JSON");
  write_file(dir / "model.safetensors.index.json", "{}");
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir.path()), "missing weight_map");
  write_file(dir / "model.safetensors.index.json", R"({"weight_map": []})");
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir.path()), "weight_map");
  write_index(dir, {{"embed.weight", 3}});
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir.path()), "weight_map.embed.weight");
  write_index(dir, {{"embed.weight", "../model-00001-of-00002.safetensors"}});
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir.path()), "not a plain file name");
  write_index(dir, {{"embed.weight", "/etc/passwd"}});
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir.path()), "not a plain file name");
}

// A broken shard makes the whole checkpoint fail with the shard's own Error.
TEST(Checkpoint, BrokenShardPropagates) {
  TempDir dir;
  write_two_shards(dir);
  write_file(dir / "model-00001-of-00002.safetensors", "garbage");
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir.path()), "model-00001-of-00002.safetensors");
}

// Missing directory, a plain file, or a directory with neither file: Errors naming the directory.
TEST(Checkpoint, BadDirectory) {
  TempDir dir;
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir / "absent"), (dir / "absent").string());
  write_file(dir / "file", "x");
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir / "file"), "not a directory");
  EXPECT_QWEN3_ERROR(Checkpoint::open(dir.path()),
                     dir.path().string() + ": no model.safetensors or model.safetensors.index.json");
}

// require(): missing tensor, non-float dtype and wrong shape each give the documented message.
TEST(Checkpoint, RequireErrors) {
  TempDir dir;
  write_file(dir / "model.safetensors",
             make_file({{"model.layers.0.self_attn.q_proj.weight", "BF16", {512, 64},
                         std::string(512 * 64 * 2, '\0')},
                        {"ids", "I64", {2}, raw_bytes(std::vector<std::int64_t>{1, 2})}}));
  auto c = Checkpoint::open(dir.path());
  const std::int64_t want[] = {1024, 64};
  EXPECT_QWEN3_ERROR(c.require("nope", want), dir.path().string() + ": tensor nope not found");
  const std::int64_t two[] = {2};
  EXPECT_QWEN3_ERROR(c.require("ids", two), "ids: dtype I64");
  EXPECT_QWEN3_ERROR(c.require("model.layers.0.self_attn.q_proj.weight", want),
                     "model.layers.0.self_attn.q_proj.weight: shape [512, 64] in the checkpoint, config.json "
                     "implies [1024, 64]");
  const std::int64_t rank1[] = {512 * 64};
  EXPECT_QWEN3_ERROR(c.require("model.layers.0.self_attn.q_proj.weight", rank1), "implies [32768]");
  const std::int64_t ok[] = {512, 64};
  EXPECT_NO_THROW(c.require("model.layers.0.self_attn.q_proj.weight", ok));
}

// Checkpoints can be moved and copied; lookups keep working after the source is gone.
TEST(Checkpoint, MoveAndCopyKeepLookupsValid) {
  TempDir dir;
  write_two_shards(dir);
  std::vector<Checkpoint> v;
  v.push_back(Checkpoint::open(dir.path()));
  for (int i = 0; i < 8; ++i) v.push_back(Checkpoint::open(dir.path()));  // reallocations move elements
  Checkpoint moved = std::move(v[0]);
  std::optional<Checkpoint> copy;
  {
    Checkpoint tmp = Checkpoint::open(dir.path());
    copy.emplace(tmp);
  }
  v.clear();
  const std::int64_t s23[] = {2, 3};
  EXPECT_EQ(moved.require("embed.weight", s23).as<float>()[5], 5.0f);
  EXPECT_EQ(copy->require("embed.weight", s23).as<float>()[5], 5.0f);
  EXPECT_EQ(copy->find("ids")->as<std::int32_t>()[0], 1);
}

}  // namespace
