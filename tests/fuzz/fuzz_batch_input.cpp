// libFuzzer harness: the two files of `qwen3_mpi batch` (src/cli/batch_input.cpp) on arbitrary bytes.
// Properties:
//  - parse_batch_line never throws; it gives a request or a one-line error, never both, and always an
//    id (the line's own or "line-N"); an accepted request has exactly one prompt form, a non-empty
//    prompt, ids in [0, INT32_MAX], max_tokens >= 1 and sampling values in their ranges;
//  - scan_results never throws; the prefix it keeps ends at a newline (or is empty), every id it
//    reports done comes from a line of that prefix (no more ids than lines), and scanning the prefix
//    alone gives the same;
//  - the input cut at any point and scanned keeps only whole lines of it.
#include <algorithm>
#include <cstdint>
#include <string>

#include "cli/batch_input.hpp"
#include "fuzz_support.hpp"
#include "qwen3/error.hpp"

namespace {

using qwen3::fuzz::property_failed;

void check_line(const std::string& text) {
  qwen3::cli::ParsedBatchLine p;
  try {
    p = qwen3::cli::parse_batch_line(text, 7);
  } catch (...) {
    property_failed("parse_batch_line threw");
  }
  if (p.id.empty()) property_failed("no id");
  if (p.line.has_value() == !p.error.empty()) property_failed("a request and an error at once, or neither");
  if (!p.error.empty() && qwen3::one_line(p.error) != p.error) property_failed("the error is not one printable line");
  if (!p.line) return;
  const auto& l = *p.line;
  const int forms = (l.text ? 1 : 0) + (l.ids ? 1 : 0) + (l.messages ? 1 : 0);
  if (forms != 1) property_failed("not exactly one prompt form");
  if ((l.text && l.text->empty()) || (l.ids && l.ids->empty()) || (l.messages && l.messages->empty())) property_failed("an empty prompt");
  if (l.ids)
    for (std::int32_t id : *l.ids)
      if (id < 0) property_failed("a negative id");
  if (l.max_tokens && *l.max_tokens < 1) property_failed("max_tokens < 1");
  if (l.top_p && !(*l.top_p >= 0.f && *l.top_p <= 1.f)) property_failed("top_p outside [0, 1]");
  if (l.temperature && !(*l.temperature >= 0.f)) property_failed("negative temperature");
}

void check_scan(const std::string& bytes) {
  qwen3::cli::ResumeState s;
  try {
    s = qwen3::cli::scan_results(bytes);
  } catch (...) {
    property_failed("scan_results threw");
  }
  if (s.complete_bytes > bytes.size()) property_failed("the kept prefix is longer than the file");
  if (s.complete_bytes > 0 && bytes[s.complete_bytes - 1] != '\n') property_failed("the kept prefix does not end a line");
  const std::string prefix = bytes.substr(0, s.complete_bytes);
  const auto again = qwen3::cli::scan_results(prefix);
  if (again.done != s.done || again.complete_bytes != s.complete_bytes) property_failed("the kept prefix scans differently");
  if (s.done.size() > static_cast<std::size_t>(std::count(prefix.begin(), prefix.end(), '\n')))
    property_failed("more done ids than kept lines");
  const auto cut = qwen3::cli::scan_results(bytes.substr(0, bytes.size() / 2));
  if (cut.complete_bytes > bytes.size() / 2) property_failed("a cut file kept more than it has");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  check_line(bytes);
  check_scan(bytes);
  return 0;
}
