// Stop strings over streamed text (engine/stop_strings.hpp): whatever the pieces the text arrives in,
// what goes out is the text before the first stop string, and never a part of one.
#include <gtest/gtest.h>

#include "engine/stop_strings.hpp"

namespace qwen3 {
namespace {

// Feeds `pieces`; returns everything that went out (finish() included when no stop string came).
std::string stream(const std::vector<std::string>& stops, const std::vector<std::string>& pieces, bool* stopped = nullptr) {
  StopStringFilter f(stops);
  std::string out;
  for (const auto& p : pieces) out += f.push(p);
  if (stopped) *stopped = f.stopped();
  return out + f.finish();
}

TEST(StopStrings, TextBeforeTheFirstStopGoesOutWhateverThePieces) {
  const std::string text = "The end. THE END. Fin";
  for (std::size_t cut = 1; cut < text.size(); ++cut)
    for (std::size_t cut2 = cut; cut2 < text.size(); ++cut2) {
      bool stopped = false;
      EXPECT_EQ(stream({"END", "end."}, {text.substr(0, cut), text.substr(cut, cut2 - cut), text.substr(cut2)}, &stopped), "The ")
          << cut << " " << cut2;
      EXPECT_TRUE(stopped);
    }
}

TEST(StopStrings, APossibleStartIsHeldBackUntilDecided) {
  StopStringFilter f({"###"});
  EXPECT_EQ(f.push("a #"), "a ");  // "#" may begin "###"
  EXPECT_EQ(f.push("#"), "");
  EXPECT_EQ(f.push("x"), "##x");   // it did not
  EXPECT_EQ(f.push("##"), "");
  EXPECT_EQ(f.finish(), "##");     // the generation ended: held text goes out
  EXPECT_FALSE(f.stopped());
}

TEST(StopStrings, NothingAfterTheStopAndNoStopsPassEverything) {
  StopStringFilter f({"\n\n"});
  EXPECT_EQ(f.push("one\n\ntwo"), "one");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.push("three"), "");
  EXPECT_EQ(f.finish(), "");
  EXPECT_EQ(stream({}, {"a", "b\n"}), "ab\n");
  EXPECT_EQ(stream({"é"}, {"caf\xc3", "\xa9 au lait"}), "caf");  // a stop string split inside a character
}

}  // namespace
}  // namespace qwen3
