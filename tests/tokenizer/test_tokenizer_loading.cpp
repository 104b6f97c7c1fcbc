// Tests for loading tokenizer.json (errors, both merge spellings, added-token flags on a tiny
// tokenizer checked against HF) and for the tokenizer's private building blocks.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "added_tokens.hpp"
#include "bpe.hpp"
#include "byte_level.hpp"
#include "pretokenizer.hpp"
#include "qwen3/error.hpp"
#include "qwen3/tokenizer.hpp"
#include "tokenizer/tokenizer_test_util.hpp"
#include "unicode_tables.hpp"
#include "utf8.hpp"

namespace {

using nlohmann::json;
using qwen3::Tokenizer;
using qwen3::test::escaped;
using qwen3::test::kTokData;
using qwen3::test::TempDir;

// Expects from_file(path) to throw qwen3::Error whose message is one line, names the file and
// contains `needle`.
void expect_load_error(const std::filesystem::path& path, const std::string& needle) {
  try {
    Tokenizer::from_file(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const qwen3::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path.string()), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

json tiny_json() { return qwen3::test::read_json(kTokData / "tiny_tokenizer.json"); }

// ------------------------------------------------------------------------------------------------
// Loading errors

// Property: a missing file throws a one-line qwen3::Error naming the file.
TEST(TokenizerLoad, MissingFile) {
  TempDir dir;
  expect_load_error(dir.path() / "nope" / "tokenizer.json", "not found");
  expect_load_error(dir.path(), "not found");  // a directory is not a tokenizer file
}

// Property: malformed JSON (truncated, empty, not JSON) throws a one-line error naming the file.
TEST(TokenizerLoad, MalformedJson) {
  TempDir dir;
  for (const std::string& bad : {std::string("{\"model\": {\"type\": \"BPE\",\n"), std::string(""),
                                 std::string("not json at all"), std::string("{\"a\":1}}")}) {
    expect_load_error(dir.write("tokenizer.json", bad), "malformed JSON");
  }
}

// Property: a model other than BPE is rejected with a message saying so.
TEST(TokenizerLoad, ModelTypeNotBpe) {
  TempDir dir;
  json j = tiny_json();
  j["model"]["type"] = "WordPiece";
  expect_load_error(dir.write("tokenizer.json", j.dump()), "only BPE");
}

// Property: structurally wrong files are rejected with one-line errors, never a crash: a merge
// naming an unknown token, a vocab that is not an object, a bad added token, a top-level array,
// an unsupported normalizer.
TEST(TokenizerLoad, BadStructure) {
  TempDir dir;
  json j = tiny_json();
  j["model"]["merges"].push_back("zzzq qqqz");
  expect_load_error(dir.write("a.json", j.dump()), "not in the vocab");

  j = tiny_json();
  j["model"]["vocab"] = json::array();
  expect_load_error(dir.write("b.json", j.dump()), "model.vocab");

  j = tiny_json();
  j["added_tokens"].push_back({{"id", "seven"}, {"content", "x"}});
  expect_load_error(dir.write("c.json", j.dump()), "added_tokens");

  expect_load_error(dir.write("d.json", "[1, 2, 3]"), "not an object");

  j = tiny_json();
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_load_error(dir.write("e.json", j.dump()), "normalizer");

  j = tiny_json();
  j["model"]["merges"][0] = 42;
  expect_load_error(dir.write("f.json", j.dump()), "model.merges[0]");
}

// ------------------------------------------------------------------------------------------------
// The tiny tokenizer: both merge spellings, added-token flags

// Property: merges written as "a b" strings and as ["a", "b"] pairs load to the same tokenizer, and
// both give HF's ids on texts that exercise lstrip, rstrip, single_word, normalized=true added
// tokens and a special token that is a prefix of a longer one.
TEST(TinyTokenizer, MatchesHuggingFaceWithBothMergeSpellings) {
  const auto cases = qwen3::test::load_cases(kTokData / "tiny_expected.json");
  ASSERT_GE(cases.size(), 6u);
  for (const char* file : {"tiny_tokenizer.json", "tiny_tokenizer_pairs.json"}) {
    const Tokenizer tok = Tokenizer::from_file(kTokData / file);
    for (const auto& c : cases) {
      EXPECT_EQ(tok.encode(c.text), c.ids) << file << ": \"" << escaped(c.text) << "\"";
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Building blocks

// Property: the GPT-2 byte table is a bijection between the 256 bytes and 256 printable code
// points, with space -> U+0120 'Ġ' and newline -> U+010A 'Ċ'.
TEST(TokenizerInternals, ByteTableIsABijection) {
  const auto& table = qwen3::tok::byte_to_unicode();
  for (int b = 0; b < 256; ++b) EXPECT_EQ(qwen3::tok::unicode_to_byte(table[b]), b);
  EXPECT_EQ(table[' '], U'\u0120');
  EXPECT_EQ(table['\n'], U'\u010A');
  EXPECT_EQ(table['A'], U'A');
  EXPECT_EQ(qwen3::tok::unicode_to_byte(U' '), -1);
  EXPECT_EQ(qwen3::tok::unicode_to_byte(U'\u4E2D'), -1);
}

// Property: utf8_next follows the Unicode maximal-subpart rule: well-formed sequences decode,
// ill-formed ones report the length of the subpart to replace, unfinished ones report 0.
TEST(TokenizerInternals, Utf8NextMaximalSubparts) {
  auto next = [](const std::string& s) {
    char32_t cp = 0;
    return qwen3::tok::utf8_next(reinterpret_cast<const unsigned char*>(s.data()), s.size(), &cp);
  };
  EXPECT_EQ(next("A"), 1);
  EXPECT_EQ(next("\xC3\xA9"), 2);
  EXPECT_EQ(next("\xE4\xB8\xAD"), 3);
  EXPECT_EQ(next("\xF0\x9F\x98\x80"), 4);
  EXPECT_EQ(next("\x80"), -1);
  EXPECT_EQ(next("\xC0\xAF"), -1);          // overlong lead
  EXPECT_EQ(next("\xE0\x80\xAF"), -1);      // overlong: E0 needs A0..BF
  EXPECT_EQ(next("\xED\xA0\x80"), -1);      // surrogate
  EXPECT_EQ(next("\xF4\x90\x80\x80"), -1);  // above U+10FFFF
  EXPECT_EQ(next("\xE2\x82"
                 "a"),
            -2);
  EXPECT_EQ(next("\xF0\x9F\x98"
                 "a"),
            -3);
  EXPECT_EQ(next("\xE2\x82"), 0);
  EXPECT_EQ(next("\xF0\x9F\x98"), 0);
  EXPECT_EQ(qwen3::tok::utf8_repair("a\xE2\x82z\xF0\x9F\x98"), "a\xEF\xBF\xBDz\xEF\xBF\xBD");
  EXPECT_EQ(qwen3::tok::utf8_repair("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

// Property: NFC composes as HF does: e + U+0301 -> U+00E9, embedded NULs survive, and characters
// newer than HF's Unicode 9.0 tables (Dives Akuru, Unicode 13) are left as they are.
TEST(TokenizerInternals, NfcLikeHuggingFace) {
  using qwen3::tok::nfc;
  EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(nfc(std::string("a\0b\xC3\xA9", 5)), std::string("a\0b\xC3\xA9", 5));
  const std::string dives = "\xF0\x91\xA4\xB5\xF0\x91\xA4\xB0";  // U+11935 U+11930
  EXPECT_EQ(nfc(dives), dives);
  EXPECT_EQ(nfc("e\xCC\x81" + dives + "e\xCC\x81"), "\xC3\xA9" + dives + "\xC3\xA9");
}

// Property: the pattern rewrite spells out \s as White_Space (so U+180E is not a space) and adds
// the newer letters to \p{L}, inside and outside classes; other escapes are untouched.
TEST(TokenizerInternals, PatternRewrite) {
  const std::string p =
      qwen3::tok::oniguruma_compatible_pattern("\\s+|[^\\s\\p{L}]|\\S|\\d|\\p{N}");
  EXPECT_EQ(p.find("\\s"), std::string::npos) << p;
  EXPECT_EQ(p.find("\\S"), std::string::npos) << p;
  EXPECT_NE(p.find("\\d"), std::string::npos) << p;
  EXPECT_NE(p.find("[^\\x{09}-\\x{0D}"), std::string::npos) << p;
  EXPECT_EQ(p.find("180E"), std::string::npos) << p;

  std::vector<std::string> pieces;
  const std::string text =
      "a\xE1\xA0\x8E\xE1\xA0\x8E"
      "b \xF0\xB1\x8D\x90'S";  // U+180E x2, U+31350
  qwen3::tok::RegexSplitter split(
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
  split.split(text, [&](std::size_t b, std::size_t e) { pieces.push_back(text.substr(b, e - b)); });
  const std::vector<std::string> want = {"a", "\xE1\xA0\x8E\xE1\xA0\x8E", "b", " \xF0\xB1\x8D\x90",
                                         "'S"};
  EXPECT_EQ(pieces, want);
  EXPECT_FALSE(qwen3::tok::letter_extra().empty());
}

// Property: BPE applies the lowest-rank merge first, leftmost among equal ranks, and re-examines
// neighbours after each merge; a 200 000-symbol word merges in well under a second.
TEST(TokenizerInternals, BpeMergeOrder) {
  qwen3::tok::BpeMerges m;
  // ids: a=0 b=1 c=2 ab=3 bc=4 abc=5 aa=6 aaaa=7
  m.add(1, 2, 4, 0);  // b c -> bc (rank 0)
  m.add(0, 1, 3, 1);  // a b -> ab
  m.add(0, 4, 5, 2);  // a bc -> abc
  m.add(0, 0, 6, 3);  // a a -> aa
  m.add(6, 6, 7, 4);  // aa aa -> aaaa
  auto run = [&](std::vector<std::int32_t> w) {
    std::vector<std::int32_t> out;
    m.apply(w, out);
    return out;
  };
  EXPECT_EQ(run({0, 1, 2}), (std::vector<std::int32_t>{5}));  // bc first, then a+bc
  EXPECT_EQ(run({0, 1}), (std::vector<std::int32_t>{3}));
  EXPECT_EQ(run({0, 0, 0}), (std::vector<std::int32_t>{6, 0}));  // leftmost pair first
  EXPECT_EQ(run({0, 0, 0, 0, 0}), (std::vector<std::int32_t>{7, 0}));
  EXPECT_EQ(run({2, 1}), (std::vector<std::int32_t>{2, 1}));
  EXPECT_EQ(run({}), (std::vector<std::int32_t>{}));

  std::vector<std::int32_t> longword(200000, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const auto out = run(longword);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(out, std::vector<std::int32_t>(50000, 7));
  EXPECT_LT(s, 10.0);
}

// Property: added tokens match leftmost-longest, and the flags behave as in HF: single_word skips
// matches inside words, lstrip / rstrip take the neighbouring white space into the token.
TEST(TokenizerInternals, AddedTokenMatcher) {
  using qwen3::tok::AddedTokenMatcher;
  using qwen3::tok::Segment;
  AddedTokenMatcher m;
  m.add({"<a>", 1});
  m.add({"<a>b", 2});
  m.add({"w", 3, /*single_word=*/true});
  m.add({"<l>", 4, false, /*lstrip=*/true});
  m.add({"<r>", 5, false, false, /*rstrip=*/true});
  m.add({"", 6});  // ignored
  auto ids = [&](const std::string& text) {
    std::vector<std::pair<std::string, std::int32_t>> out;
    for (const Segment& s : m.split(text))
      out.emplace_back(text.substr(s.begin, s.end - s.begin), s.id);
    return out;
  };
  using V = std::vector<std::pair<std::string, std::int32_t>>;
  EXPECT_EQ(ids("x<a>b<a>"), (V{{"x", -1}, {"<a>b", 2}, {"<a>", 1}}));
  EXPECT_EQ(ids("w ww w"), (V{{"w", 3}, {" ww ", -1}, {"w", 3}}));
  EXPECT_EQ(ids("x  <l>  <r>  y"),
            (V{{"x", -1}, {"  <l>", 4}, {"  ", -1}, {"<r>  ", 5}, {"y", -1}}));
  EXPECT_EQ(ids(""), (V{{"", -1}}));
}

}  // namespace
