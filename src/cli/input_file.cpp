#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.hpp"
#include "qwen3/error.hpp"

namespace qwen3::cli {

std::string read_input_file(const std::string& path, const std::string& what) {
  if (std::filesystem::is_directory(path)) throw Error(path + ": " + what + " is a directory, not a file");
  if (!std::filesystem::is_regular_file(path)) throw Error(path + ": " + what + " not found (or not a regular file)");
  std::ifstream in(path, std::ios::binary);  // raw bytes: CRLF stays CRLF, as Python's open(newline='') keeps it
  if (!in) throw Error(path + ": cannot open " + what);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace qwen3::cli
