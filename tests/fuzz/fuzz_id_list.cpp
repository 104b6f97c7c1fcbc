// libFuzzer harness: the --verify id list (src/cli/id_list.cpp) on arbitrary bytes. Properties:
//  - parse_id_list either returns ids or throws qwen3::Error, never another exception, and the
//    message is one printable line (one_line leaves it as it is);
//  - an accepted list holds only digits, spaces, commas (and the '-' of "-0"), one id per comma-
//    separated item, each in [0, INT32_MAX], and reads back the same from what format_id_list
//    prints (less its brackets) and from the bare "a,b,c";
//  - the input read as int32 values, printed, parses back to those values when none is negative,
//    and is refused with qwen3::Error when one is.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cli/id_list.hpp"
#include "fuzz_support.hpp"
#include "qwen3/error.hpp"

namespace {

using qwen3::fuzz::property_failed;
using Ids = std::vector<std::int32_t>;

// parse_id_list(text), with the exception contract checked; false when it refused the text.
bool parse(const std::string& text, Ids& ids) {
  try {
    ids = qwen3::cli::parse_id_list(text);
    return true;
  } catch (const qwen3::Error& e) {
    const std::string msg = e.what();
    if (msg.empty() || qwen3::one_line(msg) != msg) property_failed("the error message is not one printable line");
    return false;
  } catch (...) {
    property_failed("parse_id_list threw something other than qwen3::Error");
  }
}

std::string join(const Ids& ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

Ids reparse(const std::string& text) {
  Ids ids;
  if (!parse(text, ids)) property_failed("a printed id list was refused");
  return ids;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Ids ids;
  if (parse(text, ids)) {
    if (text.find_first_not_of("0123456789 ,-") != std::string::npos) property_failed("accepted a character outside digits, spaces, commas");
    if (ids.size() != static_cast<std::size_t>(std::count(text.begin(), text.end(), ',')) + 1)
      property_failed("accepted list: not one id per comma-separated item");
    for (std::int32_t id : ids)
      if (id < 0) property_failed("accepted a negative id");
    const std::string printed = qwen3::cli::format_id_list(ids);
    if (reparse(printed.substr(1, printed.size() - 2)) != ids) property_failed("format_id_list's output reads back different ids");
    if (reparse(join(ids)) != ids) property_failed("the bare comma-separated list reads back different ids");
  }
  // The bytes as int32 values: every value of the type, printed as the CLI prints them.
  Ids values(size / 4);
  if (!values.empty()) std::memcpy(values.data(), data, values.size() * 4);
  if (!values.empty()) {
    const std::string printed = qwen3::cli::format_id_list(values);
    Ids back;
    const bool ok = parse(printed.substr(1, printed.size() - 2), back);
    const bool negative = std::any_of(values.begin(), values.end(), [](std::int32_t v) { return v < 0; });
    if (ok == negative) property_failed(negative ? "a printed negative id was accepted" : "printed non-negative ids were refused");
    if (ok && back != values) property_failed("printed ids read back different");
  }
  return 0;
}
