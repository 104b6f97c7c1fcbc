#pragma once
// Reference data of the fixture models (tests/data/models/*/reference.safetensors, made by
// transformers; tests/data/models/README.md) that the command-line cases check against, and
// argument lists the tables share.
#include <string>
#include <vector>

#include "cli_case.hpp"

namespace qwen3::test::cli {

// tiny-gqa4 (and its bf16 and f16 copies): the prompt, its 74 ids, and the 8 greedy ids after it.
inline const std::string kGqa4PromptText =
    "It is a truth universally acknowledged, that a single man in possession of a good fortune must be in want of a wife.\n\nMr. Bennet";
inline const Ids kGqa4PromptIds = {40,  83,  361, 258, 257, 81,  334, 71,  374, 77,  72,  313, 82,  64,  283, 88,  258, 66,  74,
                                   77,  332, 75,  275, 70,  275, 11,  338, 258, 260, 278, 286, 272, 291, 294, 296, 78,  82,  82,
                                   298, 82,  310, 279, 258, 327, 78,  78,  67,  347, 83,  84,  77,  68,  272, 84,  316, 299, 294,
                                   261, 291, 83,  279, 258, 261, 72,  69,  68,  376, 44,  81,  13,  353, 268, 77,  305};
inline const Ids kGqa4GreedyIds = {395, 6, 220, 253, 117, 325, 40, 244};
// log_softmax(greedy_logits[i]) over all 400 rows (vocab_size) at greedy_ids[i]. Over only the 384
// tokenizer rows every value would be about 0.04 higher, which a 0.001 tolerance catches.
inline const std::vector<double> kGqa4GreedyLogprobs = {-3.897885, -4.127713, -4.295441, -4.208463, -4.427377, -4.085473, -3.999476, -4.253706};
// The ids of the 5 largest logits of each of those rows.
inline const std::vector<Ids> kGqa4GreedyTop5 = {{395, 38, 253, 40, 99},   {6, 395, 143, 23, 103},  {220, 17, 192, 103, 199},
                                                 {253, 395, 199, 6, 23},   {117, 6, 319, 199, 42},  {325, 161, 99, 315, 64},
                                                 {40, 199, 253, 340, 118}, {244, 54, 186, 131, 233}};

// tiny-mha-tied (sharded, tied embeddings): a prompt with curly quotes, its 22 ids, 8 greedy ids.
inline const std::string kMhaPromptText = "\u201cMy dear Mr. Bennet,\u201d said his lady.";
inline const Ids kMhaPromptIds = {302, 44, 88, 285, 68, 288, 343, 13, 353, 268, 77, 305, 11, 304, 260, 64, 333, 351, 346, 354, 88, 13};
inline const Ids kMhaGreedyIds = {127, 305, 273, 307, 238, 128, 288, 314};

// "1,2,3": ids as --verify takes them.
std::string id_arg(const Ids& ids);

// -m tiny-gqa4 --verify <the 74 prompt ids> --gen-len n
Args verify_gqa4(int gen_len, const std::string& model = kGqa4);
// -m tiny-mha-tied --verify <the 22 prompt ids> --gen-len n
Args verify_mha(int gen_len);

}  // namespace qwen3::test::cli
