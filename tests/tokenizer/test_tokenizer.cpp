// Tests for qwen3::Tokenizer on the real Qwen3 tokenizer.json against ids that Hugging Face
// tokenizers produced (scripts/make_tokenizer_fixtures.py), and for Utf8StreamDecoder.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "qwen3/error.hpp"
#include "qwen3/tokenizer.hpp"
#include "tokenizer/tokenizer_test_util.hpp"
#include "utf8.hpp"

namespace {

using qwen3::Tokenizer;
using qwen3::Utf8StreamDecoder;
using qwen3::test::Case;
using qwen3::test::escaped;
using qwen3::test::kTokData;
using qwen3::test::load_cases;
using qwen3::test::qwen;

const std::vector<Case>& corpus() {
  static const std::vector<Case> cases = load_cases(kTokData / "qwen3_expected.json");
  return cases;
}

std::vector<unsigned char> from_hex(const std::string& hex) {
  std::vector<unsigned char> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<unsigned char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// The bytes of `s` up to (not including) a trailing well-formed-but-unfinished UTF-8 sequence.
std::string complete_prefix(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    const int r = qwen3::tok::utf8_next(p + i, s.size() - i, &cp);
    if (r == 0) break;
    i += static_cast<std::size_t>(r > 0 ? r : -r);
  }
  return s.substr(0, i);
}

// ------------------------------------------------------------------------------------------------
// Encoding against Hugging Face

// Property: the fixture corpus is large and covers what the brief asks for (guards against an
// accidentally truncated fixture file).
TEST(QwenTokenizer, FixtureCorpusIsComplete) {
  EXPECT_GE(corpus().size(), 600u);
  bool empty = false, long_text = false, special = false;
  for (const Case& c : corpus()) {
    empty |= c.text.empty();
    long_text |= c.text.size() > 3000;
    special |= c.text.find("<|im_start|>") != std::string::npos;
  }
  EXPECT_TRUE(empty && long_text && special);
}

// Property: encode(text) equals HF Tokenizer.encode(text, add_special_tokens=False).ids exactly,
// for every fixture text (prose, CJK, Arabic, emoji, code, white space runs, digits, contractions,
// added tokens, NFD input, Unicode 15-16 letters, seeded random strings).
TEST(QwenTokenizer, EncodeMatchesHuggingFace) {
  const Tokenizer& tok = qwen();
  int failures = 0;
  for (const Case& c : corpus()) {
    const auto ids = tok.encode(c.text);
    if (ids != c.ids && ++failures <= 10) {
      ADD_FAILURE() << "text \"" << escaped(c.text) << "\": " << ::testing::PrintToString(ids)
                    << " != expected " << ::testing::PrintToString(c.ids);
    }
  }
  EXPECT_EQ(failures, 0);
}

// Property: decode(encode(x)) gives back x as the tokenizer normalised it (NFC between added
// tokens), byte for byte, for every fixture text.
TEST(QwenTokenizer, DecodeRoundTripsToNormalizedText) {
  const Tokenizer& tok = qwen();
  for (const Case& c : corpus()) {
    EXPECT_EQ(tok.decode(tok.encode(c.text)), c.nfc) << escaped(c.text);
  }
  // NFD input comes back composed.
  EXPECT_EQ(tok.decode(tok.encode("e\xCC\x81")), "\xC3\xA9");
}

// Regression (a property the tokenizer fuzzer checks, found there against utf8proc's own NFC):
// combining marks newer than Unicode 9.0 are not reordered, as in Hugging Face's normalizer. N'Ko
// U+07ED (class 230) before U+07FD (class 220, Unicode 11) stays in that order; tokenizers 0.23.3
// gives [155, 255, 155, 121, 155, 121] and decodes it back to the same bytes.
TEST(QwenTokenizer, MarksNewerThanUnicode9AreNotReordered) {
  const Tokenizer& tok = qwen();
  const std::string nko = "\xDF\xAD\xDF\xBD\xDF\xBD";
  const auto ids = tok.encode(nko);
  EXPECT_EQ(ids, (std::vector<std::int32_t>{155, 255, 155, 121, 155, 121}));
  EXPECT_EQ(tok.decode(ids), nko);
}

// Property: ill-formed UTF-8 never crashes encode; each ill-formed subpart is read as U+FFFD, which
// gives the ids HF gives for bytes.decode("utf-8", errors="replace").
TEST(QwenTokenizer, InvalidUtf8IsReadAsReplacementCharacters) {
  const Tokenizer& tok = qwen();
  const auto cases = qwen3::test::read_json(kTokData / "qwen3_invalid_utf8.json");
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) {
    const auto raw = from_hex(c.at("hex").get<std::string>());
    const std::string text(raw.begin(), raw.end());
    EXPECT_EQ(tok.encode(text), c.at("ids").get<std::vector<std::int32_t>>()) << c.at("hex");
  }
}

// Property: random byte strings (seeded) encode without crashing, and decode to well-formed UTF-8.
TEST(QwenTokenizer, RandomBytesNeverCrash) {
  const Tokenizer& tok = qwen();
  std::mt19937 rng(12345);
  for (int n = 0; n < 300; ++n) {
    std::string s(rng() % 64, '\0');
    for (char& ch : s) ch = static_cast<char>(rng() % 4 ? rng() % 256 : 0x80 + rng() % 64);
    const auto ids = tok.encode(s);
    EXPECT_TRUE(qwen3::tok::utf8_valid(tok.decode(ids))) << escaped(s);
  }
}

// Property: encoding is linear-ish: 1 MB of prose, a 300 KB single letter run, a 300 KB space run
// and a 400 KB emoji run (each a single pre-token) all encode quickly and round-trip.
TEST(QwenTokenizer, LongInputsEncodeFastAndRoundTrip) {
  const Tokenizer& tok = qwen();
  std::string prose;
  while (prose.size() < (1u << 20)) {
    for (const Case& c : corpus()) {
      if (c.text.size() > 200 && c.text == c.nfc) prose += c.text + "\n";
    }
  }
  std::string emoji;
  for (int i = 0; i < 100000; ++i) emoji += "\xF0\x9F\x98\x80";
  for (const std::string& text :
       {prose, std::string(300000, 'a'), std::string(300000, ' '), emoji}) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok.encode(text);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("encode %zu bytes -> %zu ids: %.3f s\n", text.size(), ids.size(), s);
    EXPECT_LT(s, 30.0);  // generous for sanitizer builds; Release takes ~0.1 s for 1 MB
    EXPECT_TRUE(tok.decode(ids) == text);
  }
}

// Property: encode is const and thread-safe: four threads encoding the corpus concurrently get the
// expected ids.
TEST(QwenTokenizer, ConcurrentEncodeIsSafe) {
  const Tokenizer& tok = qwen();
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = static_cast<std::size_t>(t); i < corpus().size(); i += 2) {
        if (tok.encode(corpus()[i].text) != corpus()[i].ids) ++bad[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad, std::vector<int>(4, 0));
}

// ------------------------------------------------------------------------------------------------
// Lookups

// Property: the special tokens have their Qwen3 ids both ways, are special, and decode to their
// text; <think> is an added token that is not special; size() counts vocab plus added tokens.
TEST(QwenTokenizer, SpecialTokens) {
  const Tokenizer& tok = qwen();
  EXPECT_EQ(tok.size(), 151669);
  const std::pair<const char*, std::int32_t> specials[] = {
      {"<|endoftext|>", 151643}, {"<|im_start|>", 151644}, {"<|im_end|>", 151645}};
  for (const auto& [text, id] : specials) {
    EXPECT_EQ(tok.token_id(text), id) << text;
    EXPECT_EQ(tok.token_string(id), text);
    EXPECT_EQ(tok.token_bytes(id), text);
    EXPECT_TRUE(tok.is_special(id));
    EXPECT_EQ(tok.encode(text), std::vector<std::int32_t>{id});
  }
  EXPECT_EQ(tok.token_id("<think>"), 151667);
  EXPECT_EQ(tok.token_id("</think>"), 151668);
  EXPECT_FALSE(tok.is_special(151667));
  EXPECT_FALSE(tok.is_special(0));
  EXPECT_FALSE(tok.is_special(-1));
  EXPECT_FALSE(tok.is_special(tok.size()));
  EXPECT_EQ(tok.decode(std::vector<std::int32_t>{151644, 872, 198}), "<|im_start|>user\n");
}

// Property: token_string is the byte-level vocab spelling and token_bytes the raw bytes it stands
// for; token_id inverts token_string; unknown spellings have no id.
TEST(QwenTokenizer, VocabSpellingsAndBytes) {
  const Tokenizer& tok = qwen();
  const auto hello = tok.token_id("\xC4\xA0hello");  // "Ġhello"
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(tok.token_string(*hello), "\xC4\xA0hello");
  EXPECT_EQ(tok.token_bytes(*hello), " hello");
  EXPECT_EQ(tok.token_id("\xC4\x8A"), 198);  // "Ċ" is "\n"
  EXPECT_EQ(tok.token_bytes(198), "\n");
  EXPECT_EQ(tok.token_bytes(0), "!");
  EXPECT_FALSE(tok.token_id("definitely not a token").has_value());
  for (std::int32_t id = 0; id < tok.size(); id += 97) {
    EXPECT_EQ(tok.token_id(tok.token_string(id)), id) << id;
  }
}

// Property: an id outside the vocabulary makes decode / token_bytes / token_string throw
// qwen3::Error with a one-line message naming the tokenizer file and the id.
TEST(QwenTokenizer, UnknownIdThrows) {
  const Tokenizer& tok = qwen();
  for (const std::int32_t id : {-1, 151669, 151936, 1 << 30}) {
    try {
      tok.decode(std::vector<std::int32_t>{0, id});
      ADD_FAILURE() << "no throw for " << id;
    } catch (const qwen3::Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(std::to_string(id)), std::string::npos) << what;
      EXPECT_NE(what.find("tokenizer.json"), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
    EXPECT_THROW(tok.token_bytes(id), qwen3::Error);
    EXPECT_THROW(tok.token_string(id), qwen3::Error);
  }
}

// ------------------------------------------------------------------------------------------------
// Utf8StreamDecoder

// Streams `ids` and checks: every push returns well-formed UTF-8, the output so far is exactly the
// complete characters of the bytes so far (nothing held back longer than needed), and push + flush
// together give decode(ids).
void check_stream(const Tokenizer& tok, const std::vector<std::int32_t>& ids) {
  Utf8StreamDecoder dec(tok);
  std::string emitted, bytes;
  for (const std::int32_t id : ids) {
    const std::string piece = dec.push(id);
    bytes += tok.token_bytes(id);
    EXPECT_TRUE(qwen3::tok::utf8_valid(piece)) << escaped(piece);
    emitted += piece;
    EXPECT_EQ(emitted, complete_prefix(bytes));
  }
  emitted += dec.flush();
  EXPECT_EQ(emitted, tok.decode(ids));
  EXPECT_EQ(dec.flush(), "");
}

// Property: on the corpus, including tokens that split a multi-byte character (emoji, rare CJK),
// the stream decoder never emits part of a character and its output adds up to the full text.
TEST(Utf8StreamDecoder, NeverSplitsACharacter) {
  const Tokenizer& tok = qwen();
  int split_chars = 0;
  for (const Case& c : corpus()) {
    for (const std::int32_t id : c.ids) split_chars += !qwen3::tok::utf8_valid(tok.token_bytes(id));
    check_stream(tok, c.ids);
  }
  EXPECT_GT(split_chars, 50);  // the corpus does exercise partial tokens
}

// Property: an emoji that Qwen3 splits into three tokens (U+1FAE0 -> "\xF0\x9F" "\xAB" "\xA0") is
// held back until complete: the first two pushes yield nothing, the third releases the character.
TEST(Utf8StreamDecoder, HoldsBackUntilComplete) {
  const Tokenizer& tok = qwen();
  const std::string melting = "\xF0\x9F\xAB\xA0";  // U+1FAE0
  const auto ids = tok.encode(melting + "!");
  ASSERT_EQ(ids.size(), 4u);
  Utf8StreamDecoder dec(tok);
  EXPECT_EQ(dec.push(ids[0]), "");
  EXPECT_EQ(dec.push(ids[1]), "");
  EXPECT_EQ(dec.push(ids[2]), melting);
  EXPECT_EQ(dec.push(ids[3]), "!");
  EXPECT_EQ(dec.flush(), "");
}

// Property: flush turns a held-back unfinished character into one U+FFFD, and stray continuation
// bytes are emitted as U+FFFD right away (the output is always well-formed).
TEST(Utf8StreamDecoder, FlushAndInvalidBytes) {
  const Tokenizer& tok = qwen();
  const auto ids = tok.encode("\xF0\x9F\xAB\xA0");  // U+1FAE0, three tokens
  ASSERT_EQ(ids.size(), 3u);
  Utf8StreamDecoder dec(tok);
  EXPECT_EQ(dec.push(ids[0]), "");
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(dec.flush(), "");

  // The single-byte token for a lone continuation byte 0x80.
  std::int32_t lone = -1;
  for (std::int32_t id = 0; id < 256 && lone < 0; ++id) {
    if (tok.token_bytes(id) == std::string(1, '\x80')) lone = id;
  }
  ASSERT_GE(lone, 0);
  Utf8StreamDecoder dec2(tok);
  EXPECT_EQ(dec2.push(tok.encode("a")[0]), "a");
  EXPECT_EQ(dec2.push(lone), "\xEF\xBF\xBD");
  EXPECT_EQ(dec2.push(tok.encode("b")[0]), "b");
  EXPECT_EQ(dec2.flush(), "");
}

// Property: pushing an unknown id throws qwen3::Error and leaves the decoder usable.
TEST(Utf8StreamDecoder, UnknownIdThrows) {
  const Tokenizer& tok = qwen();
  Utf8StreamDecoder dec(tok);
  EXPECT_THROW(dec.push(-3), qwen3::Error);
  EXPECT_EQ(dec.push(tok.encode("x")[0]), "x");
}

}  // namespace

namespace qwen3::test {
namespace {

// Property: every cut prefix_cut offers leaves encode(prefix) an exact prefix of encode(text), and
// encode_prefix(text, n) is exactly the first n ids of encode(text), for n small and large, over
// mixed prose with CRLF, blank lines, multi-byte letters and added-token text, and for n past the
// end (the whole encoding).
TEST(QwenTokenizer, EncodePrefixIsThePrefixOfEncode) {
  const Tokenizer& tok = qwen();
  std::string text;
  int k = 0;
  while (text.size() < (1u << 20)) {
    for (const Case& c : corpus()) {
      if (c.text.empty()) continue;
      text += c.text;
      text += (++k % 3 == 0) ? "\r\n" : (k % 3 == 1) ? "\n\n" : "\n";
      if (k % 7 == 0) text += "<|im_end|>\nAnd\n  Ünïcode\n";
    }
  }
  const std::vector<std::int32_t> all = tok.encode(text);
  // Every cut it offers, at 30 places: the prefix up to it encodes to exactly the first ids of all.
  std::size_t cuts = 0;
  for (std::size_t at = 1; at < text.size(); at += text.size() / 30) {
    const std::size_t cut = tok.prefix_cut(text, at);
    if (cut == std::string_view::npos) continue;
    ++cuts;
    const std::vector<std::int32_t> head = tok.encode(std::string_view(text).substr(0, cut));
    ASSERT_LE(head.size(), all.size());
    EXPECT_TRUE(std::equal(head.begin(), head.end(), all.begin())) << "cut at byte " << cut;
  }
  EXPECT_GE(cuts, 25u);
  for (std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{20000}, std::size_t{60000}, all.size(), all.size() + 5}) {
    const std::vector<std::int32_t> got = tok.encode_prefix(text, n);
    const std::size_t want = std::min(n, all.size());
    ASSERT_EQ(got.size(), want) << "n " << n;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), all.begin())) << "n " << n;
  }
}

// Property: with a pre-tokenizer it cannot vouch for (a Split regex that is neither Qwen2's nor
// GPT-2's), encode_prefix falls back to encoding everything: still exactly the prefix.
TEST(QwenTokenizer, EncodePrefixFallsBackForAnUnknownRegex) {
  nlohmann::json j = read_json(kQwenTokenizerJson);
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+|\\S+";
  TempDir dir;
  const auto path = dir.path() / "tokenizer.json";
  std::ofstream(path) << j.dump();
  const Tokenizer tok = Tokenizer::from_file(path);
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "word\nAnother line " + std::to_string(i) + "\n";
  EXPECT_EQ(tok.prefix_cut(text, 100), std::string_view::npos);
  const auto all = tok.encode(text);
  const auto got = tok.encode_prefix(text, 5000);
  ASSERT_EQ(got.size(), 5000u);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), all.begin()));
}

}  // namespace
}  // namespace qwen3::test
