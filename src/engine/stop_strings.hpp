#pragma once
// Stop strings over streamed text: text that could still turn into a stop string is held back until
// the next piece decides, and at a stop string only the text before it goes out, so a client never
// sees a stop string, or half of one, that the final answer would not contain (as OpenAI's API).
#include <string>
#include <string_view>
#include <vector>

namespace qwen3 {

class StopStringFilter {
 public:
  explicit StopStringFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Appends generated text; returns the part that can go out now.
  std::string push(std::string_view text);
  // A stop string has appeared: the generation should end, and push() returns nothing more.
  bool stopped() const { return stopped_; }
  // The generation ended without a stop string: what was held back.
  std::string finish();

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace qwen3
