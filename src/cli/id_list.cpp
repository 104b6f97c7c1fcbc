#include "cli/id_list.hpp"

#include <charconv>
#include <string>

#include "qwen3/error.hpp"

namespace qwen3::cli {
namespace {

// The item as an error message shows it: a control byte (a typed newline, tab, ...) as '?', so the
// message stays one line and "1\t" does not read as '1'.
std::string printable(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

}  // namespace

std::vector<std::int32_t> parse_id_list(std::string_view text) {
  std::vector<std::int32_t> ids;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string item(text.substr(start, end - start));
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    const std::string shown = printable(item);
    long long v = 0;
    const auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size())
      throw Error("--verify: '" + shown + "' is not a token id (expected comma-separated integers)");
    if (v < 0) throw Error("--verify: token id " + shown + " is negative");
    if (v > INT32_MAX) throw Error("--verify: token id " + shown + " is out of range");
    ids.push_back(static_cast<std::int32_t>(v));
    start = end + 1;
  }
  return ids;
}

}  // namespace qwen3::cli
