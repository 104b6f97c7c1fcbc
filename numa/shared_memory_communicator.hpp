#pragma once
// The Communicator across the NUMA domains of one process: each member is a thread (the leader of one
// domain's team), and every collective reads the other members' buffers in place, in shared memory,
// so nothing is copied beyond what the math needs (each member sums or merges its share of the rows
// straight from everyone's buffers and writes the result back into all of them). Member order fixes
// the order of every sum and merge, so all members hold bit-identical results.
#include <memory>

#include "qwen3/comm.hpp"

namespace qwen3::numa {

// `members` communicators for the threads of one process, one per member: hand member i to thread i.
// Every collective must be called by all members (as with MPI).
std::vector<std::unique_ptr<Communicator>> make_shared_memory_group(int members);

}  // namespace qwen3::numa
