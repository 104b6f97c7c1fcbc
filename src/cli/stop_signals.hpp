#pragma once
// Ctrl-C and SIGTERM during generation: the first stops cleanly between two tokens, a second one ends
// the process at once.
#include <atomic>

namespace qwen3::cli {

// Installs the handlers; the returned flag turns true at the first stop signal. After SIGTERM the
// process ends by default `sigterm_grace_s` seconds later if it has not stopped by itself.
const std::atomic<bool>& install_stop_signals(unsigned sigterm_grace_s = 1);

}  // namespace qwen3::cli
