#include "io/mapping_guard.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>

namespace qwen3 {
namespace {

// Everything the handler reads is written before `begin` is published, and is plain memory: no
// allocation or locking happens in the handler (async-signal-safe: only write() and _exit()).
struct GuardedMapping {
  std::atomic<const std::byte*> begin{nullptr};
  std::size_t size = 0;
  std::array<char, 1024> message{};
  std::size_t message_len = 0;
};

std::array<GuardedMapping, 1024> g_mappings;
std::mutex g_register_mutex;  // writers only
std::array<char, 128> g_prefix{};

void on_bus_error(int sig, siginfo_t* info, void*) {
  const auto* addr = static_cast<const std::byte*>(info->si_addr);
  for (auto& m : g_mappings) {
    const std::byte* b = m.begin.load(std::memory_order_acquire);
    if (b != nullptr && addr >= b && addr < b + m.size) {
      ssize_t ignored = ::write(STDERR_FILENO, m.message.data(), m.message_len);
      (void)ignored;
      ::_exit(1);
    }
  }
  // Not ours: the default action, once this handler returns (a raised signal would not come back by
  // itself; a faulting instruction would, but then the pending one ends the process first).
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

void guard_mapped_files(const std::string& prefix) {
  {
    std::lock_guard lock(g_register_mutex);
    const std::size_t n = std::min(prefix.size(), g_prefix.size() - 1);
    std::memcpy(g_prefix.data(), prefix.data(), n);
    g_prefix[n] = '\0';
  }
  struct sigaction sa {};
  sa.sa_sigaction = on_bus_error;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, nullptr);
}

void register_mapping(const void* begin, std::size_t size, const std::string& path) {
  if (begin == nullptr || size == 0) return;
  std::lock_guard lock(g_register_mutex);
  for (auto& m : g_mappings) {
    if (m.begin.load(std::memory_order_relaxed) != nullptr) continue;
    const std::string text = std::string(g_prefix.data()) + path +
                             ": the file shrank or changed while mapped (another process truncated or rewrote it); cannot "
                             "read the weights, stopping\n";
    m.message_len = std::min(text.size(), m.message.size());
    std::memcpy(m.message.data(), text.data(), m.message_len);
    if (m.message_len == m.message.size()) m.message.back() = '\n';
    m.size = size;
    m.begin.store(static_cast<const std::byte*>(begin), std::memory_order_release);
    return;
  }
}

void unregister_mapping(const void* begin) {
  if (begin == nullptr) return;
  std::lock_guard lock(g_register_mutex);
  for (auto& m : g_mappings)
    if (m.begin.load(std::memory_order_relaxed) == begin) m.begin.store(nullptr, std::memory_order_release);
}

}  // namespace qwen3
