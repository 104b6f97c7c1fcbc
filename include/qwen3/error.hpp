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

}  // namespace qwen3
