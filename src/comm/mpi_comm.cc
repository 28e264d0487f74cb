// The MPI communicator. With src/comm/mpi_native.h, the only place that calls MPI.
#include <mpi.h>

#include <limits>
#include <memory>

#include "cairn/mpi.h"
#include "comm/mpi_native.h"

namespace cairn {
namespace {

Status MpiError(int rc, std::string_view what) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return UnavailableError("MPI " + std::string(what) + " failed: " + std::string(msg, len));
}

class MpiComm final : public Communicator {
 public:
  explicit MpiComm(MPI_Comm comm) : comm_(comm) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiComm() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  MPI_Comm native() const { return comm_; }

  Status Barrier() override {
    int rc = MPI_Barrier(comm_);
    return rc == MPI_SUCCESS ? OkStatus() : MpiError(rc, "barrier");
  }

  Status Broadcast(std::string& data, int root) override {
    if (root < 0 || root >= size_) {
      return InvalidArgumentError("broadcast root " + std::to_string(root) + " out of range");
    }
    unsigned long long n = data.size();
    int rc = MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm_);
    if (rc != MPI_SUCCESS) return MpiError(rc, "broadcast");
    if (rank_ != root) data.resize(n);
    size_t off = 0;
    while (off < n) {  // chunks below INT_MAX
      int len = static_cast<int>(std::min<size_t>(n - off, 1u << 30));
      rc = MPI_Bcast(data.data() + off, len, MPI_BYTE, root, comm_);
      if (rc != MPI_SUCCESS) return MpiError(rc, "broadcast");
      off += len;
    }
    return OkStatus();
  }

  Result<std::vector<std::string>> AllGather(std::string_view mine) override {
    if (mine.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
      return InvalidArgumentError("allgather payload over 2 GiB");
    }
    int n = static_cast<int>(mine.size());
    std::vector<int> counts(size_), displs(size_);
    int rc = MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_);
    if (rc != MPI_SUCCESS) return MpiError(rc, "allgather");
    long long total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[r] = static_cast<int>(total);
      total += counts[r];
    }
    if (total > std::numeric_limits<int>::max()) {
      return InvalidArgumentError("allgather total over 2 GiB");
    }
    std::string all(static_cast<size_t>(total), '\0');
    rc = MPI_Allgatherv(mine.data(), n, MPI_BYTE, all.data(), counts.data(), displs.data(),
                        MPI_BYTE, comm_);
    if (rc != MPI_SUCCESS) return MpiError(rc, "allgatherv");
    std::vector<std::string> out(size_);
    for (int r = 0; r < size_; ++r) out[r] = all.substr(displs[r], counts[r]);
    return out;
  }

  Status AllReduceMin(std::vector<int64_t>& v) override { return Reduce(v, MPI_MIN); }
  Status AllReduceMax(std::vector<int64_t>& v) override { return Reduce(v, MPI_MAX); }
  Status AllReduceSum(std::vector<int64_t>& v) override { return Reduce(v, MPI_SUM); }
  std::string_view kind() const override { return "MPI"; }

 private:
  Status Reduce(std::vector<int64_t>& v, MPI_Op op) {
    int rc = MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_INT64_T, op,
                           comm_);
    return rc == MPI_SUCCESS ? OkStatus() : MpiError(rc, "allreduce");
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace

Result<std::shared_ptr<Communicator>> MpiCommunicator(MPI_Comm comm) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) {
    return FailedPreconditionError("MpiCommunicator: MPI is not initialised (call MPI_Init first)");
  }
  MPI_Comm dup = MPI_COMM_NULL;
  int rc = MPI_Comm_dup(comm, &dup);
  if (rc != MPI_SUCCESS) return MpiError(rc, "comm_dup");
  MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
  return std::shared_ptr<Communicator>(std::make_shared<MpiComm>(dup));
}

namespace comm {
MPI_Comm NativeMpiComm(const Communicator& c) {
  if (auto* m = dynamic_cast<const MpiComm*>(&c)) return m->native();
  return MPI_COMM_NULL;
}
}  // namespace comm

}  // namespace cairn
