// Every collective the model needs, as one MPI call each, timed with MPI_Wtime for --stats.
#include "mpi/mpi_communicator.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "qwen3/error.hpp"
#include "qwen3/online_softmax.hpp"

namespace qwen3::mpi {
namespace {

// The user-defined MPI_Op: the element type is a contiguous run of head_dim + 2 floats (one packed
// OnlineSoftmaxState), so the op learns head_dim from the datatype's size and one op serves every
// model. merge() is commutative bit for bit (max, and a sum of two products), so MPI may reorder.
void merge_states_op(void* in, void* inout, int* len, MPI_Datatype* type) {
  int bytes = 0;
  MPI_Type_size(*type, &bytes);
  const int head_dim = bytes / static_cast<int>(sizeof(float)) - 2;
  const std::size_t n = static_cast<std::size_t>(*len) * static_cast<std::size_t>(OnlineSoftmaxState::packed_size(head_dim));
  merge_rows(std::span<float>(static_cast<float*>(inout), n), std::span<const float>(static_cast<const float*>(in), n), head_dim);
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(rc, msg, &n);
  throw Error(std::string(what) + " failed: " + std::string(msg, static_cast<std::size_t>(n)));
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    check(MPI_Op_create(&merge_states_op, /*commute=*/1, &merge_op_), "MPI_Op_create");
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    for (auto& [d, type] : state_types_) MPI_Type_free(&type);
    MPI_Op_free(&merge_op_);
    if (owned_) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::unique_ptr<Communicator> split(int color, int key) override {
    MPI_Comm sub;
    check(MPI_Comm_split(comm_, color, key, &sub), "MPI_Comm_split");
    return std::make_unique<MpiCommunicator>(sub, true);
  }

  void allreduce_sum(std::span<float> data) override {
    if (size_ == 1) return;
    Timed t(this, data.size_bytes());
    check(MPI_Allreduce(MPI_IN_PLACE, data.data(), count(data.size()), MPI_FLOAT, MPI_SUM, comm_), "MPI_Allreduce");
  }

  void merge_softmax_states(std::span<float> rows, std::int64_t head_dim) override {
    if (size_ == 1) return;
    Timed t(this, rows.size_bytes());
    const auto n = static_cast<std::size_t>(OnlineSoftmaxState::packed_size(head_dim));
    check(MPI_Allreduce(MPI_IN_PLACE, rows.data(), count(rows.size() / n), state_type(head_dim), merge_op_, comm_),
          "MPI_Allreduce (softmax states)");
  }

  void merge_softmax_states_scatter(std::span<const float> rows, std::span<float> mine, std::span<const std::int64_t> row_counts,
                                    std::int64_t head_dim) override {
    if (size_ == 1) {
      std::copy(rows.begin(), rows.end(), mine.begin());
      return;
    }
    Timed t(this, rows.size_bytes());
    counts_.resize(row_counts.size());
    for (std::size_t r = 0; r < row_counts.size(); ++r) counts_[r] = count(static_cast<std::size_t>(row_counts[r]));
    check(MPI_Reduce_scatter(rows.data(), mine.data(), counts_.data(), state_type(head_dim), merge_op_, comm_),
          "MPI_Reduce_scatter (softmax states)");
  }

  void argmax(std::span<float> values, std::span<std::int32_t> indices) override {
    if (size_ == 1) return;
    Timed t(this, values.size_bytes() + indices.size_bytes());
    pairs_.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) pairs_[i] = {values[i], indices[i]};
    // MPI_MAXLOC keeps the lower index on equal values: the same tie rule as a single arg-max scan.
    check(MPI_Allreduce(MPI_IN_PLACE, pairs_.data(), count(pairs_.size()), MPI_FLOAT_INT, MPI_MAXLOC, comm_), "MPI_Allreduce (maxloc)");
    for (std::size_t i = 0; i < values.size(); ++i) {
      values[i] = pairs_[i].value;
      indices[i] = pairs_[i].index;
    }
  }

  void broadcast(std::span<std::int32_t> data, int root) override {
    if (size_ == 1) return;
    Timed t(this, rank_ == root ? data.size_bytes() : 0);
    check(MPI_Bcast(data.data(), count(data.size()), MPI_INT32_T, root, comm_), "MPI_Bcast");
  }

  void broadcast_patiently(std::span<std::int32_t> data, int root) override {
    if (size_ == 1) return;
    // Not Timed: the wait is idle time, not communication. Every member calls the nonblocking form:
    // MPI never matches it with a blocking MPI_Bcast.
    MPI_Request request;
    check(MPI_Ibcast(data.data(), count(data.size()), MPI_INT32_T, root, comm_, &request), "MPI_Ibcast");
    if (rank_ == root) return check(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait");
    // Spin for the first ~50 us (a busy server's orders come right after its step), then sleep
    // 10 us, 20 us, ... up to 1 ms between polls.
    int done = 0;
    auto pause = std::chrono::microseconds(10);
    for (int polls = 0;; ++polls) {
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) return;
      if (polls < 1000) continue;
      std::this_thread::sleep_for(pause);
      pause = std::min(2 * pause, std::chrono::microseconds(1000));
    }
  }

  void broadcast(std::span<float> data, int root) override {
    if (size_ == 1) return;
    Timed t(this, rank_ == root ? data.size_bytes() : 0);
    check(MPI_Bcast(data.data(), count(data.size()), MPI_FLOAT, root, comm_), "MPI_Bcast");
  }

  void allgather(std::span<const float> mine, std::span<float> all, std::span<const std::int64_t> counts) override {
    if (size_ == 1) {
      std::copy(mine.begin(), mine.end(), all.begin());
      return;
    }
    Timed t(this, mine.size_bytes());
    counts_.resize(counts.size());
    offsets_.resize(counts.size());
    long long at = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      counts_[r] = count(static_cast<std::size_t>(counts[r]));
      offsets_[r] = count(static_cast<std::size_t>(at));
      at += counts[r];
    }
    check(MPI_Allgatherv(mine.data(), count(mine.size()), MPI_FLOAT, all.data(), counts_.data(), offsets_.data(), MPI_FLOAT, comm_),
          "MPI_Allgatherv");
  }

  std::vector<float> gather(std::span<const float> mine, int root) override {
    if (size_ == 1) return {mine.begin(), mine.end()};
    Timed t(this, mine.size_bytes());
    int n = count(mine.size());
    std::vector<int> counts(rank_ == root ? static_cast<std::size_t>(size_) : 0);
    check(MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, root, comm_), "MPI_Gather");
    std::vector<int> offsets(counts.size());
    std::vector<float> all;
    if (rank_ == root) {
      long long total = 0;
      for (std::size_t r = 0; r < counts.size(); ++r) {
        offsets[r] = static_cast<int>(total);
        total += counts[r];
      }
      all.resize(static_cast<std::size_t>(total));
    }
    check(MPI_Gatherv(mine.data(), n, MPI_FLOAT, all.data(), counts.data(), offsets.data(), MPI_FLOAT, root, comm_), "MPI_Gatherv");
    return all;
  }

  CommStats stats() const override { return stats_; }

 private:
  struct FloatIntPair {
    float value;
    int index;
  };
  // Adds the wall time of one collective and its payload to the stats.
  struct Timed {
    Timed(MpiCommunicator* c, std::size_t bytes) : c_(c), t0_(MPI_Wtime()) {
      c_->stats_.bytes += bytes;
      ++c_->stats_.calls;
    }
    ~Timed() { c_->stats_.seconds += MPI_Wtime() - t0_; }
    MpiCommunicator* c_;
    double t0_;
  };

  static int count(std::size_t n) {
    if (n > static_cast<std::size_t>(INT32_MAX)) throw Error("MPI message of " + std::to_string(n) + " elements is too large");
    return static_cast<int>(n);
  }

  MPI_Datatype state_type(std::int64_t head_dim) {
    auto it = state_types_.find(head_dim);
    if (it != state_types_.end()) return it->second;
    MPI_Datatype t;
    check(MPI_Type_contiguous(static_cast<int>(OnlineSoftmaxState::packed_size(head_dim)), MPI_FLOAT, &t), "MPI_Type_contiguous");
    check(MPI_Type_commit(&t), "MPI_Type_commit");
    state_types_[head_dim] = t;
    return t;
  }

  MPI_Comm comm_;
  bool owned_;
  int rank_ = 0, size_ = 1;
  MPI_Op merge_op_;
  std::map<std::int64_t, MPI_Datatype> state_types_;
  std::vector<FloatIntPair> pairs_;
  std::vector<int> counts_, offsets_;
  CommStats stats_;
};

}  // namespace

std::unique_ptr<Communicator> world_communicator() { return std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, false); }

}  // namespace qwen3::mpi
