#include "model_copy.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace qwen3::test::cli {
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

// The little-endian u64 at the start of a safetensors file: the length of its JSON header.
std::uint64_t header_length(const std::string& bytes) {
  if (bytes.size() < 8) throw std::runtime_error("not a safetensors file: fewer than 8 bytes");
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  return v;
}

void set_header_length(std::string& bytes, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) bytes[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

void apply(const ModelEdit& e, const fs::path& target) {
  using Kind = ModelEdit::Kind;
  switch (e.kind) {
    case Kind::None:
      return;
    case Kind::Replace: {
      std::string text = read_bytes(target);
      const auto at = text.find(e.from);
      if (at == std::string::npos) throw std::runtime_error("'" + e.from + "' is not in " + target.string() + ": the fixture changed");
      text.replace(at, e.from.size(), e.to);
      write_bytes(target, text);
      return;
    }
    case Kind::Write:
      write_bytes(target, e.to);
      return;
    case Kind::Remove:
      if (!fs::remove(target)) throw std::runtime_error("cannot remove " + target.string());
      return;
    case Kind::Truncate: {
      const std::uintmax_t size = fs::file_size(target);
      const std::uintmax_t keep = e.keep_bytes.value_or(size / 2);
      if (keep >= size) throw std::runtime_error("truncating " + target.string() + " to " + std::to_string(keep) + " bytes keeps it whole");
      fs::resize_file(target, keep);
      return;
    }
    case Kind::HeaderPastEof: {
      std::string bytes = read_bytes(target);
      set_header_length(bytes, bytes.size() + 4096);
      write_bytes(target, bytes);
      return;
    }
    case Kind::HeaderNotJson: {
      std::string bytes = read_bytes(target);
      (void)header_length(bytes);
      if (bytes.size() < 9 || bytes[8] != '{') throw std::runtime_error(target.string() + ": the header does not start with '{'");
      bytes[8] = '#';
      write_bytes(target, bytes);
      return;
    }
  }
}

ModelEdit edit(ModelEdit::Kind kind, std::string file) {
  ModelEdit e;
  e.kind = kind;
  e.file = std::move(file);
  return e;
}

}  // namespace

ModelEdit unedited() { return {}; }

ModelEdit replace_text(std::string file, std::string from, std::string to) {
  ModelEdit e = edit(ModelEdit::Kind::Replace, std::move(file));
  e.from = std::move(from);
  e.to = std::move(to);
  return e;
}

ModelEdit write_file(std::string file, std::string content) {
  ModelEdit e = edit(ModelEdit::Kind::Write, std::move(file));
  e.to = std::move(content);
  return e;
}

ModelEdit remove_file(std::string file) { return edit(ModelEdit::Kind::Remove, std::move(file)); }

ModelEdit truncate_file(std::string file, std::optional<std::uintmax_t> keep_bytes) {
  ModelEdit e = edit(ModelEdit::Kind::Truncate, std::move(file));
  e.keep_bytes = keep_bytes;
  return e;
}

ModelEdit header_length_past_eof(std::string file) { return edit(ModelEdit::Kind::HeaderPastEof, std::move(file)); }

ModelEdit header_not_json(std::string file) { return edit(ModelEdit::Kind::HeaderNotJson, std::move(file)); }

void make_model_copy(const ModelCopy& m, const fs::path& dest) {
  if (!fs::is_directory(m.fixture)) throw std::runtime_error(m.fixture.string() + " is not a directory");
  fs::create_directories(dest);
  for (const fs::directory_entry& entry : fs::directory_iterator(m.fixture)) {
    if (entry.path().filename() == "reference.safetensors") continue;
    // Written afresh, not copied with its permissions: the copy must be writable even when the
    // checkout is read-only.
    write_bytes(dest / entry.path().filename(), read_bytes(entry.path()));
  }
  apply(m.edit, dest / m.edit.file);
}

}  // namespace qwen3::test::cli
