#include "engine/runtime.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "engine/agreement.hpp"
#include "memory/memory_budget.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {

KvPolicyOptions kv_policy_options(const KvPolicyFlags& f, std::uint64_t seed) {
  KvPolicyOptions o;
  o.kind = parse_kv_policy(f.kind);
  o.sink = f.sink;
  o.window = f.window;
  o.heavy = f.heavy;
  o.evict_chunk = f.evict_chunk;
  o.seed = seed;
  return o;
}

std::string find_default_model() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  const std::vector<fs::path> roots = {exe_dir / "models", exe_dir / ".." / "models", fs::path(QWEN3_SOURCE_DIR) / "models"};
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

namespace {

template <class... Args>
std::string printf_string(const char* format, Args... args) {
  const int n = std::snprintf(nullptr, 0, format, args...);
  std::string s(static_cast<std::size_t>(std::max(n, 0)), '\0');
  std::snprintf(s.data(), s.size() + 1, format, args...);
  return s;
}

std::vector<std::int32_t> end_of_text_ids(const LoadedModel& lm) {
  std::vector<std::int32_t> ids = lm.generation.eos_token_ids;
  if (lm.tokenizer)
    for (const char* s : {"<|im_end|>", "<|endoftext|>"})
      if (auto id = lm.tokenizer->token_id(s)) ids.push_back(*id);
  return ids;
}

}  // namespace

Runtime::Runtime(const RuntimeOptions& options, Communicator& world, const KvRequestFor& kv_request)
    : options_(options), world_(&world) {
  // Checked on every member and agreed: a CPU without the kernel asked for may be one host's alone.
  on_every_rank(world, [&] {
    if (options_.model_dir.empty()) options_.model_dir = find_default_model();
    kv_policy_ = kv_policy_options(options_.kv, options_.seed);
    KvEvictionPolicy{kv_policy_};  // checks the policy's options
    threads_ = set_thread_count(options_.threads);
    kernels_ = &kernels::select_kernels(options_.kernel, options_.gemm, options_.decode_rows, kernels::detect_cpu_features());
    attention_ = parse_attention_kind(options_.attention);
    weight_format_ = parse_weight_format(options_.weights);
  });
  const KvEvictionPolicy policy(kv_policy_);
  rank_ = load_on_ranks(world, options_.model_dir, *kernels_, attention_,
                        options_.use_mmap ? WeightPlacement::Map : WeightPlacement::Copy,
                        LayoutRequest{options_.tp, options_.sp, parse_expert_split(options_.expert_split)},
                        [&](const MappedModel& mapped) {
                          kv_request_ = kv_request(mapped);
                          return kv_request_;
                        },
                        weight_format_);
  kv_type_ = kv_request_.type;
  const MemoryFit& fit = *rank_.memory;
  // An explicit -c; else a bounded policy streams through the model's whole context; else what the
  // command asked the cache to hold (eval's text), or the model's context lowered to what fits.
  context_ = options_.context > 0   ? options_.context
             : policy.bounded()     ? config().max_position_embeddings
             : kv_request_.tokens > 0 ? kv_request_.tokens
                                      : fit.kv_tokens;
  stop_ids_ = end_of_text_ids(rank_.loaded);
  // --device: each rank takes its GPU (or not) and allocates its KV pool there; a refusal on any rank
  // ends all with one line, as the load does.
  on_every_rank(world, [&] { set_up_device(); });
}

void Runtime::print_load_line() const {
  if (!speaker()) return;
  std::fputs(thread_count_notes(threads_).c_str(), stderr);
  std::fputs(device_note_.c_str(), stderr);
  // Allowed (a long stream with Ctrl-C to end it is a use), but positions past the trained context
  // give text the model was never trained on; Qwen3 goes past 32,768 through YaRN's rope_scaling.
  if (options_.context > config().max_position_embeddings)
    std::fprintf(stderr, "note: -c %lld is past the model's max_position_embeddings (%lld)%s\n", static_cast<long long>(options_.context),
                 static_cast<long long>(config().max_position_embeddings),
                 config().rope_scaling ? "" : "; rope_scaling (YaRN) in config.json is how Qwen3 goes past its trained context");
  std::fprintf(stderr, "%s\n", load_line().c_str());
}

std::string Runtime::context_note() const {
  const std::int64_t from = rank_.memory->lowered_from;
  return from ? " (lowered from " + std::to_string(from) + " to fit memory)" : "";
}

std::int64_t Runtime::planned_kv_tokens() const { return kv_request_.tokens > 0 ? kv_request_.tokens : rank_.memory->kv_tokens; }

std::int64_t Runtime::held_kv_tokens() const {
  return !kv_request_.held_as.empty() ? planned_kv_tokens() : bounded() ? KvEvictionPolicy(kv_policy_).budget() : context_;
}

std::string Runtime::why_attention_stays_on_cpu() const {
  if (attention_ != AttentionKind::Streaming) return "--attention standard runs on the CPU (the GPU runs the streaming path)";
  if (kv_type_ == KvType::Q8) return "the GPU holds an f32 or bf16 KV cache, and --kv-type q8 runs on the CPU";
  if (KvEvictionPolicy(kv_policy_).needs_attention_mass()) return "the h2o policy's attention mass is computed on the CPU";
  if (!cuda::kernel_takes(config().head_dim, config().num_attention_heads, config().num_key_value_heads))
    return "the GPU kernel takes head_dim up to " + std::to_string(cuda::kMaxHeadDim) + " and up to " + std::to_string(cuda::kMaxGroupSize) +
           " query heads per KV head";
  return {};
}

void Runtime::set_up_device() {
  const DeviceChoice choice = choose_device(options_.device);
  // --device cuda insists (one line and exit where it cannot be honoured); auto says why it did not.
  const bool insisted = options_.device == "cuda";
  const auto stay_on_cpu = [&](const std::string& why) {
    if (insisted) throw Error("--device cuda: " + why);
    device_note_ = "note: --device auto: attention runs on the CPU: " + why + "\n";
  };
  if (choice.device < 0) {
    if (options_.device == "auto") stay_on_cpu(choice.why_cpu);
    return;
  }
  if (const std::string why = why_attention_stays_on_cpu(); !why.empty()) return stay_on_cpu(why);
  // Room for this member's blocks of every token the cache holds, a quarter more for blocks that
  // eviction leaves part-filled, and 8 for sequences' last blocks; a call past it runs on the CPU.
  const std::int64_t blocks = (held_kv_tokens() + options_.kv_block - 1) / options_.kv_block / model().distribution().part.kv_members;
  try {
    device_attention_ = std::make_unique<DeviceAttention>(choice.device, model().kv_shape(kv_type_, options_.kv_block), blocks + blocks / 4 + 8);
  } catch (const Error& e) {
    return stay_on_cpu(one_line(e.what()));
  }
  model().set_device_attention(device_attention_.get());
}

KvCache Runtime::new_cache() const { return model().new_cache(kv_type_, options_.kv_block, context_); }

// load: DIR | 0.12 s | weights 10.4 MiB (bf16, huge-page copy) | kv cache bf16, up to 6.0 MiB at -c 512 |
//       kernels avx512, prefill gemm ... | attention streaming on cpu | threads 2 [| numa ...] [| ranks 4 = ...]
// With several ranks the weights and the KV cache are rank 0's share; with NUMA domains, member 0's.
std::string Runtime::load_line() const {
  const Qwen3Weights& w = model().weights();
  const bool bounded_cache = bounded();
  const std::int64_t held = held_kv_tokens();
  const double kv_bytes =
      rank_memory(config(), model().distribution().part, static_cast<double>(w.matrix_bytes), kv_request_).kv_per_token *
      static_cast<double>(held);
  const std::string kv_limit = !kv_request_.held_as.empty() ? kv_request_.held_as
                               : bounded_cache              ? "for " + describe_kv_policy(kv_policy_)
                                                            : "at -c " + std::to_string(context_) + describe_lowered_context(*rank_.memory);
  const bool domains = !options_.numa_description.empty();
  std::string where = domains ? " | numa " + options_.numa_description : std::string();
  if (world_->size() > 1)
    where += std::string(domains ? " | members " : " | ranks ") + std::to_string(world_->size()) + " = " +
             rank_.loaded.layout.describe() + describe_expert_split(config(), rank_.loaded.layout) +
             (domains ? " (member 0's share)" : " (rank 0's share)");
  const DType body = w.body_dtype();
  std::string kernels_desc = kernels::describe_kernels(*kernels_, body);
  if (options_.decode_rows == "bf16" && !kernels_->matmul_bf16)  // asked for, but not this CPU's (or variant's)
    kernels_desc += " (decode rows f32: no avx512bf16 here)";
  return printf_string(
                "load: %s | %.2f s | weights %s (%s, %s) | kv cache %s, up to %s %s | kernels %s, prefill gemm %s | attention %s | threads %d",
                options_.model_dir.c_str(), rank_.loaded.load_seconds, format_bytes(static_cast<double>(w.matrix_bytes)).c_str(),
                describe_weight_dtypes(w).c_str(), w.storage ? "huge-page copy" : "mmap",
                std::string(kernels::kv_type_name(kv_type_)).c_str(), format_bytes(kv_bytes).c_str(), kv_limit.c_str(),
                kernels_desc.c_str(),
                kernels::describe_prefill_gemm(*kernels_, body).c_str(),
                (std::string(attention_kind_name(attention_)) + " on " + (device_attention_ ? device_attention_->describe() : "cpu")).c_str(),
                threads_.granted) +
         where;
}

}  // namespace qwen3
