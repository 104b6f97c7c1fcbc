#include "cli_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace qwen3::test::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A pipe whose ends are closed when it goes out of scope.
struct Pipe {
  int read_end = -1, write_end = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    read_end = fds[0];
    write_end = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (read_end >= 0) ::close(read_end);
    read_end = -1;
  }
  void close_write() {
    if (write_end >= 0) ::close(write_end);
    write_end = -1;
  }
};

// This process's environment with `changes` applied, as "NAME=value" strings.
std::vector<std::string> child_environment(const Env& changes) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const auto eq = entry.find('=');
    if (eq != std::string::npos) vars[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [name, value] : changes) vars[name] = value;
  std::vector<std::string> out;
  for (const auto& [name, value] : vars) out.push_back(name + "=" + value);
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The calling thread's CPU mask is what a spawned child inherits: it is narrowed for the spawn and
// put back afterwards.
class ScopedThreadAffinity {
 public:
  explicit ScopedThreadAffinity(const std::vector<int>& cpus) : active_(!cpus.empty()) {
    if (!active_) return;
    if (::sched_getaffinity(0, sizeof saved_, &saved_) != 0) throw std::runtime_error("sched_getaffinity failed");
    cpu_set_t want;
    CPU_ZERO(&want);
    for (int cpu : cpus) CPU_SET(cpu, &want);
    if (::sched_setaffinity(0, sizeof want, &want) != 0)
      throw std::runtime_error(std::string("sched_setaffinity: ") + std::strerror(errno));
  }
  ~ScopedThreadAffinity() {
    if (active_) ::sched_setaffinity(0, sizeof saved_, &saved_);
  }
  ScopedThreadAffinity(const ScopedThreadAffinity&) = delete;
  ScopedThreadAffinity& operator=(const ScopedThreadAffinity&) = delete;

 private:
  bool active_;
  cpu_set_t saved_{};
};

pid_t spawn(const Command& c, Pipe& out, Pipe& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string input = c.stdin_file.empty() ? "/dev/null" : c.stdin_file.string();
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, input.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write_end, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write_end, STDERR_FILENO);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A process group of its own (to end it with its children), default signal handling and an
  // empty signal mask, whatever this test process has set up.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGALRM}) sigaddset(&defaults, sig);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> argv_strings = c.argv;
  std::vector<std::string> env_strings = child_environment(c.env);
  std::vector<char*> argv = c_strings(argv_strings);
  std::vector<char*> envp = c_strings(env_strings);
  pid_t pid = -1;
  int rc = 0;
  {
    const ScopedThreadAffinity affinity(c.cpus);
    rc = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start " + c.argv.front() + ": " + std::strerror(rc));
  return pid;
}

// Reads what is available on the open pipes into their strings; closes a pipe at its end of file.
// Waits at most `wait_ms` for something to arrive.
void read_available(std::array<Pipe*, 2> pipes, std::array<std::string*, 2> into, int wait_ms) {
  std::array<pollfd, 2> fds{};
  int n = 0;
  std::array<int, 2> which{};
  for (int i = 0; i < 2; ++i)
    if (pipes[static_cast<std::size_t>(i)]->read_end >= 0) {
      fds[static_cast<std::size_t>(n)] = {pipes[static_cast<std::size_t>(i)]->read_end, POLLIN, 0};
      which[static_cast<std::size_t>(n++)] = i;
    }
  if (n == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    return;
  }
  if (::poll(fds.data(), static_cast<nfds_t>(n), wait_ms) <= 0) return;
  for (int k = 0; k < n; ++k) {
    if (fds[static_cast<std::size_t>(k)].revents == 0) continue;
    const auto i = static_cast<std::size_t>(which[static_cast<std::size_t>(k)]);
    char buf[65536];
    const ssize_t got = ::read(pipes[i]->read_end, buf, sizeof buf);
    if (got > 0)
      into[i]->append(buf, static_cast<std::size_t>(got));
    else if (got == 0 || errno != EINTR)
      pipes[i]->close_read();
  }
}

int milliseconds_until(Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::max<long long>(0, std::min<long long>(ms, 100)));
}

}  // namespace

std::string shell_quote(const std::string& arg) {
  if (!arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == std::string::npos)
    return arg;
  std::string q = "'";
  for (char ch : arg) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

RunResult run(const Command& c) {
  RunResult r;
  for (const auto& [name, value] : c.env) r.command_line += name + "=" + shell_quote(value) + " ";
  for (std::size_t i = 0; i < c.argv.size(); ++i) {
    if (i > 0) r.command_line += ' ';
    r.command_line += shell_quote(c.argv[i]);
  }
  if (!c.stdin_file.empty()) r.command_line += std::string(" < ") + shell_quote(c.stdin_file.string());
  if (!c.cpus.empty()) {
    std::string list;
    for (int cpu : c.cpus) list += std::string(list.empty() ? "" : ",") + std::to_string(cpu);
    r.command_line = "taskset -c " + list + " " + r.command_line;
  }

  Pipe out, err;
  const auto start = Clock::now();
  const pid_t pid = spawn(c, out, err);
  out.close_write();
  err.close_write();

  const auto deadline = start + c.timeout;
  bool term_sent = false, kill_sent = false;
  int status = 0;
  bool reaped = false;
  Clock::time_point reaped_at{};
  while (true) {
    read_available({&out, &err}, {&r.out, &r.err}, reaped ? milliseconds_until(reaped_at + std::chrono::seconds(2)) : 100);
    if (!reaped && ::waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      reaped_at = Clock::now();
    }
    const bool pipes_closed = out.read_end < 0 && err.read_end < 0;
    // A grandchild that outlives the child (a rank of a killed mpiexec) may hold the pipes open:
    // two seconds after the child ended, what was printed is all there is.
    if (reaped && (pipes_closed || Clock::now() > reaped_at + std::chrono::seconds(2))) break;
    const auto now = Clock::now();
    if (!reaped && now > deadline && !term_sent) {
      // SIGTERM first: mpiexec passes it on to its ranks, which sit in process groups of their own.
      r.timed_out = true;
      ::kill(-pid, SIGTERM);
      term_sent = true;
    } else if (!reaped && now > deadline + std::chrono::seconds(3) && !kill_sent) {
      ::kill(-pid, SIGKILL);
      kill_sent = true;
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

std::string RunResult::describe() const {
  std::string how;
  if (timed_out)
    how = "did not end within its time limit (killed)";
  else if (signal != 0)
    how = "ended by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  else
    how = "exit status " + std::to_string(exit_code);
  std::string shown = out.size() > 4000 ? out.substr(0, 4000) + "... (" + std::to_string(out.size()) + " bytes)" : out;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f s", seconds);
  return "$ " + command_line + "\n  " + how + " after " + secs + "\n  stdout:\n" + shown + "\n  stderr:\n" + err + "\n";
}

}  // namespace qwen3::test::cli
