#pragma once
// Ctrl-C and SIGTERM during generation: the first stops cleanly between two tokens, a second one ends
// the process at once.
#include <atomic>

namespace qwen3::cli {

// Installs the handlers; the returned flag turns true at the first stop signal.
const std::atomic<bool>& install_stop_signals();

}  // namespace qwen3::cli
