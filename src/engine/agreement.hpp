#pragma once
// Steps whose failure only some ranks may see (a file one host lacks, a prompt only rank 0 reads) run
// through these, so a failure anywhere ends every rank, with one line, instead of leaving the others
// waiting in the next collective. With one process they just run the step.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "qwen3/comm.hpp"
#include "qwen3/error.hpp"

namespace qwen3 {

// Runs `step` on every rank, then agrees whether all succeeded. If any failed, the lowest failing rank
// throws it as an AgreedError (rank 0 with the message as it is, another rank as a RankError prefixed
// with its number) and every other rank throws FollowerExit: one line for the whole job, however many
// ranks saw the failure (both ranks of a host that lacks the checkpoint, say).
template <class Step>
void on_every_rank(Communicator& world, Step&& step) {
  if (world.size() == 1) return step();
  bool failed_here = false;
  std::string what;
  try {
    step();
  } catch (const Error& e) {
    failed_here = true;
    what = e.what();
  }
  const std::vector<float> mine = {failed_here ? 1.f : 0.f};
  std::vector<float> failed(static_cast<std::size_t>(world.size()));
  const std::vector<std::int64_t> one_each(static_cast<std::size_t>(world.size()), 1);
  world.allgather(mine, failed, one_each);
  const auto first = std::find(failed.begin(), failed.end(), 1.f);
  if (first == failed.end()) return;
  if (first - failed.begin() != world.rank()) throw FollowerExit{1};
  if (world.rank() == 0) throw AgreedError(what);
  throw RankError("rank " + std::to_string(world.rank()) + ": " + what);
}

// Runs `step` on rank 0 only (it talks to the user: reads prompts, files, stdin); if it fails, rank 0
// throws it as an AgreedError and the others throw FollowerExit.
template <class Step>
void on_rank0(Communicator& world, Step&& step) {
  std::string what;
  bool failed_here = false;
  if (world.rank() == 0) {
    if (world.size() == 1) return step();
    try {
      step();
    } catch (const Error& e) {
      failed_here = true;
      what = e.what();
    }
  }
  std::int32_t failed[1] = {failed_here ? 1 : 0};
  world.broadcast(failed, 0);
  if (failed_here) throw AgreedError(what);
  if (failed[0]) throw FollowerExit{1};
}

// Runs a command's work on every member. Every failure the members can foresee is agreed first (the
// two functions above); an Error that escapes without agreement (a fault one member saw alone in the
// middle of a run) becomes a JobFailure naming the member, which ends the whole job: the others may be
// waiting in a collective it will never join. With one process errors pass through unchanged.
template <class Run>
int as_one_job(Communicator& world, Run&& run) {
  if (world.size() == 1) return run();
  try {
    return run();
  } catch (const AgreedError&) {
    throw;
  } catch (const JobFailure&) {
    throw;
  } catch (const Error& e) {
    throw JobFailure("rank " + std::to_string(world.rank()) + ": " + e.what());
  }
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
