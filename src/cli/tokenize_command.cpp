// `qwen3_mpi tokenize -m DIR TEXT`: the ids (and with --json the token strings) of TEXT, encoded as
// Hugging Face's Tokenizer.encode(text, add_special_tokens=False) does. DIR needs only tokenizer.json.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "engine/loaded_model.hpp"

namespace qwen3::cli {

int run_tokenize(const TokenizeOptions& opt) {
  const Tokenizer tok = load_tokenizer(opt.model_dir);
  const std::vector<std::int32_t> ids = tok.encode(opt.text);
  if (opt.json) {
    nlohmann::json tokens = nlohmann::json::array();
    for (std::int32_t id : ids) tokens.push_back(tok.token_string(id));
    const nlohmann::json j = {{"ids", ids}, {"tokens", tokens}};
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  } else {
    std::cout << format_id_list(ids) << std::endl;
  }
  return 0;
}

}  // namespace qwen3::cli
