#include "engine/stop_strings.hpp"

#include <algorithm>
#include <utility>

namespace qwen3 {

std::string StopStringFilter::push(std::string_view text) {
  if (stopped_) return {};
  held_ += text;
  std::size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Keep the longest tail that begins some stop string; it starts on a character boundary because
  // every stop string starts with a whole character.
  std::size_t keep = 0;
  for (const auto& s : stops_)
    for (std::size_t k = std::min(held_.size(), s.size() - 1); k > keep; --k)
      if (std::string_view(held_).substr(held_.size() - k) == std::string_view(s).substr(0, k)) {
        keep = k;
        break;
      }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopStringFilter::finish() {
  if (stopped_) return {};
  return std::exchange(held_, {});
}

}  // namespace qwen3
