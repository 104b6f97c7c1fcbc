// The default command: load a checkpoint, build the prompt (text, file, --verify ids or chat turns),
// generate, and report. stdout carries only generated text or the --json object; everything else
// (load line, notes, timing line) goes to stderr.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/id_list.hpp"
#include "engine/agreement.hpp"
#include "engine/chat.hpp"
#include "engine/generate.hpp"
#include "engine/loaded_model.hpp"
#include "engine/threads.hpp"
#include "kernels/dispatch.hpp"
#include "memory/memory_budget.hpp"
#include "numa/topology.hpp"
#include "qwen3/error.hpp"

namespace qwen3::cli {
namespace {

// What the KV cache will be asked to hold, for the memory check between mapping and copying the weights.
KvRequest kv_request(const GenerateOptions& o, DType weights) {
  KvRequest kv;
  kv.type = resolve_kv_type(o.runtime.kv_type, weights);
  kv.block = o.runtime.kv_block;
  const KvPolicyOptions policy = kv_policy_options(o.runtime.kv, o.runtime.seed);
  if (kv.type == KvType::F32) kv.instead.push_back("--kv-type bf16 (half the bytes)");
  if (KvEvictionPolicy(policy).bounded()) {
    kv.tokens = KvEvictionPolicy(policy).budget();
    kv.asked_by = "--kv-policy " + describe_kv_policy(policy);
    kv.instead.push_back("a smaller --window or --sink");
  } else {
    kv.tokens = o.runtime.context;
    kv.asked_by = "-c " + std::to_string(o.runtime.context);
    if (o.runtime.context > 0) kv.instead.push_back("a smaller -c");
    kv.instead.push_back("--kv-policy sink-window to stream in a bounded cache");
  }
  return kv;
}

std::string read_prompt_file(const std::string& path) {
  std::string text = read_input_file(path, "prompt file");
  if (text.empty()) throw Error(path + ": the prompt file is empty");
  return text;
}

bool finite_in(std::optional<float> v, float lo, float hi) { return !v || (std::isfinite(*v) && *v >= lo && *v <= hi); }

// "--top-p 2", "--temp nan": the flag and the value given, for the messages below.
std::string flag_value(const char* flag, std::optional<float> v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %g", flag, v ? static_cast<double>(*v) : 0.0);
  return buf;
}

void validate_options(const GenerateOptions& o) {
  if (o.n_predict == 0) throw Error("-n 0: nothing to generate (use -n N > 0, or -n -1 to run until end-of-text)");
  if (o.n_predict < -1) throw Error("-n " + std::to_string(o.n_predict) + ": expected a positive count or -1");
  const int sources = (o.prompt ? 1 : 0) + (!o.prompt_file.empty() ? 1 : 0) + (!o.verify_ids.empty() ? 1 : 0);
  if (sources > 1) throw Error("give only one of -p, -f and --verify");
  if (o.prompt && o.prompt->empty()) throw Error("-p: the prompt is empty");
  if (o.gen_len >= 0 && o.verify_ids.empty()) throw Error("--gen-len is only used with --verify");
  if (!o.verify_ids.empty() && o.chat) throw Error("--verify feeds raw ids; it cannot be combined with --chat");
  if (o.no_think && !o.chat) throw Error("--no-think needs --chat");
  if (o.interactive && !o.chat) throw Error("-i needs --chat");
  // Positions are int32 and CLI11 saturates out-of-range integers, so bound them here.
  constexpr std::int64_t kMaxTokens = INT32_MAX;
  if (o.n_predict > kMaxTokens) throw Error("-n " + std::to_string(o.n_predict) + ": at most " + std::to_string(kMaxTokens));
  if (o.runtime.context > kMaxTokens) throw Error("-c " + std::to_string(o.runtime.context) + ": at most " + std::to_string(kMaxTokens));
  if (o.gen_len > kMaxTokens) throw Error("--gen-len " + std::to_string(o.gen_len) + ": at most " + std::to_string(kMaxTokens));
  if (!finite_in(o.temperature, 0.f, 1e6f)) throw Error(flag_value("--temp", o.temperature) + ": expected a finite value >= 0");
  if (!finite_in(o.top_p, 0.f, 1.f)) throw Error(flag_value("--top-p", o.top_p) + ": expected a value in [0, 1]");
  if (!finite_in(o.min_p, 0.f, 1.f)) throw Error(flag_value("--min-p", o.min_p) + ": expected a value in [0, 1]");
  if (!finite_in(o.repeat_penalty, 1e-6f, 1e6f)) throw Error(flag_value("--repeat-penalty", o.repeat_penalty) + ": expected a finite value > 0");
}

SamplerOptions sampler_options(const GenerateOptions& o, const GenerationConfig& gc, bool greedy) {
  SamplerOptions s;
  s.temperature = gc.do_sample ? gc.temperature : 0.f;
  s.top_k = gc.top_k;
  s.top_p = gc.top_p;
  s.min_p = gc.min_p;
  s.repeat_penalty = gc.repetition_penalty;
  if (o.temperature) s.temperature = *o.temperature;
  if (o.top_k) s.top_k = *o.top_k;
  if (o.top_p) s.top_p = *o.top_p;
  if (o.min_p) s.min_p = *o.min_p;
  if (o.repeat_penalty) s.repeat_penalty = *o.repeat_penalty;
  s.repeat_last_n = o.repeat_last_n;
  s.seed = o.runtime.seed;
  if (greedy) {
    s.temperature = 0.f;
    s.repeat_penalty = 1.f;
  }
  return s;
}

void print_timing(const Timing& t, StopReason stop) {
  std::fprintf(stderr,
               "timing: prompt %lld tokens | ttft %.2f ms | tpot %.2f ms | %.2f tokens/s | generated %lld | stop %s\n",
               static_cast<long long>(t.prompt_tokens), t.ttft_ms, t.tpot_ms, t.tokens_per_s,
               static_cast<long long>(t.generated_tokens), std::string(stop_reason_name(stop)).c_str());
}

nlohmann::json result_json(const std::vector<std::int32_t>& prompt, const GenerationResult& r, const Tokenizer* tok) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : r.steps) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& [id, lp] : s.logprobs.top) top.push_back({id, lp});
    steps.push_back({{"id", s.id}, {"logprob", s.logprobs.logprob}, {"top", top}});
  }
  nlohmann::json j = {{"prompt_ids", prompt},
                      {"generated_ids", r.ids},
                      {"steps", steps},
                      {"stop", std::string(stop_reason_name(r.stop))},
                      {"timing",
                       {{"prompt_tokens", r.timing.prompt_tokens},
                        {"ttft_ms", r.timing.ttft_ms},
                        {"tpot_ms", r.timing.tpot_ms},
                        {"tokens_per_s", r.timing.tokens_per_s}}}};
  if (tok) {
    std::vector<std::int32_t> printable;
    for (std::int32_t id : r.ids)
      if (id < tok->size()) printable.push_back(id);
    j["text"] = tok->decode(printable);
  }
  return j;
}

// Collectives one rank has made so far, over its world and KV-group communicators.
struct CommUse {
  double seconds = 0;
  double bytes = 0;
  std::uint64_t calls = 0;
};
CommUse comm_use(const Distribution& d) {
  const CommStats a = d.all->stats(), b = d.kv_group->stats();
  return {a.seconds + b.seconds, static_cast<double>(a.bytes + b.bytes), a.calls + b.calls};
}

// --stats: time in collectives and payload sent during the prompt, and per decode token; rank 0's
// and the slowest rank's (a rank waiting for a slower one counts the wait).
void print_comm_stats(const Distribution& d, const CommUse& start, const CommUse& after_prefill, const Timing& t, bool speaker) {
  const CommUse end = comm_use(d);
  const double decode_tokens = static_cast<double>(std::max<std::int64_t>(1, t.generated_tokens - 1));
  const float mine[4] = {static_cast<float>((after_prefill.seconds - start.seconds) * 1e3),
                         static_cast<float>(after_prefill.bytes - start.bytes),
                         static_cast<float>((end.seconds - after_prefill.seconds) * 1e3 / decode_tokens),
                         static_cast<float>((end.bytes - after_prefill.bytes) / decode_tokens)};
  const double calls = static_cast<double>(end.calls - after_prefill.calls) / decode_tokens;
  const std::vector<float> all = d.all->gather(mine, 0);
  if (!speaker) return;
  float max[4] = {0, 0, 0, 0};
  for (std::size_t r = 0; r < all.size(); r += 4)
    for (std::size_t i = 0; i < 4; ++i) max[i] = std::max(max[i], all[r + i]);
  std::fprintf(stderr, "stats: %d rank(s) | prompt: %.2f ms in collectives (rank 0), %.2f ms (max), payload sent %s (rank 0)",
               d.all->size(), static_cast<double>(mine[0]), static_cast<double>(max[0]), format_bytes(mine[1]).c_str());
  if (t.generated_tokens < 2) {
    std::fprintf(stderr, " | fewer than 2 generated tokens: no per-token figures\n");
    return;
  }
  std::fprintf(stderr, " | per decode token over %lld tokens: %.0f collectives, %.3f ms in them (rank 0), %.3f ms (max), payload sent %s (rank 0), %s (max)\n",
               static_cast<long long>(t.generated_tokens - 1), calls, static_cast<double>(mine[2]), static_cast<double>(max[2]),
               format_bytes(mine[3]).c_str(), format_bytes(max[3]).c_str());
}

// One generate run on a ready runtime: the session every prompt goes through, its sampler, and what
// the options decided about prompts and output.
struct Generation {
  const GenerateOptions& o;
  Runtime& rt;
  const std::atomic<bool>& interrupted;
  bool verify = false;        // --verify: raw ids in, greedy ids out as a list
  bool line_prompts = false;  // no prompt and stdin a pipe: each line its own prompt
  std::int64_t max_new = 0;
  Session session;
  Sampler sampler;

  Generation(const GenerateOptions& opt, Runtime& runtime, const std::atomic<bool>& stop, bool lines)
      : o(opt), rt(runtime), interrupted(stop), verify(!opt.verify_ids.empty()), line_prompts(lines),
        max_new(verify ? (opt.gen_len >= 0 ? opt.gen_len : opt.n_predict) : opt.n_predict),
        session(runtime.model(), runtime.new_cache(), runtime.kv_policy()),
        sampler(sampler_options(opt, runtime.loaded().generation, verify)) {}
  bool reads_stdin() const { return o.interactive || line_prompts; }
};

// A prompt against the vocabulary and the room left in the context (`used` tokens already held).
void check_prompt(const Generation& g, const std::vector<std::int32_t>& prompt, std::int64_t used) {
  const std::int64_t vocab = g.rt.config().vocab_size, ctx = g.rt.context();
  for (std::int32_t id : prompt)
    if (id >= vocab) throw Error("token id " + std::to_string(id) + " is out of range for vocab_size " + std::to_string(vocab));
  if (g.rt.bounded()) return;  // the policy evicts: any length streams through
  const std::int64_t room = ctx - used;
  const auto n = static_cast<std::int64_t>(prompt.size());
  if (n > room)
    throw Error("prompt of " + std::to_string(n) + " tokens does not fit the context: -c " + std::to_string(ctx) + g.rt.context_note() +
                (used ? " with " + std::to_string(used) + " already used" : std::string()));
  if (g.verify && g.max_new > room - n)
    throw Error("--verify: " + std::to_string(n) + " ids + --gen-len " + std::to_string(g.max_new) + " exceed the context -c " +
                std::to_string(ctx));
}

// The prompt of a run with one (-p, -f, --verify), as rank 0 read it before the load: the text, or the ids.
struct PromptInput {
  std::string text;
  std::vector<std::int32_t> ids;
};
PromptInput read_prompt_input(const GenerateOptions& o, Communicator& world) {
  PromptInput in;
  on_rank0(world, [&] {
    if (!o.verify_ids.empty()) in.ids = parse_id_list(o.verify_ids);
    else if (o.prompt) in.text = *o.prompt;
    else if (!o.prompt_file.empty()) in.text = read_prompt_file(o.prompt_file);
  });
  return in;
}

// That prompt's ids, encoded and checked by rank 0 and shared with every rank.
std::vector<std::int32_t> encode_prompt(const Generation& g, PromptInput in) {
  on_rank0(g.rt.world(), [&] {
    if (!g.verify) {
      in.ids = g.rt.loaded().require_tokenizer().encode(g.o.chat ? chat_turn(in.text, g.o.no_think, false) : in.text);
      if (in.ids.empty()) throw Error("the prompt encodes to no tokens");
    }
    check_prompt(g, in.ids, 0);
  });
  share_ids(g.rt.world(), in.ids);
  return in.ids;
}

// Rank 0 prints what a turn produced: streamed text ends with a newline, --json and --verify print
// their one line; then notes, the timing line and, with --stats, the collectives and the bindings.
void report_turn(const Generation& g, const GenerationResult& r, const std::vector<std::int32_t>& prompt, const CommUse& start,
                 const CommUse& after_prefill) {
  const bool speaker = g.rt.speaker();
  const Distribution& dist = g.rt.model().distribution();
  if (speaker) {
    if (g.o.json) {
      // Invalid UTF-8 in "text" (a cut multi-byte character) is replaced so the JSON stays valid.
      std::cout << result_json(prompt, r, g.rt.tokenizer()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    } else if (g.verify) {
      std::cout << format_id_list(r.ids) << std::endl;
    } else {
      std::fputc('\n', stdout);  // the timing line below starts on a line of its own
      std::fflush(stdout);
    }
    if (r.stop == StopReason::ContextFull)
      std::fprintf(stderr, "note: context length -c %lld reached; generation stopped (no context shift)\n",
                   static_cast<long long>(g.rt.context()));
    print_timing(r.timing, r.stop);
  }
  if (g.o.stats) print_comm_stats(dist, start, after_prefill.calls ? after_prefill : comm_use(dist), r.timing, speaker);
  // The binding evidence: each domain's team bound to its cores and node, its weight slices and large
  // KV buffers bound to its node (smaller buffers follow the bound threads' memory policy).
  if (g.o.stats && speaker && !g.rt.options().numa_description.empty()) std::fprintf(stderr, "numa: %s\n", numa::describe_bindings().c_str());
}

// One prompt -> one generation on the session; the interactive chat repeats this per turn.
GenerationResult run_turn(Generation& g, std::vector<std::int32_t> prompt) {
  GenerationRequest req;
  req.prompt = std::move(prompt);
  req.max_new_tokens = g.max_new;
  if (!g.verify) req.stop_ids = g.rt.stop_ids();
  req.top_logprobs = g.o.json ? 5 : 0;
  const Tokenizer* tok = g.rt.tokenizer();
  std::optional<Utf8StreamDecoder> stream;
  if (tok && !g.o.json && !g.verify && g.rt.speaker()) stream.emplace(*tok);
  const Distribution& dist = g.rt.model().distribution();
  const CommUse start = comm_use(dist);  // --stats: the prompt, then each decode token
  CommUse after_prefill;
  const auto write = [](const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  };
  const GenerationResult r = generate(g.session, g.sampler, req, [&](std::int32_t id) {
    if (g.o.stats && after_prefill.calls == 0) after_prefill = comm_use(dist);  // first token
    // Ids past the tokenizer (vocab_size pads the embedding, e.g. 151936 vs 151669) have no text.
    if (stream && id < tok->size() && !tok->is_special(id)) write(stream->push(id));
  }, &g.interrupted);
  if (stream) write(stream->flush());
  report_turn(g, r, req.prompt, start, after_prefill);
  return r;
}

// Rank 0 reads the next stdin line and encodes it (a chat turn, or a prompt of its own); false at the
// end of the input or after Ctrl-C. Every rank gets the ids.
bool next_stdin_prompt(const Generation& g, bool follows_reply, std::vector<std::int32_t>& prompt) {
  bool more = false;
  on_rank0(g.rt.world(), [&] {
    const Tokenizer& tok = g.rt.loaded().require_tokenizer();
    std::string line;
    while (!g.interrupted.load()) {
      if (g.o.interactive) std::fputs("> ", stderr);
      if (!std::getline(std::cin, line)) break;
      if (line.empty()) continue;
      prompt = tok.encode(g.o.interactive ? chat_turn(line, g.o.no_think, follows_reply)
                                          : (g.o.chat ? chat_turn(line, g.o.no_think, false) : line));
      check_prompt(g, prompt, g.line_prompts ? 0 : g.session.position());
      more = true;
      break;
    }
  });
  return share_ids(g.rt.world(), prompt, more);
}

// Prompts from stdin: a chat turn per line on one session, or (from a pipe) each line its own prompt
// from an empty cache.
void run_stdin_prompts(Generation& g) {
  bool follows_reply = false;
  std::vector<std::int32_t> prompt;
  while (next_stdin_prompt(g, follows_reply, prompt)) {
    if (g.line_prompts) g.session.rewind(0);
    const GenerationResult r = run_turn(g, std::move(prompt));
    // generate() does not feed the id it stopped after at -n; the next turn's context needs it.
    if (g.o.interactive && r.stop == StopReason::Length && !r.ids.empty() && g.session.fits(1))
      g.session.feed(std::span(&r.ids.back(), 1));
    follows_reply = true;
  }
}

}  // namespace

int run_generate(const GenerateOptions& given, const std::atomic<bool>& interrupted, Communicator& world) {
  GenerateOptions o = given;
  // No prompt at all: chat on a terminal, one prompt per line from a pipe.
  const bool no_prompt = !o.prompt && o.prompt_file.empty() && o.verify_ids.empty() && !o.interactive;
  const bool line_prompts = no_prompt && !isatty(STDIN_FILENO);
  if (no_prompt && !line_prompts) o.chat = o.interactive = true;
  on_every_rank(world, [&] { validate_options(o); });
  // Everything that can be wrong with the input is checked before the load line, so bad input always
  // ends with exactly one line on stderr.
  PromptInput input = read_prompt_input(o, world);
  Runtime rt(o.runtime, world, [&](const MappedModel& m) { return kv_request(o, m.weights.checkpoint_dtype); });
  Generation g(o, rt, interrupted, line_prompts);
  if (g.reads_stdin()) {
    on_rank0(world, [&] { rt.loaded().require_tokenizer(); });
    rt.print_load_line();
    run_stdin_prompts(g);
  } else {
    std::vector<std::int32_t> prompt = encode_prompt(g, std::move(input));
    rt.print_load_line();
    run_turn(g, std::move(prompt));
  }
  return 0;
}

}  // namespace qwen3::cli
