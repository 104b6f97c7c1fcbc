// Bad input: exit status exactly 1, nothing on stdout, exactly one line on stderr, "qwen3_mpi: error:
// ...", within seconds. Each case's regex is what that line must say about the problem: the file,
// tensor, flag or value, and what is wrong with it. Where the message is CLI11's, only the flag and
// the value are matched, not CLI11's sentence. Broken checkpoints are copies of a fixture, edited in
// the case's own directory (model_copy.hpp); tests/data is never modified.
#include "cli_case.hpp"
#include "cli_fixtures.hpp"

namespace qwen3::test::cli {
namespace {

const Args kCopy = {"-m", kModelCopy};
const Args kHi = {"-p", "hi", "-n", "4"};
const Args kGqa4Hi = Args{"-m", kGqa4} + kHi;
const Args kCopyHi = kCopy + kHi;

ModelCopy gqa4_with(ModelEdit e) { return {kGqa4, std::move(e)}; }
ModelCopy mha_with(ModelEdit e) { return {kMhaTied, std::move(e)}; }
Env memory(const std::string& bytes) { return {{"QWEN3_MEMORY_AVAILABLE", bytes}}; }

const BadInputCase kModelCases[] = {
    {"missing_model_dir", {"-m", kTmp + "/no-such-model", "-p", "hi", "-n", "4"}, "<TMP>/no-such-model: model directory not found$"},
    {"model_is_a_file", {"-m", kGqa4 + "/config.json", "-p", "hi", "-n", "4"}, R"(tiny-gqa4/config\.json: model directory not found$)"},
    {"dir_without_config", kCopyHi, R"(<TMP>/model/config\.json: cannot open: no such file$)", gqa4_with(remove_file("config.json"))},
    {"malformed_config", kCopyHi, R"(/config\.json: malformed JSON: parse error at line 2, column 1: .*unexpected end of input)",
     gqa4_with(write_file("config.json", "{\"model_type\": \"qwen3\", \"hidden_size\": 64,\n"))},
    {"empty_config", kCopyHi, R"(/config\.json: malformed JSON: parse error at line 1, column 1: .*unexpected end of input)",
     gqa4_with(write_file("config.json", ""))},
    {"config_not_an_object", kCopyHi, R"(/config\.json: expected a JSON object at the top level, got array$)", gqa4_with(write_file("config.json", "[1, 2, 3]\n"))},
    {"config_missing_vocab_size", kCopyHi, R"(/config\.json: vocab_size: missing \(required\)$)",
     gqa4_with(replace_text("config.json", "\"vocab_size\": 400", "\"vocab_sizes\": 400"))},
    {"config_hidden_size_string", kCopyHi, R"(/config\.json: hidden_size: expected an integer, got string$)",
     gqa4_with(replace_text("config.json", "\"hidden_size\": 64", "\"hidden_size\": \"64\""))},
    // A config.json that disagrees with the tensors.
    {"config_hidden_size_mismatch", kCopyHi, R"(error: model\.embed_tokens\.weight: shape \[400, 64\] in the checkpoint, config\.json implies \[400, 96\]$)",
     gqa4_with(replace_text("config.json", "\"hidden_size\": 64", "\"hidden_size\": 96"))},
    {"config_more_layers", kCopyHi, R"(: tensor model\.layers\.2\.[a-z_.]+\.weight not found$)",
     gqa4_with(replace_text("config.json", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3"))},
    {"config_fewer_layers", kCopyHi,
     R"(: tensor model\.layers\.1\.[a-z_.]+\.weight is not part of a qwen3 model with num_hidden_layers=1 \(config\.json does not match the weights\)$)",
     gqa4_with(replace_text("config.json", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1"))},
    {"config_vocab_size_mismatch", kCopyHi, R"(error: model\.embed_tokens\.weight: shape \[400, 64\] in the checkpoint, config\.json implies \[384, 64\]$)",
     gqa4_with(replace_text("config.json", "\"vocab_size\": 400", "\"vocab_size\": 384"))},
    {"config_kv_heads_mismatch", kCopyHi,
     R"(error: model\.layers\.0\.self_attn\.k_proj\.weight: shape \[128, 64\] in the checkpoint, config\.json implies \[256, 64\]$)",
     gqa4_with(replace_text("config.json", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4"))},
    {"config_head_dim_mismatch", kCopyHi,
     R"(error: model\.layers\.0\.self_attn\.q_proj\.weight: shape \[512, 64\] in the checkpoint, config\.json implies \[256, 64\]$)",
     gqa4_with(replace_text("config.json", "\"head_dim\": 64", "\"head_dim\": 32"))},
    {"config_intermediate_size_mismatch", kCopyHi,
     R"(error: model\.layers\.0\.mlp\.gate_proj\.weight: shape \[128, 64\] in the checkpoint, config\.json implies \[64, 64\]$)",
     gqa4_with(replace_text("config.json", "\"intermediate_size\": 128", "\"intermediate_size\": 64"))},
    {"tied_config_mismatch_sharded", kCopyHi, R"(error: model\.embed_tokens\.weight: shape \[400, 128\] in the checkpoint, config\.json implies \[400, 64\]$)",
     mha_with(replace_text("config.json", "\"hidden_size\": 128", "\"hidden_size\": 64"))},
    // Features the runtime refuses rather than computing something else.
    {"rope_scaling_not_yarn", kCopyHi, R"(/config\.json: rope_scaling: rope_type: "linear" is not supported \(only "yarn"\)$)",
     gqa4_with(replace_text("config.json", "\"rope_scaling\": null", R"("rope_scaling": {"rope_type": "linear", "factor": 4.0})"))},
    {"use_sliding_window", kCopyHi, R"(/config\.json: use_sliding_window: true is not supported)",
     gqa4_with(replace_text("config.json", "\"use_sliding_window\": false", "\"use_sliding_window\": true"))},
    // A qwen3_moe config must name its experts; a dense checkpoint under it lacks the router.
    {"model_type_qwen3_moe_without_experts", kCopyHi, R"(/config\.json: num_experts: missing \(required\)$)",
     gqa4_with(replace_text("config.json", "\"model_type\": \"qwen3\"", "\"model_type\": \"qwen3_moe\""))},
    {"model_type_unknown", kCopyHi, R"(/config\.json: model_type "llama" is not supported \(only qwen3 and qwen3_moe\)$)",
     gqa4_with(replace_text("config.json", "\"model_type\": \"qwen3\"", "\"model_type\": \"llama\""))},
    {"moe_experts_per_token_above_experts", kCopyHi, R"(/config\.json: num_experts_per_tok: 9 is more than num_experts 8$)",
     ModelCopy{kMoe, replace_text("config.json", "\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 9")}},
    {"moe_expert_tensor_missing", kCopyHi, R"(: tensor model\.layers\.0\.mlp\.experts\.3\.up_proj\.weight not found$)",
     ModelCopy{kMoe, replace_text("model.safetensors", "model.layers.0.mlp.experts.3.up_proj.weight", "model.layers.0.mlp.experts.3.up_proj.weighX")}},
    // Broken safetensors files.
    {"truncated_safetensors", kCopyHi, R"(/model\.safetensors: tensor model\.[a-z0-9_.]+: data_offsets \[[0-9]+, [0-9]+\] run past the data section \([0-9]+ bytes\)$)",
     gqa4_with(truncate_file("model.safetensors"))},
    {"truncated_in_header", kCopyHi, R"(/model\.safetensors: header length [0-9]+ runs past the end of the file \(100 bytes\)$)",
     gqa4_with(truncate_file("model.safetensors", 100))},
    {"safetensors_shorter_than_8_bytes", kCopyHi, R"(/model\.safetensors: file is 5 bytes, too short for a safetensors file)",
     gqa4_with(truncate_file("model.safetensors", 5))},
    {"safetensors_header_past_eof", kCopyHi, R"(/model\.safetensors: header length [0-9]+ runs past the end of the file \([0-9]+ bytes\)$)",
     gqa4_with(header_length_past_eof("model.safetensors"))},
    {"safetensors_header_not_json", kCopyHi, R"(/model\.safetensors: header is not valid JSON: .*'#'$)", gqa4_with(header_not_json("model.safetensors"))},
    {"truncated_shard", kCopyHi, R"(/model-00002-of-00002\.safetensors: tensor model\.[a-z0-9_.]+: data_offsets \[[0-9]+, [0-9]+\] run past the data section)",
     mha_with(truncate_file("model-00002-of-00002.safetensors"))},
    {"malformed_shard_index", kCopyHi, R"(/model\.safetensors\.index\.json: malformed JSON: )",
     mha_with(write_file("model.safetensors.index.json", "{\"weight_map\": "))},
    {"shard_index_names_missing_file", kCopyHi, R"(/model-00003-of-00002\.safetensors: cannot open: No such file or directory$)",
     mha_with(replace_text("model.safetensors.index.json", "model-00002-of-00002.safetensors", "model-00003-of-00002.safetensors"))},
    // tiny-mha-tied has no lm_head.weight: untying it in config.json must be refused.
    {"untied_config_without_lm_head", kCopyHi, R"(: tensor lm_head\.weight not found$)",
     mha_with(replace_text("config.json", "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"))},
    {"missing_shard", kCopyHi, R"(/model-00001-of-00002\.safetensors: cannot open: No such file or directory$)",
     mha_with(remove_file("model-00001-of-00002.safetensors"))},
    {"no_weights", kCopyHi, R"(: no model\.safetensors or model\.safetensors\.index\.json$)", gqa4_with(remove_file("model.safetensors"))},
    {"malformed_generation_config", kCopyHi, R"(/generation_config\.json: malformed JSON: )",
     gqa4_with(write_file("generation_config.json", "{\"do_sample\": tru"))},
    {"malformed_tokenizer", kCopyHi, R"(/tokenizer\.json: malformed JSON: )", gqa4_with(write_file("tokenizer.json", "{\"model\": "))},
    {"text_prompt_without_tokenizer", kCopyHi, R"(: no tokenizer\.json \(needed for text prompts)", gqa4_with(remove_file("tokenizer.json"))},
};

const Args kVerify2 = {"-m", kGqa4, "--gen-len", "2", "--verify"};  // the ids follow
const BadInputCase kVerifyCases[] = {
    {"verify_negative_id", kVerify2 + Args{"40,-2,83"}, R"(error: --verify: token id -2 is negative$)"},
    {"verify_non_numeric_id", kVerify2 + Args{"40,abc"}, R"(error: --verify: 'abc' is not a token id)"},
    {"verify_id_equals_vocab_size", kVerify2 + Args{"40,400"}, R"(error: token id 400 is out of range for vocab_size 400$)"},
    {"verify_id_huge", kVerify2 + Args{"99999999999"}, R"(error: --verify: token id 99999999999 is out of range$)"},
    {"verify_id_overflows_int64", kVerify2 + Args{"99999999999999999999999"}, R"(error: --verify: .*99999999999999999999999)"},
    {"verify_empty_item", kVerify2 + Args{"40,,83"}, R"(error: --verify: '' is not a token id)"},
    {"verify_trailing_comma", kVerify2 + Args{"40,83,"}, R"(error: --verify: '' is not a token id)"},
    {"verify_space_separated", kVerify2 + Args{"40 83"}, R"(error: --verify: '40 83' is not a token id)"},
    {"verify_with_chat", kVerify2 + Args{"40,83", "--chat"}, R"(error: --verify .*cannot be combined with --chat$)"},
    {"verify_longer_than_context", verify_gqa4(8) + Args{"-c", "32"}, R"(error: prompt of 74 tokens does not fit the context: -c 32$)"},
    {"verify_gen_len_past_context", {"-m", kGqa4, "--verify", "40,83", "--gen-len", "20", "-c", "10"},
     R"(error: --verify: 2 ids \+ --gen-len 20 exceed the context -c 10$)"},
    {"verify_gen_len_past_default_context", {"-m", kGqa4, "--verify", "40", "--gen-len", "600"},
     R"(error: --verify: 1 ids \+ --gen-len 600 exceed the context -c 512$)"},
    // INT64_MAX is a valid int64, but 1 + --gen-len must not overflow into "fits the context".
    {"verify_gen_len_int64_max", {"-m", kGqa4, "--verify", "40", "--gen-len", "9223372036854775807", "-c", "10", "-t", "1"},
     R"(--gen-len\b.*\b9223372036854775807\b)"},
    {"gen_len_without_verify", {"-m", kGqa4, "-p", "hi", "--gen-len", "3"}, R"(error: --gen-len is only used with --verify$)"},
    // One process asked for a layout of several ranks.
    {"tp_without_ranks", verify_gqa4(8) + Args{"-t", "1", "--tp", "2"}, R"(^qwen3_mpi: error: --tp 2 does not divide the 1 ranks$)"},
};

const BadInputCase kPromptCases[] = {
    {"empty_prompt", {"-m", kGqa4, "-p", "", "-n", "4"}, R"(error: -p: the prompt is empty$)"},
    {"prompt_longer_than_context", {"-m", kGqa4, "-p", "It is a truth universally acknowledged", "-c", "3", "-n", "4"},
     R"(error: prompt of [0-9]+ tokens does not fit the context: -c 3$)"},
    // The corpus excerpt is about 160k tokens: more than max_position_embeddings (512), the default -c.
    {"prompt_longer_than_default_context", {"-m", kGqa4, "-f", kCorpusExcerpt, "-n", "4"},
     R"(error: prompt of [0-9]{4,} tokens does not fit the context: -c 512$)"},
    // A 1 MB prompt with no newline (~250k tokens): tokenized in bounded memory, then refused.
    {"long_prompt_file_past_context", {"-m", kGqa4, "-f", kLongPromptFile, "-n", "2", "-t", "1"},
     R"(^qwen3_mpi: error: prompt of [0-9]{6,} tokens does not fit the context: -c 512$)"},
    {"prompt_file_empty", {"-m", kGqa4, "-f", kEmptyFile, "-n", "4"}, R"(<TMP>/empty\.txt: the prompt file is empty$)"},
    {"prompt_file_is_directory", {"-m", kGqa4, "-f", kTmp, "-n", "4"}, R"(<TMP>: prompt file is a directory, not a file$)"},
    {"prompt_file_missing", {"-m", kGqa4, "-f", kTmp + "/no-such-prompt.txt", "-n", "4"}, R"(<TMP>/no-such-prompt\.txt: prompt file not found)"},
    {"prompt_and_file", {"-m", kGqa4, "-p", "hi", "-f", kPromptFile, "-n", "4"}, R"(error: give only one of -p, -f and --verify$)"},
};

const BadInputCase kOptionCases[] = {
    {"n_zero", {"-m", kGqa4, "-p", "hi", "-n", "0"}, R"(error: -n 0: nothing to generate)"},
    {"n_minus_two", {"-m", kGqa4, "-p", "hi", "-n", "-2"}, R"(--n-predict\b.*-2\b)"},
    {"n_not_a_number", {"-m", kGqa4, "-p", "hi", "-n", "abc"}, R"(--n-predict\b.*\babc\b)"},
    {"n_out_of_range", {"-m", kGqa4, "-p", "hi", "-t", "1", "-n", "99999999999999999999"}, R"(--n-predict\b.*\b99999999999999999999\b)"},
    {"unknown_option", kGqa4Hi + Args{"--bogus"}, R"(--bogus\b)"},
    {"unknown_positional", kGqa4Hi + Args{"generate"}, R"(\bgenerate\b)"},
    {"option_given_twice", kGqa4Hi + Args{"-n", "5"}, R"(--n-predict\b)"},
    {"option_missing_value", {"-p", "hi", "-n", "4", "-m"}, R"(--model\b)"},
    {"attention_quantum", kGqa4Hi + Args{"--attention", "quantum"}, R"(--attention\b.*\bquantum\b)"},
    {"kernel_foo", kGqa4Hi + Args{"--kernel", "foo"}, R"(--kernel\b.*\bfoo\b)"},
    {"kv_type_x", kGqa4Hi + Args{"--kv-type", "x"}, R"(--kv-type\b.*\bx\b)"},
    {"kv_block_zero", kGqa4Hi + Args{"--kv-block", "0"}, R"(--kv-block\b.*\b0\b)"},
    {"negative_ctx", kGqa4Hi + Args{"-c", "-5"}, R"(--ctx-size\b.*-5\b)"},
    {"negative_threads", kGqa4Hi + Args{"-t", "-1"}, R"(--threads\b.*-1\b)"},
    {"numa_value", {"-m", kGqa4, "-p", "It is", "--numa", "on"}, R"(--numa\b.*\bon\b)"},
    {"top_p_above_one", kGqa4Hi + Args{"--top-p", "2"}, R"(error: --top-p 2: expected a value in \[0, 1\]$)"},
    {"top_p_nan", kGqa4Hi + Args{"-t", "1", "--top-p", "nan"}, R"(error: --top-p [-+]?nan: expected a value in \[0, 1\]$)"},
    {"temp_nan", kGqa4Hi + Args{"-t", "1", "--temp", "nan"}, R"(error: --temp [-+]?nan: expected a finite value >= 0$)"},
    {"no_think_without_chat", kGqa4Hi + Args{"--no-think"}, R"(error: --no-think needs --chat$)"},
    {"interactive_without_chat", {"-m", kGqa4, "-n", "4", "-i"}, R"(error: -i needs --chat$)"},
    {"heavy_without_h2o", {"-m", kGqa4, "-p", "It is", "--kv-policy", "sink-window", "--heavy", "4"}, R"(--heavy is for --kv-policy h2o)"},
    {"evict_chunk_above_window", {"-m", kGqa4, "-p", "It is", "--kv-policy", "sink-window", "--window", "8", "--evict-chunk", "9"},
     R"(--evict-chunk 9: expected 1 \.\. --window \(8\))"},
};

const Args kEval = {"eval", "-m", kGqa4, "--text"};  // the text file follows
const BadInputCase kEvalCases[] = {
    {"eval_window_zero", kEval + Args{kPromptFile, "--kv-policy", "sink-window", "--window", "0"}, R"(--window\b.*\b0\b)"},
    {"eval_report_every_zero", kEval + Args{kPromptFile, "--report-every", "0"}, R"(error: --report-every 0: expected a positive number of tokens$)"},
    {"eval_chunk_one", kEval + Args{kPromptFile, "--chunk", "1"}, R"(error: --chunk 1: expected 0 \(streaming protocol\) or at least 2$)"},
    {"eval_text_missing", kEval + Args{kTmp + "/no-such-text.txt"}, R"(<TMP>/no-such-text\.txt: text file not found)"},
    {"eval_text_empty", kEval + Args{kEmptyFile}, R"(<TMP>/empty\.txt: the text file is empty$)"},
    {"eval_text_is_directory", kEval + Args{kTmp}, R"(<TMP>: text file is a directory, not a file$)"},
    // One token ("I") leaves no prediction to score.
    {"eval_text_one_token", kEval + Args{kOneTokenFile}, R"(error: eval: the text has 1 token\(s\); at least 2 are needed)"},
    {"tokenize_missing_dir", {"tokenize", "-m", kTmp + "/no-such-model", "hi"}, R"(<TMP>/no-such-model: not a directory$)"},
    {"tokenize_no_text", {"tokenize", "-m", kGqa4}, R"(\btext\b)"},
    {"tokenize_without_tokenizer", {"tokenize", "-m", kModelCopy, "hi"}, R"(<TMP>/model/tokenizer\.json: tokenizer file not found$)",
     gqa4_with(remove_file("tokenizer.json"))},
};

// Memory is checked at start-up (src/engine/memory_plan.hpp): what cannot fit is refused with one line
// giving the bytes needed and available, before any large allocation. QWEN3_MEMORY_AVAILABLE stands in
// for a smaller machine (the real cgroup path is tests/memory/test_cgroup_limit.sh). tiny-gqa4 needs
// about 131.8 MiB besides its f32 KV cache of 2 KiB per token.
const BadInputCase kMemoryCases[] = {
    // An explicit -c beyond the memory: the request, the KV bytes, the total, the source, the way out.
    {"memory_explicit_context_too_large", {"-m", kGqa4, "-p", "It is", "-n", "2", "-c", "100000000"},
     R"(-c 100000000: the KV cache needs 190\.73 GiB \(f32\) beside [0-9.]+ MiB of weights and buffers, [0-9.]+ GiB in all, but 953\.67 MiB are available \(QWEN3_MEMORY_AVAILABLE\); room for [0-9]+ tokens; use --kv-type bf16 \(half the bytes\), a smaller -c or --kv-policy sink-window)",
     std::nullopt, memory("1000000000")},
    // Less memory than weights and buffers: refused whatever the context.
    {"memory_weights_do_not_fit", {"-m", kGqa4, "-p", "It is", "-n", "2"},
     R"(tiny-gqa4: the weights and working buffers need [0-9.]+ MiB \(weights 1\.01 MiB\), but 976\.56 KiB are available)", std::nullopt, memory("1000000")},
    // A prompt longer than the lowered context is refused, naming why the context is short.
    {"memory_prompt_beyond_lowered_context", verify_gqa4(8),
     R"(prompt of 74 tokens does not fit the context: -c 64 \(lowered from 512 to fit memory\))", std::nullopt, memory("138370000")},
    // Room for less than one KV block: no cache at all is refused, not run.
    {"memory_no_room_for_one_block", {"-m", kGqa4, "-p", "It is", "-n", "2"},
     R"(tiny-gqa4: no room for a KV cache: [0-9.]+ MiB of weights and buffers leave room for 0 tokens of f32 KV cache, and [0-9.]+ MiB are available \(QWEN3_MEMORY_AVAILABLE\); use --kv-type bf16 \(half the bytes\) or --kv-policy sink-window)",
     std::nullopt, memory("138200000")},
    // eval over more tokens than a full cache can hold: refused, pointing at --max-tokens.
    {"memory_eval_full_cache_too_large", {"eval", "-m", kGqa4, "--text", kPromptFile},
     R"(eval of [0-9]+ tokens with --kv-policy full: the KV cache needs [0-9.]+ KiB \(f32\) .* available \(QWEN3_MEMORY_AVAILABLE\); room for [0-9]+ tokens; use --kv-type bf16 \(half the bytes\), a smaller --max-tokens or --kv-policy sink-window)",
     std::nullopt, memory("138170000")},
    {"memory_override_not_a_number", {"-m", kGqa4, "-p", "It is", "-n", "2"}, R"(QWEN3_MEMORY_AVAILABLE=12GB: expected a number of bytes)", std::nullopt,
     memory("12GB")},
};

// FP8 checkpoints (Qwen's published layout): what the scales or the quantization_config get wrong is
// named, never read as plain weights.
ModelCopy fp8_with(ModelEdit e) { return {kGqa4Fp8, std::move(e)}; }
const std::string kQProjScales = "model.layers.0.self_attn.q_proj.weight_scale_inv";
const BadInputCase kFp8Cases[] = {
    {"fp8_scales_missing", kCopyHi,
     R"(: tensor model\.layers\.0\.self_attn\.q_proj\.weight_scale_inv not found \(the scales of the FP8 weight model\.layers\.0\.self_attn\.q_proj\.weight\)$)",
     fp8_with(replace_text("model.safetensors", kQProjScales, "model.layers.0.self_attn.q_proj.weight_scale_xxx"))},
    {"fp8_scales_wrong_shape", kCopyHi,
     R"(error: model\.layers\.0\.self_attn\.q_proj\.weight_scale_inv: shape \[2, 2\] in the checkpoint, expected \[4, 1\] \(a 512 x 64 weight in blocks of 128 x 128\)$)",
     fp8_with(replace_text("model.safetensors", kQProjScales + R"(":{"dtype":"BF16","shape":[4,1])", kQProjScales + R"(":{"dtype":"BF16","shape":[2,2])"))},
    {"fp8_unknown_fmt", kCopyHi, R"(/config\.json: quantization_config\.fmt: "e5m2" is not supported \(only "e4m3"\)$)",
     fp8_with(replace_text("config.json", R"("fmt": "e4m3")", R"("fmt": "e5m2")"))},
    {"fp8_block_size_not_two", kCopyHi, R"(/config\.json: quantization_config\.weight_block_size: \[64,128,128\] is not supported \(expected two positive integers)",
     fp8_with(replace_text("config.json", R"("weight_block_size": [)", R"("weight_block_size": [64,)"))},
    {"fp8_other_quant_method", kCopyHi, R"(/config\.json: quantization_config\.quant_method: "awq" is not supported \(only "fp8")",
     fp8_with(replace_text("config.json", R"("quant_method": "fp8")", R"("quant_method": "awq")"))},
    {"fp8_static_activations", kCopyHi, R"(quantization_config\.activation_scheme: "static" is not supported)",
     fp8_with(replace_text("config.json", R"("activation_scheme": "dynamic")", R"("activation_scheme": "static")"))},
    {"fp8_without_quantization_config", kCopyHi,
     R"(error: model\.layers\.0\.self_attn\.q_proj\.weight: dtype F8_E4M3, but config\.json has no quantization_config saying how its scales are blocked$)",
     fp8_with(replace_text("config.json", R"("quantization_config")", R"("quantization_confix")"))},
    {"fp8_widened_to_bf16", Args{"-m", kGqa4Fp8, "--weights", "bf16"} + kHi,
     R"(tiny-gqa4-fp8: --weights bf16: this is an FP8 checkpoint; its weights run in 8 bits \(--weights auto or q8\), never widened$)"},
    {"weights_unknown", kGqa4Hi + Args{"--weights", "q4"}, R"(--weights\b.*\bq4\b)"},
};

class BadInput : public CliCaseTest<BadInputCase> {};
TEST_P(BadInput, IsRefusedWithOneErrorLine) { check_bad_input_case(GetParam()); }
INSTANTIATE_TEST_SUITE_P(cli, BadInput,
                         ::testing::ValuesIn(concat(kModelCases, kFp8Cases, kVerifyCases, kPromptCases, kOptionCases, kEvalCases, kMemoryCases)), CaseName());

}  // namespace
}  // namespace qwen3::test::cli
