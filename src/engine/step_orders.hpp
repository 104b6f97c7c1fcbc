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

// Rank 0's orders on every rank (one broadcast of their size, one of their bytes).
void share_orders(Communicator& world, StepOrders& orders);

}  // namespace qwen3
