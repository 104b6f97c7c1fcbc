#include "cli/stop_signals.hpp"

#include <csignal>
#include <cstdint>

#include <time.h>
#include <unistd.h>  // alarm()

namespace qwen3::cli {
namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<std::int64_t> g_first_signal_ns{0};
std::atomic<unsigned> g_sigterm_grace_s{1};

std::int64_t monotonic_ns() {  // clock_gettime is async-signal-safe; std::chrono makes no such promise
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The first Ctrl-C (SIGINT) or SIGTERM stops generation cleanly; a second one ends the process at
// once. One keypress can arrive twice (`timeout` and some shells signal both the process and its
// group), so a repeat within half a second counts as the same one. SIGTERM is what the ranks get when
// Ctrl-C reaches mpirun (it sends SIGCONT, then SIGTERM a second later, then SIGKILL; the ranks sit in
// process groups of their own, out of the terminal's reach) and what Slurm sends at a job's end: rank
// 0 stops between two tokens, prints its timing line, and tells the others.
void on_stop_signal(int sig) {
  const std::int64_t now = monotonic_ns();
  if (!g_interrupted.exchange(true)) {
    g_first_signal_ns.store(now);
  } else if (now - g_first_signal_ns.load() > 500000000) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

// SIGTERM gets one second to stop cleanly, then ends the process as it would have by default. A rank
// whose neighbour died waits in a collective that never completes, and must not make srun or mpirun
// wait for their SIGKILL (KillWait, 30 s by default in Slurm); a healthy job stops within one token.
// The server asks for longer: its running requests may finish first (--drain-timeout).
void on_sigterm(int sig) {
  on_stop_signal(sig);
  alarm(g_sigterm_grace_s.load());
}
void on_sigterm_grace_over(int) {
  std::signal(SIGTERM, SIG_DFL);
  std::raise(SIGTERM);
}

}  // namespace

const std::atomic<bool>& install_stop_signals(unsigned sigterm_grace_s) {
  g_sigterm_grace_s = sigterm_grace_s;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGALRM, on_sigterm_grace_over);
  std::signal(SIGTERM, on_sigterm);
  return g_interrupted;
}

}  // namespace qwen3::cli
