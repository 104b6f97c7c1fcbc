#include "cli_checks.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cstdio>
#include <cmath>
#include <regex>
#include <sstream>

namespace qwen3::test::cli {
namespace {

using nlohmann::json;

bool matches(const std::string& line, const std::string& re) { return std::regex_search(line, std::regex(re)); }

bool is_finite_number(const json& v) { return v.is_number() && std::isfinite(v.get<double>()); }

}  // namespace

std::optional<Ids> json_ids(const json& j, const char* key, Findings& f) {
  if (!j.contains(key) || !j[key].is_array()) {
    f.add(std::string(key) + " is missing or not an array");
    return std::nullopt;
  }
  Ids ids;
  for (const json& v : j[key]) {
    if (!v.is_number_integer()) {
      f.add(std::string(key) + " holds " + v.dump() + ", not an integer");
      return std::nullopt;
    }
    ids.push_back(v.get<std::int64_t>());
  }
  return ids;
}

namespace {

// Every key in `keys` is present in `j` and passes `ok`; the finding names the key and `what`.
template <class Pred>
bool require_fields(const json& j, std::initializer_list<const char*> keys, Pred ok, const char* what, const std::string& where,
                    Findings& f) {
  bool all = true;
  for (const char* k : keys)
    if (!j.contains(k) || !ok(j[k])) {
      f.add(where + k + (j.contains(k) ? " is " + j[k].dump() + ", expected " : " is missing, expected ") + what);
      all = false;
    }
  return all;
}

void check_step(const json& step, std::size_t i, std::int64_t generated_id, const GenerateExpect& e, Findings& f) {
  const std::string where = "steps[" + std::to_string(i) + "]";
  if (!step.is_object() || !step.contains("id") || !step["id"].is_number_integer() || !step.contains("logprob") ||
      !is_finite_number(step["logprob"]) || !step.contains("top") || !step["top"].is_array()) {
    f.add(where + " is not {id, logprob, top}: " + step.dump());
    return;
  }
  const auto id = step["id"].get<std::int64_t>();
  const double lp = step["logprob"].get<double>();
  if (id != generated_id) f.add(where + ".id " + std::to_string(id) + " != generated_ids[" + std::to_string(i) + "] " + std::to_string(generated_id));
  if (lp > 0) f.add(where + ".logprob " + std::to_string(lp) + " > 0");
  const json& top = step["top"];
  if (top.size() != 5) {
    f.add(where + ".top has " + std::to_string(top.size()) + " entries, expected 5");
    return;
  }
  Ids top_ids;
  double previous = 0;
  for (std::size_t k = 0; k < top.size(); ++k) {
    const json& pair = top[k];
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() || !is_finite_number(pair[1])) {
      f.add(where + ".top[" + std::to_string(k) + "] is not an [id, logprob] pair: " + pair.dump());
      return;
    }
    const auto top_id = pair[0].get<std::int64_t>();
    const double top_lp = pair[1].get<double>();
    top_ids.push_back(top_id);
    if (top_lp > 0) f.add(where + ".top[" + std::to_string(k) + "] logprob " + std::to_string(top_lp) + " > 0");
    if (k > 0 && top_lp > previous) f.add(where + ".top is not sorted by logprob (entry " + std::to_string(k) + ")");
    previous = top_lp;
    if (top_id == id && std::fabs(top_lp - lp) > 1e-6)
      f.add(where + ": logprob " + std::to_string(lp) + " of id " + std::to_string(id) + " differs from its top entry " + std::to_string(top_lp));
  }
  if (e.greedy && top_ids.front() != id)
    f.add(where + ": a greedy step chose " + std::to_string(id) + ", but top[0] is " + std::to_string(top_ids.front()));
  if (i < e.logprobs.size() && !(std::fabs(lp - e.logprobs[i]) <= e.logprob_tol))
    f.add(where + ".logprob is " + std::to_string(lp) + ", expected " + std::to_string(e.logprobs[i]) + " +- " + std::to_string(e.logprob_tol) +
          " (log-softmax over all vocab_size rows)");
  if (i < e.top_ids.size() && top_ids != e.top_ids[i])
    f.add(where + ".top ids are " + format_ids(top_ids) + ", expected " + format_ids(e.top_ids[i]));
}

void check_eval_window(const json& w, std::size_t i, std::int64_t tokens, Findings& f) {
  const std::string where = "windows[" + std::to_string(i) + "].";
  require_fields(w, {"start", "end"}, [](const json& v) { return v.is_number_integer(); }, "an integer", where, f);
  require_fields(w, {"ppl", "accuracy", "ms_per_token", "kv_bytes", "rss_bytes"},
                 [](const json& v) { return is_finite_number(v) && v.get<double>() >= 0; }, "a finite number >= 0", where, f);
  if (!w.contains("start") || !w.contains("end") || !w["start"].is_number_integer() || !w["end"].is_number_integer()) return;
  const auto start = w["start"].get<std::int64_t>(), end = w["end"].get<std::int64_t>();
  if (!(0 <= start && start < end && end <= tokens))
    f.add("windows[" + std::to_string(i) + "] is [" + std::to_string(start) + ", " + std::to_string(end) + "), expected 0 <= start < end <= tokens (" +
          std::to_string(tokens) + ")");
}

// Streaming: the windows follow each other from token 1 to the last token, none longer than
// report_every, and together they are the scored predictions.
void check_streaming_windows(const json& windows, const json& j, Findings& f) {
  const auto tokens = j["tokens"].get<std::int64_t>(), scored = j["scored"].get<std::int64_t>();
  const auto every = j["report_every"].get<std::int64_t>();
  std::int64_t expected_start = 1, covered = 0;
  for (std::size_t i = 0; i < windows.size(); ++i) {
    const json& w = windows[i];
    if (!w.contains("start") || !w["start"].is_number_integer() || !w.contains("end") || !w["end"].is_number_integer()) return;
    const auto start = w["start"].get<std::int64_t>(), end = w["end"].get<std::int64_t>();
    if (start != expected_start)
      f.add("windows[" + std::to_string(i) + "] starts at " + std::to_string(start) + ", expected " + std::to_string(expected_start) +
            (i == 0 ? " (streaming scores from token 1)" : " (where the one before ends)"));
    if (end - start > every)
      f.add("windows[" + std::to_string(i) + "] covers " + std::to_string(end - start) + " tokens, more than report_every (" + std::to_string(every) + ")");
    covered += end - start;
    expected_start = end;
  }
  if (covered != scored) f.add("the windows cover " + std::to_string(covered) + " tokens, but " + std::to_string(scored) + " are scored");
  if (expected_start != tokens) f.add("the last window ends at " + std::to_string(expected_start) + ", not at tokens (" + std::to_string(tokens) + ")");
  // The whole is its windows put together: ppl is exp of the mean negative log-likelihood, accuracy
  // the share of arg-max hits, over every scored token.
  double nll = 0, hits = 0;
  for (const json& w : windows) {
    if (!is_finite_number(w.value("ppl", json())) || !is_finite_number(w.value("accuracy", json()))) return;
    const double n = w["end"].get<double>() - w["start"].get<double>();
    nll += n * std::log(w["ppl"].get<double>());
    hits += n * w["accuracy"].get<double>();
  }
  if (covered <= 0) return;
  const double ppl = std::exp(nll / static_cast<double>(covered)), accuracy = hits / static_cast<double>(covered);
  if (!within_relative(j["ppl"].get<double>(), ppl, 1e-9)) f.add("ppl " + j["ppl"].dump() + " is not the windows' " + std::to_string(ppl));
  if (!(std::fabs(j["accuracy"].get<double>() - accuracy) <= 1e-9)) f.add("accuracy " + j["accuracy"].dump() + " is not the windows' " + std::to_string(accuracy));
}

}  // namespace

std::string Findings::text() const {
  std::string s;
  for (const std::string& item : items_) s += "  - " + item + "\n";
  return s;
}

void report(const Findings& f, const std::vector<const RunResult*>& runs) {
  if (f.empty()) return;
  std::string runs_text;
  for (const RunResult* r : runs)
    if (r != nullptr) runs_text += r->describe();
  ADD_FAILURE() << "qwen3_mpi command-line case failed:\n" << f.text() << "\n" << runs_text;
}

std::string format_ids(const Ids& ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(ids[i]);
  }
  return s + "]";
}

std::string escaped(std::string_view text) {
  std::string s = "\"";
  for (const char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    if (byte == '\n') {
      s += "\\n";
    } else if (byte < 0x20 || byte >= 0x7f || ch == '"' || ch == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", byte);
      s += buf;
    } else {
      s += ch;
    }
  }
  return s + "\"";
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    lines.emplace_back(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  return lines;
}

int count_matching_lines(std::string_view text, const std::string& re) {
  const std::regex r(re);
  int n = 0;
  for (const std::string& line : lines_of(text)) n += std::regex_search(line, r) ? 1 : 0;
  return n;
}

bool within_relative(double got, double want, double rel) { return std::fabs(got - want) <= rel * std::fabs(want); }

void check_exit(const RunResult& r, int want, Findings& f) {
  if (!r.exited())
    f.add("did not exit by itself (a signal or the time limit)");
  else if (r.exit_code != want)
    f.add("exit status " + std::to_string(r.exit_code) + ", expected " + std::to_string(want));
}

void check_stderr_has(const RunResult& r, const std::vector<std::string>& regexes, Findings& f) {
  for (const std::string& re : regexes)
    if (count_matching_lines(r.err, re) == 0) f.add("no line of stderr matches '" + re + "'");
}

void check_stderr_lacks(const RunResult& r, const std::string& re, Findings& f) {
  if (count_matching_lines(r.err, re) != 0) f.add("a line of stderr matches '" + re + "', which none may");
}

void check_generation(const RunResult& r, const GenerationExpect& e, Findings& f) {
  check_exit(r, 0, f);
  const int loads = count_matching_lines(r.err, "^load: ");
  if (loads != 1) f.add(std::to_string(loads) + " load lines on stderr, expected 1");
  // Not anchored: in a chat the "> " prompt for the next turn comes first on the line.
  const std::string timing_re = R"(timing: prompt ([0-9]+) tokens \| ttft [^|]+\| tpot [^|]+\|[^|]*tokens/s)";
  const int timings = count_matching_lines(r.err, timing_re);
  if (timings != e.timing_lines) f.add(std::to_string(timings) + " timing lines on stderr, expected " + std::to_string(e.timing_lines));
  if (e.prompt_tokens) {
    std::smatch m;
    const std::string& err = r.err;
    if (std::regex_search(err, m, std::regex(timing_re)) && std::stoll(m[1].str()) != *e.prompt_tokens)
      f.add("the timing line counts " + m[1].str() + " prompt tokens, expected " + std::to_string(*e.prompt_tokens));
  }
  if (count_matching_lines(r.out, "^(load|timing|note): ") != 0) f.add("a load, timing or note line is on stdout");
}

void check_one_error_line(const RunResult& r, const std::string& re, Findings& f) {
  check_exit(r, 1, f);
  if (!r.out.empty()) f.add("stdout is not empty");
  const std::vector<std::string> lines = lines_of(r.err);
  if (lines.size() != 1 || r.err.back() != '\n') {
    f.add("stderr has " + std::to_string(lines.size()) + " lines, expected exactly one, ending in a newline");
    return;
  }
  if (!lines[0].starts_with("qwen3_mpi: error: ")) f.add("stderr does not start with 'qwen3_mpi: error: '");
  if (!matches(lines[0], re)) f.add("the error line does not match '" + re + "'");
}

std::optional<Ids> parse_id_list_line(const std::string& out, Findings& f) {
  if (out.size() < 3 || out.front() != '[' || out.substr(out.size() - 2) != "]\n" || out.find('\n') != out.size() - 1) {
    f.add("stdout is not one line '[id, id, ...]'");
    return std::nullopt;
  }
  Ids ids;
  std::string_view body(out.data() + 1, out.size() - 3);
  while (!body.empty()) {
    const auto comma = body.find(',');
    std::string_view item = body.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || end != item.data() + item.size()) {
      f.add("stdout's list holds '" + std::string(item) + "', not an id");
      return std::nullopt;
    }
    ids.push_back(v);
    body = comma == std::string_view::npos ? std::string_view() : body.substr(comma + 1);
  }
  return ids;
}

std::optional<json> parse_json_line(const std::string& out, Findings& f) {
  const std::vector<json> objects = parse_json_lines(out, f);
  if (objects.size() != 1) {
    f.add("stdout holds " + std::to_string(objects.size()) + " JSON objects, expected one on one line");
    return std::nullopt;
  }
  return objects.front();
}

std::vector<json> parse_json_lines(const std::string& out, Findings& f) {
  std::vector<json> objects;
  if (!out.empty() && out.back() != '\n') f.add("stdout does not end in a newline");
  for (const std::string& line : lines_of(out)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      f.add("a line of stdout is not a JSON object: " + line.substr(0, 200));
      continue;
    }
    objects.push_back(std::move(j));
  }
  return objects;
}

void check_generate_json(const json& j, const GenerateExpect& e, Findings& f) {
  const std::optional<Ids> prompt = json_ids(j, "prompt_ids", f);
  const std::optional<Ids> generated = json_ids(j, "generated_ids", f);
  if (!j.contains("stop") || !j["stop"].is_string())
    f.add("stop is missing or not a string");
  else if (e.stop && j["stop"] != *e.stop)
    f.add("stop is " + j["stop"].dump() + ", expected \"" + *e.stop + "\"");
  if (!j.contains("timing") || !j["timing"].is_object()) {
    f.add("timing is missing or not an object");
  } else {
    const json& t = j["timing"];
    require_fields(t, {"prompt_tokens", "ttft_ms", "tpot_ms", "tokens_per_s"}, [](const json& v) { return is_finite_number(v) && v.get<double>() >= 0; },
                   "a finite number >= 0", "timing.", f);
    if (prompt && t.contains("prompt_tokens") && t["prompt_tokens"] != prompt->size())
      f.add("timing.prompt_tokens is " + t["prompt_tokens"].dump() + ", but there are " + std::to_string(prompt->size()) + " prompt_ids");
  }
  if (prompt && e.prompt_ids && *prompt != *e.prompt_ids) f.add("prompt_ids are " + format_ids(*prompt) + ", expected " + format_ids(*e.prompt_ids));
  if (!generated) return;
  if (e.generated_ids && *generated != *e.generated_ids)
    f.add("generated_ids are " + format_ids(*generated) + ", expected " + format_ids(*e.generated_ids));
  if (e.n_generated && generated->size() != *e.n_generated)
    f.add(std::to_string(generated->size()) + " generated_ids, expected " + std::to_string(*e.n_generated));
  if (!j.contains("steps") || !j["steps"].is_array()) {
    f.add("steps is missing or not an array");
    return;
  }
  const json& steps = j["steps"];
  if (steps.size() != generated->size())
    f.add(std::to_string(steps.size()) + " steps for " + std::to_string(generated->size()) + " generated_ids");
  for (std::size_t i = 0; i < std::min(steps.size(), generated->size()); ++i) check_step(steps[i], i, (*generated)[i], e, f);
  if (e.logprobs.size() > steps.size() || e.top_ids.size() > steps.size())
    f.add("fewer steps (" + std::to_string(steps.size()) + ") than expected logprobs or top ids");
}

void check_eval_json(const json& j, Findings& f) {
  bool ok = require_fields(j, {"model", "text", "protocol", "attention", "kv_type", "kv_policy"}, [](const json& v) { return v.is_string(); },
                           "a string", "", f);
  ok &= require_fields(j, {"tokens", "scored", "report_every", "chunk"}, [](const json& v) { return v.is_number_integer() && v.get<std::int64_t>() >= 0; },
                       "an integer >= 0", "", f);
  ok &= require_fields(j, {"ppl", "accuracy", "ttft_ms", "tpot_ms", "tokens_per_s", "attn_ms_per_token", "peak_kv_bytes", "peak_rss_bytes", "sink",
                           "kv_window", "kv_heavy"},
                       [](const json& v) { return is_finite_number(v) && v.get<double>() >= 0; }, "a finite number >= 0", "", f);
  if (!j.contains("windows") || !j["windows"].is_array()) {
    f.add("windows is missing or not an array");
    return;
  }
  if (!ok) return;
  if (j["ppl"].get<double>() < 1) f.add("ppl " + j["ppl"].dump() + " is below 1");
  if (j["accuracy"].get<double>() > 1) f.add("accuracy " + j["accuracy"].dump() + " is above 1");
  const auto tokens = j["tokens"].get<std::int64_t>(), scored = j["scored"].get<std::int64_t>();
  if (!(1 <= scored && scored < tokens)) f.add("scored " + std::to_string(scored) + " is not in [1, tokens - 1 = " + std::to_string(tokens - 1) + "]");
  const json& windows = j["windows"];
  if (windows.empty()) {
    f.add("windows is empty");
    return;
  }
  for (std::size_t i = 0; i < windows.size(); ++i) check_eval_window(windows[i], i, tokens, f);
  if (j["protocol"] == "streaming") check_streaming_windows(windows, j, f);
}

std::optional<EvalTableRow> parse_eval_table(const std::string& out, Findings& f) {
  const std::vector<std::string> lines = lines_of(out);
  const std::regex header(R"(^ *tokens +ppl +accuracy )");
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    if (!std::regex_search(lines[i], header)) continue;
    std::istringstream row(lines[i + 1]);
    EvalTableRow r;
    if (row >> r.tokens >> r.ppl >> r.accuracy) return r;
    f.add("the row under eval's 'tokens ppl accuracy' header is not numbers: " + lines[i + 1]);
    return std::nullopt;
  }
  f.add("stdout has no table header 'tokens ppl accuracy ...'");
  return std::nullopt;
}

}  // namespace qwen3::test::cli
