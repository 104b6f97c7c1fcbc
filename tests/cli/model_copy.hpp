#pragma once
// Checkpoints made at test time: a copy of a fixture model (tests/data/models/..., never modified)
// with one file edited, for the cases that feed the command line a broken or mismatched checkpoint.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace qwen3::test::cli {

struct ModelEdit {
  enum class Kind {
    None,           // an exact copy
    Replace,        // `from` (which must occur in the file) becomes `to`
    Write,          // the file's whole content becomes `to`
    Remove,         // the file is deleted
    Truncate,       // only the first `keep_bytes` bytes stay (default: half the file)
    HeaderPastEof,  // safetensors: the 8-byte header length points 4096 bytes past the end of the file
    HeaderNotJson,  // safetensors: the header's opening '{' becomes '#'
  };
  Kind kind = Kind::None;
  std::string file = "config.json";
  std::string from, to;
  std::optional<std::uintmax_t> keep_bytes;
};

ModelEdit unedited();
ModelEdit replace_text(std::string file, std::string from, std::string to);
ModelEdit write_file(std::string file, std::string content);
ModelEdit remove_file(std::string file);
ModelEdit truncate_file(std::string file, std::optional<std::uintmax_t> keep_bytes = std::nullopt);
ModelEdit header_length_past_eof(std::string file);
ModelEdit header_not_json(std::string file);

// A fixture directory and what to change in its copy.
struct ModelCopy {
  std::filesystem::path fixture;
  ModelEdit edit;
};

// Copies `m.fixture` into `dest` (created; reference.safetensors is left out: only the tests read
// it) and applies the edit. Throws std::runtime_error when the edit does not apply as meant (the
// fixture changed), so that a case never passes on a copy that is not broken the way it says.
void make_model_copy(const ModelCopy& m, const std::filesystem::path& dest);

}  // namespace qwen3::test::cli
