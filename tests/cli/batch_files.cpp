#include "batch_files.hpp"

#include <fstream>

namespace qwen3::test::cli {

void write_lines(const std::filesystem::path& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& l : lines) out << l << '\n';
}

std::map<std::string, nlohmann::json> results_by_id(const std::filesystem::path& path, Findings& f) {
  std::map<std::string, nlohmann::json> by_id;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j["id"].is_string()) {
      f.add("output line is not a result: " + line.substr(0, 200));
      continue;
    }
    if (!by_id.emplace(j["id"].get<std::string>(), j).second) f.add("id " + j["id"].get<std::string>() + " appears twice");
  }
  return by_id;
}

std::vector<std::string> greedy_requests(int n, int max_tokens) {
  const char* openings[] = {"It was", "The house", "She said", "In the morning", "He had", "There was"};
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i)
    lines.push_back(nlohmann::json{{"id", std::string("q") + std::to_string(i)},
                                   {"prompt", std::string(openings[i % 6]) + " " + std::to_string(i)},
                                   {"max_tokens", max_tokens},
                                   {"temperature", 0}}
                        .dump());
  return lines;
}

}  // namespace qwen3::test::cli
