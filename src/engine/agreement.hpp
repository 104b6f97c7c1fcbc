#pragma once
// Steps whose failure only some ranks may see (a file one host lacks, a prompt only rank 0 reads) run
// through these, so a failure anywhere ends every rank, with one line, instead of leaving the others
// waiting in the next collective. With one process they just run the step.
#include <algorithm>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "qwen3/comm.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {

// Runs `step` on every rank, then agrees whether all succeeded. If any failed, the lowest failing rank
// rethrows (rank 0 its Error as it is, another rank as RankError prefixed with its number) and every
// other rank throws FollowerExit: one line for the whole job, however many ranks saw the failure
// (both ranks of a host that lacks the checkpoint, say).
template <class Step>
void on_every_rank(Communicator& world, Step&& step) {
  if (world.size() == 1) return step();
  std::exception_ptr err;
  std::string what;
  try {
    step();
  } catch (const Error& e) {
    err = std::current_exception();
    what = e.what();
  }
  const std::vector<float> mine = {err ? 1.f : 0.f};
  std::vector<float> failed(static_cast<std::size_t>(world.size()));
  const std::vector<std::int64_t> one_each(static_cast<std::size_t>(world.size()), 1);
  world.allgather(mine, failed, one_each);
  const auto first = std::find(failed.begin(), failed.end(), 1.f);
  if (first == failed.end()) return;
  if (first - failed.begin() != world.rank()) throw FollowerExit{1};
  if (world.rank() == 0) std::rethrow_exception(err);
  throw RankError("rank " + std::to_string(world.rank()) + ": " + what);
}

// Runs `step` on rank 0 only (it talks to the user: reads prompts, files, stdin); if it fails, rank 0
// rethrows and the others throw FollowerExit.
template <class Step>
void on_rank0(Communicator& world, Step&& step) {
  std::exception_ptr err;
  if (world.rank() == 0) {
    if (world.size() == 1) return step();
    try {
      step();
    } catch (const Error&) {
      err = std::current_exception();
    }
  }
  std::int32_t failed[1] = {err ? 1 : 0};
  world.broadcast(failed, 0);
  if (err) std::rethrow_exception(err);
  if (failed[0]) throw FollowerExit{1};
}

// Rank 0's ids on every rank (a prompt; `more` false: the input has ended).
inline bool share_ids(Communicator& world, std::vector<std::int32_t>& ids, bool more = true) {
  std::int32_t n[1] = {more ? static_cast<std::int32_t>(ids.size()) : -1};
  world.broadcast(n, 0);
  if (n[0] < 0) return false;
  ids.resize(static_cast<std::size_t>(n[0]));
  world.broadcast(ids, 0);
  return true;
}

}  // namespace qwen3
