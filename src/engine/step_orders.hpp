#pragma once
// What changes in a BatchEngine between two steps: requests to add, requests to drop, and whether
// to stop. Rank 0 decides (it reads the prompt file or the HTTP requests); every rank applies the
// same orders before the same step, so every member's engine plans the same step from the same state
// and the step needs no further agreement. With one process sharing is a no-op.
#include <string>
#include <vector>

#include "engine/batch_engine.hpp"
#include "qwen3/comm.hpp"

namespace qwen3 {

struct StepOrders {
  std::vector<BatchRequest> submit;
  std::vector<std::string> cancel;
  bool stop = false;
  bool empty() const { return submit.empty() && cancel.empty() && !stop; }
};

// Rank 0's orders on every rank (one broadcast of their size, one of their bytes). `idle`: the engine
// has nothing to step, so the other ranks may wait long for the next orders, and sleep while they do
// (Communicator::broadcast_patiently) instead of spinning.
void share_orders(Communicator& world, StepOrders& orders, bool idle = false);

}  // namespace qwen3
