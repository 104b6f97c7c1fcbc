#pragma once
// Ranks x domains: every NUMA domain of every process is one member of the job, numbered process by
// process (process p's domains are members offset_p .. offset_p + domains_p - 1), so the layout
// (src/parallel/layout.hpp) splits the model over members exactly as it splits it over ranks, and a rank
// that spans two domains splits its share again. A collective runs in two stages: the members of one
// process join in shared memory (numa/), then one member per process joins the processes (mpi/), and
// the result comes back to the others in shared memory. Written against the Communicator interface
// only: it names neither MPI nor hwloc.
#include <memory>
#include <vector>

#include "qwen3/comm.hpp"

namespace qwen3 {

// One communicator per member this process hosts. `locals` are the members of this process (one per
// domain, each used by its own thread, e.g. numa::make_shared_memory_group), `procs` the processes
// (one member per process, e.g. the MPI world; it must outlive the result). Collective over `procs`:
// one thread per process calls it, before the member threads start. With several processes, the
// members' collectives call `procs` (and its splits) from different threads, so MPI must run with
// MPI_THREAD_MULTIPLE.
std::vector<std::unique_ptr<Communicator>> make_hierarchical_world(Communicator& procs,
                                                                   std::vector<std::unique_ptr<Communicator>> locals);

}  // namespace qwen3
