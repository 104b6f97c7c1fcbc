#pragma once
// One exception type for bad input (files, options, ids). The CLI prints what() as a single line on
// stderr and exits 1; any other exception is an internal error (exit 2). Messages name the file,
// field or option at fault, so they must be one line with no trailing newline.
#include <stdexcept>
#include <string>

namespace qwen3 {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// With several ranks, bad input that every rank sees alike (an option, a checkpoint on a shared file
// system, a prompt too long) is thrown as Error on every rank and printed by rank 0 alone. A failure
// only some ranks saw is a RankError: the ranks that saw it print it (prefixed with their rank), and
// the others end with FollowerExit, printing nothing.
class RankError : public Error {
 public:
  using Error::Error;
};
struct FollowerExit {
  int exit_code = 1;
};

// Makes a message safe to print as one line: line breaks and tabs become spaces, other control
// characters (hostile tensor names, paths) become '?', trailing spaces go.
inline std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace qwen3
