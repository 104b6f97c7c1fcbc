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

// With several ranks, every check that can fail runs through engine/agreement.hpp, so all members
// learn of a failure together: the member that reports it throws an AgreedError (rank 0 with the
// message as it is, another rank as a RankError prefixed with its number) and the others end with
// FollowerExit, printing nothing. An Error that escapes without agreement is a fault one member saw
// alone mid-run: it ends the whole job (engine/agreement.hpp, as_one_job).
class AgreedError : public Error {
 public:
  using Error::Error;
};
class RankError : public AgreedError {
 public:
  using AgreedError::AgreedError;
};
struct FollowerExit {
  int exit_code = 1;
};
// A failure one member saw alone after the start (not agreed): it names the member, and the caller
// ends every member of the job (MPI_Abort) instead of returning.
class JobFailure : public Error {
 public:
  using Error::Error;
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
