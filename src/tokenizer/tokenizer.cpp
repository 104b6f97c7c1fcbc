// Qwen2/Qwen3 tokenizer: loading tokenizer.json and the encode/decode pipeline. The pieces live in
// small private files: utf8.* (repair, NFC), added_tokens.* (literal matching of added tokens),
// pretokenizer.* (the Split regex on PCRE2), byte_level.* (GPT-2 byte table), bpe.* (merges).
//
// encode(text), as Hugging Face's Tokenizer.encode(text, add_special_tokens=False) runs it:
//   0. ill-formed UTF-8 is repaired first: each maximal ill-formed subpart becomes U+FFFD (what
//      Python's bytes.decode("utf-8", errors="replace") yields, so the ids equal HF's on that str);
//   1. added tokens with normalized=false are matched in the raw text (leftmost-longest);
//   2. the rest is NFC-normalised segment by segment, then added tokens with normalized=true are
//      matched in it;
//   3. the remaining text goes through the Split regex(es) of the pre-tokenizer;
//   4. each piece's bytes become their byte-level token ids and are merged by BPE rank.
#include "qwen3/tokenizer.hpp"

#include <algorithm>
#include <cctype>
#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>

#include "added_tokens.hpp"
#include "bpe.hpp"
#include "byte_level.hpp"
#include "pretokenizer.hpp"
#include "qwen3/error.hpp"
#include "utf8.hpp"

namespace qwen3 {

using json = nlohmann::json;

namespace {

enum class Kind : std::uint8_t { kNone, kVocab, kAdded, kSpecial };

// Ids index dense tables; real vocabularies stay far below this (Qwen3: 151 669).
constexpr std::int64_t kMaxId = std::int64_t{1} << 24;

// The raw bytes a vocab spelling stands for: each character through the inverse byte table; a
// spelling with a character outside the table stands for its own UTF-8 (as HF's decoder does).
std::string spelling_to_bytes(std::string_view spelling) {
  std::string out;
  out.reserve(spelling.size());
  const auto* p = reinterpret_cast<const unsigned char*>(spelling.data());
  std::size_t i = 0;
  while (i < spelling.size()) {
    char32_t cp = 0;
    const int r = tok::utf8_next(p + i, spelling.size() - i, &cp);
    const int b = r > 0 ? tok::unicode_to_byte(cp) : -1;
    if (b < 0) return std::string(spelling);
    out += static_cast<char>(b);
    i += static_cast<std::size_t>(r);
  }
  return out;
}

std::string byte_spelling(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes)
    tok::append_utf8(out, tok::byte_to_unicode()[static_cast<unsigned char>(c)]);
  return out;
}

}  // namespace

struct Tokenizer::Impl {
  std::string path;  // for messages

  std::unordered_map<std::string, std::int32_t> vocab;  // model vocab spelling -> id
  std::unordered_map<std::string, std::int32_t> added;  // added token content -> id
  std::vector<std::string> spelling;                    // id -> vocab spelling / added content
  std::vector<std::string> bytes;                       // id -> raw bytes
  std::vector<Kind> kind;                               // id -> what it is

  tok::BpeMerges merges;
  std::array<std::int32_t, 256> byte_id{};  // byte -> id of its single-byte token, -1 if none
  std::int32_t unk_id = -1;  // bytes without a token become this, or are dropped when -1
  bool fuse_unk = false;
  bool ignore_merges = false;

  bool nfc = false;
  bool byte_level = false;                    // a ByteLevel pre-tokenizer was seen
  std::vector<tok::RegexSplitter> splitters;  // applied in order, each to the previous pieces
  tok::AddedTokenMatcher raw_added;           // normalized=false tokens
  tok::AddedTokenMatcher normalized_added;    // normalized=true tokens (content NFC'd)
  // encode_prefix() may cut the text between "\n" and an ASCII letter: true while every Split regex
  // is one known to split there (Qwen2's, GPT-2's) and no added token could straddle the cut.
  bool cuts_after_newline_are_safe = true;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(one_line(path + ": " + what));
  }

  void check_id(std::int32_t id) const {
    if (id < 0 || id >= static_cast<std::int32_t>(kind.size()) || kind[id] == Kind::kNone) {
      fail("token id " + std::to_string(id) + " is not in the vocabulary (" +
           std::to_string(kind.size()) + " ids)");
    }
  }

  // Per-encode() memo of merged words: prose repeats its words a lot.
  struct Scratch {
    std::vector<std::int32_t> word;
    std::unordered_map<std::string, std::pair<std::uint32_t, std::uint32_t>> cache;
    std::vector<std::int32_t> cached_ids;
  };

  void encode_word(std::string_view piece, Scratch& s, std::vector<std::int32_t>& out) const {
    if (piece.size() == 1) {
      const std::int32_t id = byte_id[static_cast<unsigned char>(piece[0])];
      if (id >= 0) {
        out.push_back(id);
      } else if (unk_id >= 0) {
        out.push_back(unk_id);
      }
      return;
    }
    if (ignore_merges) {
      const auto it = vocab.find(byte_spelling(piece));
      if (it != vocab.end()) {
        out.push_back(it->second);
        return;
      }
    }
    const bool use_cache = piece.size() >= 4 && piece.size() <= 64;
    if (use_cache) {
      const auto it = s.cache.find(std::string(piece));
      if (it != s.cache.end()) {
        out.insert(out.end(), s.cached_ids.begin() + it->second.first,
                   s.cached_ids.begin() + it->second.first + it->second.second);
        return;
      }
    }
    s.word.clear();
    for (const char c : piece) {
      const std::int32_t id = byte_id[static_cast<unsigned char>(c)];
      if (id >= 0) {
        s.word.push_back(id);
      } else if (unk_id >= 0 && !(fuse_unk && !s.word.empty() && s.word.back() == unk_id)) {
        s.word.push_back(unk_id);
      }
    }
    const std::size_t first = out.size();
    merges.apply(s.word, out);
    if (use_cache) {
      const auto at = static_cast<std::uint32_t>(s.cached_ids.size());
      s.cached_ids.insert(s.cached_ids.end(), out.begin() + static_cast<std::ptrdiff_t>(first),
                          out.end());
      s.cache.emplace(std::string(piece),
                      std::make_pair(at, static_cast<std::uint32_t>(out.size() - first)));
    }
  }

  void pre_tokenize(std::string_view text, std::size_t level, Scratch& s,
                    std::vector<std::int32_t>& out) const {
    if (text.empty()) return;
    if (level == splitters.size()) {
      encode_word(text, s, out);
      return;
    }
    splitters[level].split(text, [&](std::size_t b, std::size_t e) {
      pre_tokenize(text.substr(b, e - b), level + 1, s, out);
    });
  }

  void encode_normalized(std::string_view text, Scratch& s, std::vector<std::int32_t>& out) const {
    if (normalized_added.empty()) {
      pre_tokenize(text, 0, s, out);
      return;
    }
    for (const tok::Segment& seg : normalized_added.split(text)) {
      if (seg.id >= 0) {
        out.push_back(seg.id);
      } else {
        pre_tokenize(text.substr(seg.begin, seg.end - seg.begin), 0, s, out);
      }
    }
  }

  void load(const json& j);
  void load_model(const json& model);
  void load_added_tokens(const json& list);
  void load_normalizer(const json& n);
  void load_pre_tokenizer(const json& p);
};

// ---------------------------------------------------------------------------------------------
// Loading

namespace {

const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

bool flag(const json& obj, const char* key, bool fallback) {
  const json* v = member(obj, key);
  return v && v->is_boolean() ? v->get<bool>() : fallback;
}

std::string type_of(const json& obj) {
  const json* t = member(obj, "type");
  return t && t->is_string() ? t->get<std::string>() : std::string();
}

}  // namespace

void Tokenizer::Impl::load_model(const json& model) {
  if (!model.is_object()) fail("\"model\" is missing or not an object");
  const std::string type = type_of(model);
  if (!type.empty() && type != "BPE") fail("model.type is \"" + type + "\", only BPE is supported");
  const json* v = member(model, "vocab");
  const json* m = member(model, "merges");
  if (!v || !v->is_object()) fail("model.vocab is missing or not an object");
  if (!m || !m->is_array()) fail("model.merges is missing or not an array");
  if (const json* d = member(model, "dropout"); d && d->is_number() && d->get<double>() > 0.0) {
    fail("model.dropout is set; BPE dropout is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const json* s = member(model, key);
        s && s->is_string() && !s->get_ref<const std::string&>().empty()) {
      fail(std::string("model.") + key + " is not supported");
    }
  }
  ignore_merges = flag(model, "ignore_merges", false);
  fuse_unk = flag(model, "fuse_unk", false);

  vocab.reserve(v->size());
  std::int32_t max_id = -1;
  for (const auto& [spell, idv] : v->items()) {
    if (!idv.is_number_integer() || idv.get<std::int64_t>() < 0 ||
        idv.get<std::int64_t>() >= kMaxId) {
      fail("model.vocab[\"" + spell + "\"] is not a valid id");
    }
    const auto id = static_cast<std::int32_t>(idv.get<std::int64_t>());
    vocab.emplace(spell, id);
    max_id = std::max(max_id, id);
  }
  spelling.resize(static_cast<std::size_t>(max_id + 1));
  kind.assign(spelling.size(), Kind::kNone);
  for (const auto& [spell, id] : vocab) {
    spelling[id] = spell;
    kind[id] = Kind::kVocab;
  }

  auto lookup = [&](const std::string& s, std::size_t rank) {
    const auto it = vocab.find(s);
    if (it == vocab.end())
      fail("model.merges[" + std::to_string(rank) + "] uses \"" + s +
           "\", which is not in the vocab");
    return it->second;
  };
  merges.reserve(m->size());
  std::string left, right;
  std::size_t rank = 0;
  for (const json& entry : *m) {
    if (entry.is_string()) {  // "a b"
      const std::string& s = entry.get_ref<const std::string&>();
      const std::size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        fail("model.merges[" + std::to_string(rank) + "] is not \"left right\"");
      }
      left.assign(s, 0, sp);
      right.assign(s, sp + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      fail("model.merges[" + std::to_string(rank) +
           "] is neither \"left right\" nor [left, right]");
    }
    const std::int32_t a = lookup(left, rank);
    const std::int32_t b = lookup(right, rank);
    const std::int32_t ab = lookup(left + right, rank);
    merges.add(a, b, ab, static_cast<std::int32_t>(rank));
    ++rank;
  }

  for (int b = 0; b < 256; ++b) {
    std::string s;
    tok::append_utf8(s, tok::byte_to_unicode()[b]);
    const auto it = vocab.find(s);
    byte_id[b] = it == vocab.end() ? -1 : it->second;
  }
  if (const json* u = member(model, "unk_token"); u && u->is_string()) {
    const auto it = vocab.find(u->get<std::string>());
    if (it != vocab.end()) unk_id = it->second;
  }
}

void Tokenizer::Impl::load_normalizer(const json& n) {
  if (n.is_null()) return;
  const std::string type = type_of(n);
  if (type == "NFC") {
    nfc = true;
  } else if (type == "Sequence") {
    const json* list = member(n, "normalizers");
    if (!list || !list->is_array()) fail("normalizer Sequence without a \"normalizers\" list");
    for (const json& item : *list) load_normalizer(item);
  } else {
    fail("normalizer \"" + type + "\" is not supported (only NFC)");
  }
}

void Tokenizer::Impl::load_pre_tokenizer(const json& p) {
  const std::string type = type_of(p);
  if (type == "Sequence") {
    const json* list = member(p, "pretokenizers");
    if (!list || !list->is_array()) fail("pre_tokenizer Sequence without a \"pretokenizers\" list");
    for (const json& item : *list) load_pre_tokenizer(item);
    return;
  }
  std::string regex;
  if (type == "Split") {
    const json* pattern = member(p, "pattern");
    if (!pattern) fail("pre_tokenizer Split has no pattern");
    const json* behavior = member(p, "behavior");
    if (!behavior || !behavior->is_string() || behavior->get<std::string>() != "Isolated" ||
        flag(p, "invert", false)) {
      fail("pre_tokenizer Split is supported only with behavior \"Isolated\" and invert false");
    }
    if (const json* r = member(*pattern, "Regex"); r && r->is_string()) {
      regex = r->get<std::string>();
    } else if (const json* s = member(*pattern, "String"); s && s->is_string()) {
      regex = "\\Q" + s->get<std::string>() + "\\E";
    } else {
      fail("pre_tokenizer Split has no Regex or String pattern");
    }
  } else if (type == "ByteLevel") {
    byte_level = true;
    if (flag(p, "add_prefix_space", false))
      fail("pre_tokenizer ByteLevel add_prefix_space is not supported");
    if (!flag(p, "use_regex", true)) return;
    // The GPT-2 pattern that ByteLevel applies itself when use_regex is true.
    regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  } else {
    fail("pre_tokenizer \"" + type + "\" is not supported");
  }
  // Both split "\n" from a following letter whatever comes before: "\s*[\r\n]+" or "\s+" ends at the
  // newline and a letter opens a new piece. Another pattern might not.
  static const std::string kQwen2 =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  static const std::string kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  if (regex != kQwen2 && regex != kGpt2) cuts_after_newline_are_safe = false;
  try {
    splitters.emplace_back(regex);
  } catch (const std::runtime_error& e) {
    fail(e.what());
  }
}

void Tokenizer::Impl::load_added_tokens(const json& list) {
  if (list.is_null()) return;
  if (!list.is_array()) fail("added_tokens is not an array");
  for (const json& t : list) {
    const json* idv = member(t, "id");
    const json* content = member(t, "content");
    if (!idv || !idv->is_number_integer() || idv->get<std::int64_t>() < 0 ||
        idv->get<std::int64_t>() >= kMaxId || !content || !content->is_string()) {
      fail("added_tokens has an entry without a valid \"id\" and \"content\"");
    }
    const auto id = static_cast<std::int32_t>(idv->get<std::int64_t>());
    const std::string& text = content->get_ref<const std::string&>();
    const bool special = flag(t, "special", false);
    if (static_cast<std::size_t>(id) >= kind.size()) {
      kind.resize(static_cast<std::size_t>(id) + 1, Kind::kNone);
      spelling.resize(kind.size());
    }
    kind[id] = special ? Kind::kSpecial : Kind::kAdded;
    spelling[id] = text;
    added[text] = id;
    // A token with a newline inside could span the cut, one starting with a letter could begin at it.
    if (text.find('\n') != std::string::npos || (!text.empty() && std::isalpha(static_cast<unsigned char>(text[0]))))
      cuts_after_newline_are_safe = false;
    tok::AddedTokenSpec spec;
    spec.id = id;
    spec.single_word = flag(t, "single_word", false);
    spec.lstrip = flag(t, "lstrip", false);
    spec.rstrip = flag(t, "rstrip", false);
    if (flag(t, "normalized", !special)) {
      spec.content = nfc ? tok::nfc(tok::utf8_repair(text)) : text;
      normalized_added.add(std::move(spec));
    } else {
      spec.content = text;
      raw_added.add(std::move(spec));
    }
  }
}

void Tokenizer::Impl::load(const json& j) {
  if (!j.is_object()) fail("not a tokenizer.json (top level is not an object)");
  const json none;
  const json* model = member(j, "model");
  load_model(model ? *model : none);
  const json* normalizer = member(j, "normalizer");
  load_normalizer(normalizer ? *normalizer : none);
  if (const json* p = member(j, "pre_tokenizer"); p && !p->is_null()) load_pre_tokenizer(*p);
  if (!byte_level) fail("pre_tokenizer has no ByteLevel step; only byte-level BPE is supported");
  // Added tokens last: their normalized contents need the normalizer.
  const json* added_tokens = member(j, "added_tokens");
  load_added_tokens(added_tokens ? *added_tokens : none);
  bytes.resize(spelling.size());
  for (std::size_t id = 0; id < spelling.size(); ++id) {
    if (kind[id] == Kind::kVocab) {
      bytes[id] = spelling_to_bytes(spelling[id]);
    } else if (kind[id] != Kind::kNone) {
      bytes[id] = spelling[id];
    }
  }
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& tokenizer_json) {
  auto impl = std::make_unique<Impl>();
  impl->path = tokenizer_json.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(tokenizer_json, ec)) impl->fail("tokenizer file not found");
  std::ifstream in(tokenizer_json, std::ios::binary);
  if (!in) impl->fail("cannot open tokenizer file");
  std::string text;
  {
    std::ostringstream ss;
    ss << in.rdbuf();
    text = std::move(ss).str();
  }
  if (in.bad()) impl->fail("cannot read tokenizer file");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    impl->fail(std::string("malformed JSON: ") + e.what());
  }
  try {
    impl->load(j);
  } catch (const json::exception& e) {
    impl->fail(std::string("unexpected tokenizer.json layout: ") + e.what());
  }
  return Tokenizer(std::move(impl));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

// ---------------------------------------------------------------------------------------------
// Encoding and lookups

std::vector<std::int32_t> Tokenizer::encode(std::string_view text) const {
  const Impl& m = *impl_;
  std::string repaired;
  if (!tok::utf8_valid(text)) {
    repaired = tok::utf8_repair(text);
    text = repaired;
  }
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 4);
  Impl::Scratch scratch;
  for (const tok::Segment& seg : m.raw_added.split(text)) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
      continue;
    }
    const std::string_view part = text.substr(seg.begin, seg.end - seg.begin);
    if (part.empty()) continue;
    if (m.nfc) {
      m.encode_normalized(tok::nfc(part), scratch, out);
    } else {
      m.encode_normalized(part, scratch, out);
    }
  }
  return out;
}

std::size_t Tokenizer::prefix_cut(std::string_view text, std::size_t at) const {
  if (!impl_->cuts_after_newline_are_safe) return std::string_view::npos;
  // Between "\n" and an ASCII letter no piece, merge or added token spans the cut, NFC composes
  // nothing across it (a newline composes with nothing, and what follows a letter stays with it),
  // and UTF-8 repair is local.
  for (std::size_t cut = std::max<std::size_t>(at, 1); cut < text.size(); ++cut)
    if (text[cut - 1] == '\n' && std::isalpha(static_cast<unsigned char>(text[cut]))) return cut;
  return std::string_view::npos;
}

std::vector<std::int32_t> Tokenizer::encode_prefix(std::string_view text, std::size_t n) const {
  auto first_n = [n](std::vector<std::int32_t> ids) {
    if (ids.size() > n) ids.resize(n);
    return ids;
  };
  // Grow the prefix until it gives n ids.
  for (std::size_t want = std::max<std::size_t>(std::size_t(1) << 16, n * 8); want < text.size(); want *= 4) {
    const std::size_t cut = prefix_cut(text, want);
    if (cut == std::string_view::npos) break;
    std::vector<std::int32_t> ids = encode(text.substr(0, cut));
    if (ids.size() >= n) return first_n(std::move(ids));
  }
  return first_n(encode(text));
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids) const {
  std::size_t total = 0;
  for (const std::int32_t id : ids) {
    impl_->check_id(id);
    total += impl_->bytes[id].size();
  }
  std::string out;
  out.reserve(total);
  for (const std::int32_t id : ids) out += impl_->bytes[id];
  return out;
}

std::string Tokenizer::token_bytes(std::int32_t id) const {
  impl_->check_id(id);
  return impl_->bytes[id];
}

std::string Tokenizer::token_string(std::int32_t id) const {
  impl_->check_id(id);
  return impl_->spelling[id];
}

std::optional<std::int32_t> Tokenizer::token_id(std::string_view token_string) const {
  const std::string key(token_string);
  if (const auto it = impl_->added.find(key); it != impl_->added.end()) return it->second;
  if (const auto it = impl_->vocab.find(key); it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

bool Tokenizer::is_special(std::int32_t id) const {
  return id >= 0 && id < static_cast<std::int32_t>(impl_->kind.size()) &&
         impl_->kind[id] == Kind::kSpecial;
}

std::int32_t Tokenizer::size() const { return static_cast<std::int32_t>(impl_->kind.size()); }

// ---------------------------------------------------------------------------------------------
// Streaming decode

namespace {

// Moves the printable prefix of `pending` to the result: well-formed characters as they are,
// ill-formed subparts as U+FFFD. A well-formed but unfinished tail stays in `pending` unless
// `final`, in which case it becomes one U+FFFD.
std::string take_printable(std::string& pending, bool final) {
  std::string out;
  const auto* p = reinterpret_cast<const unsigned char*>(pending.data());
  const std::size_t n = pending.size();
  std::size_t i = 0;
  while (i < n) {
    char32_t cp;
    const int r = tok::utf8_next(p + i, n - i, &cp);
    if (r > 0) {
      out.append(pending, i, static_cast<std::size_t>(r));
      i += static_cast<std::size_t>(r);
    } else if (r < 0) {
      out += tok::kReplacementChar;
      i += static_cast<std::size_t>(-r);
    } else if (final) {
      out += tok::kReplacementChar;
      i = n;
    } else {
      break;
    }
  }
  pending.erase(0, i);
  return out;
}

}  // namespace

std::string Utf8StreamDecoder::push(std::int32_t id) {
  pending_ += tok_->token_bytes(id);
  return take_printable(pending_, false);
}

std::string Utf8StreamDecoder::flush() { return take_printable(pending_, true); }

}  // namespace qwen3
