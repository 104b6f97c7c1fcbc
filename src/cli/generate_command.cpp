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
KvRequest kv_request(const GenerateOptions& o, const KvPolicyOptions& policy, DType weights) {
  KvRequest kv;
  kv.type = resolve_kv_type(o.kv_type, weights);
  kv.block = o.kv_block;
  const KvEvictionPolicy bounded(policy);
  if (kv.type == KvType::F32) kv.instead.push_back("--kv-type bf16 (half the bytes)");
  if (bounded.bounded()) {
    kv.tokens = bounded.budget();
    kv.asked_by = "--kv-policy " + describe_kv_policy(policy);
    kv.instead.push_back("a smaller --window or --sink");
  } else {
    kv.tokens = o.ctx_size > 0 ? o.ctx_size : 0;
    kv.asked_by = "-c " + std::to_string(o.ctx_size);
    if (o.ctx_size > 0) kv.instead.push_back("a smaller -c");
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
  if (o.model_dir.empty()) throw Error("no model: give -m DIR (a Hugging Face Qwen3 checkpoint directory)");
  // Positions are int32 and CLI11 saturates out-of-range integers, so bound them here.
  constexpr std::int64_t kMaxTokens = INT32_MAX;
  if (o.n_predict > kMaxTokens) throw Error("-n " + std::to_string(o.n_predict) + ": at most " + std::to_string(kMaxTokens));
  if (o.ctx_size > kMaxTokens) throw Error("-c " + std::to_string(o.ctx_size) + ": at most " + std::to_string(kMaxTokens));
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
  s.seed = o.seed;
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

}  // namespace

// The default model: the only checkpoint folder under models/ next to the executable, one level up
// (build/qwen3_mpi -> models/), or in the source tree this binary was built from.
std::string find_default_model() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  std::vector<fs::path> roots = {exe_dir / "models", exe_dir / ".." / "models", fs::path(QWEN3_SOURCE_DIR) / "models"};
  for (const auto& root : roots) {
    if (!fs::is_directory(root, ec)) continue;
    std::vector<fs::path> dirs;
    for (const auto& entry : fs::directory_iterator(root, ec))
      if (fs::exists(entry.path() / "config.json", ec)) dirs.push_back(entry.path());
    std::sort(dirs.begin(), dirs.end());
    if (!dirs.empty()) return fs::weakly_canonical(dirs.front(), ec).string();
  }
  throw Error("no -m DIR given and no default model found under models/ (next to the executable or in the source tree)");
}

int run_generate(const GenerateOptions& given, const std::atomic<bool>& interrupted, Communicator& world) {
  GenerateOptions o = given;
  const bool speaker = world.rank() == 0;  // rank 0 talks to the user; the others follow
  if (o.model_dir.empty()) o.model_dir = find_default_model();
  // No prompt at all: chat on a terminal, one prompt per line from a pipe.
  const bool no_prompt = !o.prompt && o.prompt_file.empty() && o.verify_ids.empty() && !o.interactive;
  const bool line_prompts = no_prompt && !isatty(STDIN_FILENO);
  if (no_prompt && !line_prompts) o.chat = o.interactive = true;
  validate_options(o);
  const ThreadCount thread_count = set_thread_count(o.threads);
  const int threads = thread_count.granted;
  const kernels::CpuFeatures cpu = kernels::detect_cpu_features();
  const kernels::KernelTable& kt = kernels::select_kernels(o.kernel, o.gemm, cpu);
  const AttentionKind attention = parse_attention_kind(o.attention);
  std::vector<std::int32_t> verify_ids;
  if (!o.verify_ids.empty()) verify_ids = parse_id_list(o.verify_ids);
  const KvPolicyOptions policy = kv_policy_options(o.kv, o.seed);
  const bool bounded = KvEvictionPolicy(policy).bounded();  // also checks the options

  // Everything that can be wrong with the input is checked before the load line, so bad input
  // always ends with exactly one line on stderr.
  std::string text;
  on_rank0(world, [&] {
    if (o.prompt) text = *o.prompt;
    else if (!o.prompt_file.empty()) text = read_prompt_file(o.prompt_file);
  });

  const RankModel rank_model = load_on_ranks(world, o.model_dir, kt, attention, o.use_mmap ? WeightPlacement::Map : WeightPlacement::Copy,
                                             o.tp, o.sp, [&](const Qwen3Config&, DType weights) { return kv_request(o, policy, weights); });
  const LoadedModel& lm = rank_model.loaded;
  const Qwen3Config& cfg = lm.config;
  const MemoryFit& memory = *rank_model.memory;
  // Without -c: the model's whole context, or as much of it as memory holds (the load line says so).
  const std::int64_t ctx = o.ctx_size > 0 ? o.ctx_size : bounded ? cfg.max_position_embeddings : memory.kv_tokens;
  const std::string ctx_note = memory.lowered_from ? " (lowered from " + std::to_string(memory.lowered_from) + " to fit memory)" : "";
  const bool verify = !verify_ids.empty();
  const std::int64_t max_new = verify ? (o.gen_len >= 0 ? o.gen_len : o.n_predict) : o.n_predict;
  std::vector<std::int32_t> first_prompt = verify_ids;
  if (!verify && !o.interactive && !line_prompts) {
    on_rank0(world, [&] {
      first_prompt = lm.require_tokenizer().encode(o.chat ? chat_turn(text, o.no_think, false) : text);
      if (first_prompt.empty()) throw Error("the prompt encodes to no tokens");
    });
    share_ids(world, first_prompt);
  }
  if (o.interactive || line_prompts) on_rank0(world, [&] { lm.require_tokenizer(); });
  // Checks one prompt against the vocabulary and the room left in the context.
  auto check_prompt = [&](const std::vector<std::int32_t>& prompt, std::int64_t used) {
    for (std::int32_t id : prompt)
      if (id >= cfg.vocab_size)
        throw Error("token id " + std::to_string(id) + " is out of range for vocab_size " + std::to_string(cfg.vocab_size));
    if (bounded) return;  // the policy evicts: any length streams through
    const std::int64_t room = ctx - used;
    const auto n = static_cast<std::int64_t>(prompt.size());
    if (n > room)
      throw Error("prompt of " + std::to_string(n) + " tokens does not fit the context: -c " + std::to_string(ctx) + ctx_note +
                  (used ? " with " + std::to_string(used) + " already used" : std::string()));
    if (verify && max_new > room - n)
      throw Error("--verify: " + std::to_string(n) + " ids + --gen-len " + std::to_string(max_new) + " exceed the context -c " +
                  std::to_string(ctx));
  };
  if (!o.interactive && !line_prompts) check_prompt(first_prompt, 0);

  const KvType kv_type = resolve_kv_type(o.kv_type, *lm.model);
  const KvCacheShape shape = lm.model->kv_shape(kv_type, o.kv_block);
  // This rank's heads, and its share of the blocks (one in sp); a bounded policy holds its budget.
  const std::int64_t held = bounded ? KvEvictionPolicy(policy).budget() : ctx;
  const double kv_full = static_cast<double>(shape.n_layers * 2 * shape.n_kv_heads * shape.head_dim) * static_cast<double>(held) *
                         static_cast<double>(kv_element_size(kv_type)) / lm.layout.sp;
  const std::string kv_limit =
      bounded ? "for " + describe_kv_policy(policy) : "at -c " + std::to_string(ctx) + describe_lowered_context(memory);
  // With several ranks the weights and the KV cache are rank 0's share; "ranks" names the layout.
  // With NUMA domains every domain of every rank is one member of that layout, and "numa" names this
  // process's domains and their teams.
  const bool domains = !o.numa_description.empty();
  const std::string ranks =
      (domains ? " | numa " + o.numa_description : std::string()) +
      (world.size() == 1 ? "" : std::string(domains ? " | members " : " | ranks ") + std::to_string(world.size()) + " = " + lm.layout.describe() +
                                    (domains ? " (member 0's share)" : " (rank 0's share)"));
  if (speaker) {
    std::fputs(thread_count_notes(thread_count).c_str(), stderr);
    std::fprintf(stderr,
                 "load: %s | %.2f s | weights %s (%s, %s) | kv cache %s, up to %s %s | kernels %s, prefill gemm %s | attention %s | threads %d%s\n",
                 o.model_dir.c_str(), lm.load_seconds, format_bytes(static_cast<double>(lm.model->weights().matrix_bytes)).c_str(),
                 std::string(dtype_name(lm.model->weights().embed_tokens.dtype)).c_str(),
                 lm.model->weights().storage ? "huge-page copy" : "mmap", std::string(kernels::kv_type_name(kv_type)).c_str(),
                 format_bytes(kv_full).c_str(), kv_limit.c_str(), std::string(kernels::isa_name(kt.isa)).c_str(),
                 kernels::describe_prefill_gemm(kt, lm.model->weights().embed_tokens.dtype).c_str(),
                 std::string(attention_kind_name(attention)).c_str(), threads, ranks.c_str());
  }

  Session session(*lm.model, lm.model->new_cache(kv_type, o.kv_block, ctx), policy);
  Sampler sampler(sampler_options(o, lm.generation, verify));
  const Tokenizer* tok = lm.tokenizer ? &*lm.tokenizer : nullptr;

  std::vector<std::int32_t> stop_ids;
  if (!verify) {
    stop_ids = lm.generation.eos_token_ids;
    if (tok) {
      for (const char* s : {"<|im_end|>", "<|endoftext|>"})
        if (auto id = tok->token_id(s)) stop_ids.push_back(*id);
    }
  }

  // One prompt -> one generation; the interactive chat repeats this per turn on the same session.
  auto run_turn = [&](std::vector<std::int32_t> prompt) -> GenerationResult {
    check_prompt(prompt, session.position());
    GenerationRequest req;
    req.prompt = std::move(prompt);
    req.max_new_tokens = max_new;
    req.stop_ids = stop_ids;
    req.top_logprobs = o.json ? 5 : 0;
    std::optional<Utf8StreamDecoder> stream;
    if (tok && !o.json && !verify && speaker) stream.emplace(*tok);
    const CommUse start = comm_use(lm.model->distribution());  // --stats: the prompt, then each decode token
    CommUse after_prefill;
    GenerationResult r = generate(session, sampler, req, [&](std::int32_t id) {
      if (o.stats && after_prefill.calls == 0) after_prefill = comm_use(lm.model->distribution());  // first token
      // Ids past the tokenizer (vocab_size pads the embedding, e.g. 151936 vs 151669) have no text.
      if (!stream || id >= tok->size() || tok->is_special(id)) return;
      const std::string text = stream->push(id);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    }, &interrupted);
    if (stream) {
      const std::string rest = stream->flush();
      std::fwrite(rest.data(), 1, rest.size(), stdout);
      std::fflush(stdout);
    }
    if (!speaker) {
    } else if (o.json) {
      // Invalid UTF-8 in "text" (a cut multi-byte character) is replaced so the JSON stays valid.
      std::cout << result_json(req.prompt, r, tok).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    } else if (verify) {
      std::cout << format_id_list(r.ids) << std::endl;
    } else {
      std::fputc('\n', stdout);
    }
    if (speaker && r.stop == StopReason::ContextFull)
      std::fprintf(stderr, "note: context length -c %lld reached; generation stopped (no context shift)\n", static_cast<long long>(ctx));
    if (speaker) print_timing(r.timing, r.stop);
    if (o.stats) print_comm_stats(lm.model->distribution(), start, after_prefill.calls ? after_prefill : comm_use(lm.model->distribution()), r.timing, speaker);
    // The binding evidence: each domain's team bound to its cores and node, its weight slices and large
    // KV buffers bound to its node (smaller buffers follow the bound threads' memory policy).
    if (o.stats && speaker && !o.numa_description.empty()) std::fprintf(stderr, "numa: %s\n", numa::describe_bindings().c_str());
    return r;
  };

  // Prompts read from stdin by rank 0 and shared with the others: a chat turn per line, or (from a
  // pipe) each line its own prompt from an empty cache.
  if (o.interactive || line_prompts) {
    bool follows_reply = false;
    while (true) {
      std::vector<std::int32_t> prompt;
      bool more = false;
      on_rank0(world, [&] {
        const Tokenizer& tk = lm.require_tokenizer();
        std::string line;
        while (!interrupted.load()) {
          if (o.interactive) std::fputs("> ", stderr);
          if (!std::getline(std::cin, line)) break;
          if (line.empty()) continue;
          prompt = tk.encode(o.interactive ? chat_turn(line, o.no_think, follows_reply)
                                           : (o.chat ? chat_turn(line, o.no_think, false) : line));
          more = true;
          break;
        }
      });
      if (!share_ids(world, prompt, more)) break;
      if (line_prompts) session.rewind(0);
      const GenerationResult r = run_turn(std::move(prompt));
      // generate() does not feed the id it stopped after at -n; the next turn's context needs it.
      if (o.interactive && r.stop == StopReason::Length && !r.ids.empty() && session.fits(1)) session.feed(std::span(&r.ids.back(), 1));
      follows_reply = true;
    }
    return 0;
  }
  run_turn(std::move(first_prompt));
  return 0;
}

}  // namespace qwen3::cli
