#pragma once
// Token id lists on the command line: --verify reads "151644,872"; --verify and tokenize print
// "[151644, 872]". Their own file so the unit tests and tests/fuzz/fuzz_id_list reach them.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3::cli {

// Comma-separated decimal integers, spaces allowed around each -> ids, each in [0, INT32_MAX].
// Anything else (an empty item, a negative value, a stray character such as '+' or a tab, a value
// past INT32_MAX) throws qwen3::Error naming the item, on one line (a control byte in it shows as
// '?'). Syntax only: the range of the vocabulary is checked once the model is loaded. What
// format_id_list prints ("[1, 2, 3]"), less its brackets, reads back.
std::vector<std::int32_t> parse_id_list(std::string_view text);

// Python's list spelling, "[1, 2, 3]": what --verify and tokenize print.
inline std::string format_id_list(const std::vector<std::int32_t>& ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

}  // namespace qwen3::cli
