// The MPI communicator. With src/comm/mpi_native.h, the only place that calls MPI.
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <limits>
#include <optional>
#include <list>
#include <memory>
#include <thread>

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
    if (finalized) return;
    // Verdicts still addressed to ranks that never arrived: let MPI finish them on its own; their
    // small buffers are left allocated, as MPI may still read them.
    auto* leaked = new std::list<std::pair<std::string, MPI_Request>>;  // NOLINT: on purpose
    for (auto it = sends_.begin(); it != sends_.end();) {
      int done = 0;
      MPI_Test(&it->second, &done, MPI_STATUS_IGNORE);
      if (done) {
        it = sends_.erase(it);
        continue;
      }
      MPI_Request_free(&it->second);
      auto next = std::next(it);
      leaked->splice(leaked->end(), sends_, it);  // list nodes (and SSO buffers) stay in place
      it = next;
    }
    if (leaked->empty()) delete leaked;
    MPI_Comm_free(&comm_);
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

  Result<std::shared_ptr<Communicator>> Duplicate() override {
    MPI_Comm dup = MPI_COMM_NULL;
    int rc = MPI_Comm_dup(comm_, &dup);
    if (rc != MPI_SUCCESS) return MpiError(rc, "comm_dup");
    MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
    return std::shared_ptr<Communicator>(std::make_shared<MpiComm>(dup));
  }

  bool SupportsConcurrentThreads() const override {
    int provided = MPI_THREAD_SINGLE;
    MPI_Query_thread(&provided);
    return provided == MPI_THREAD_MULTIPLE;
  }

  Status AgreeWithin(const Status& local, std::string_view phase,
                     std::chrono::milliseconds timeout, int root) override;

 private:
  // Messages of AgreeWithin carry "<seq>\n<code>\n<message>"; a message of an earlier agreement
  // (from a rank that arrived after the deadline) is recognised by its sequence number and dropped.
  static std::string Encode(uint64_t seq, const Status& s) {
    return std::to_string(seq) + "\n" + std::to_string(static_cast<int>(s.code())) + "\n" +
           std::string(s.message());
  }
  static bool Decode(const std::string& text, uint64_t* seq, Status* s) {
    const size_t a = text.find('\n');
    const size_t b = a == std::string::npos ? a : text.find('\n', a + 1);
    if (b == std::string::npos) return false;
    try {
      *seq = std::stoull(text.substr(0, a));
      const int code = std::stoi(text.substr(a + 1, b - a - 1));
      *s = code == 0 ? OkStatus() : Status(static_cast<StatusCode>(code), text.substr(b + 1));
    } catch (const std::exception&) {
      return false;
    }
    return true;
  }
  // A non-blocking send whose buffer must outlive it; completed ones are dropped lazily.
  void PostSend(std::string payload, int dest, int tag) {
    sends_.emplace_back(std::move(payload), MPI_REQUEST_NULL);
    auto& [buf, req] = sends_.back();
    MPI_Isend(buf.data(), static_cast<int>(buf.size()), MPI_BYTE, dest, tag, comm_, &req);
    for (auto it = sends_.begin(); it != sends_.end();) {
      int done = 0;
      MPI_Test(&it->second, &done, MPI_STATUS_IGNORE);
      it = done ? sends_.erase(it) : std::next(it);
    }
  }
  // Receives one message with `tag` from `source` (or any) if one is there.
  bool TryReceive(int source, int tag, std::string* text, int* from) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(source, tag, comm_, &flag, &st);
    if (!flag) return false;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    text->assign(static_cast<size_t>(count), '\0');
    MPI_Recv(text->data(), count, MPI_BYTE, st.MPI_SOURCE, tag, comm_, MPI_STATUS_IGNORE);
    *from = st.MPI_SOURCE;
    return true;
  }

  static constexpr int kAgreeTag = 7731;
  std::list<std::pair<std::string, MPI_Request>> sends_;
  uint64_t agree_seq_ = 0;
  Status Reduce(std::vector<int64_t>& v, MPI_Op op) {
    int rc = MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_INT64_T, op,
                           comm_);
    return rc == MPI_SUCCESS ? OkStatus() : MpiError(rc, "allreduce");
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

// Polls with a short spin, then sleeps growing up to 1 ms: quick when everyone is there, cheap
// when waiting for a late rank.
class Poller {
 public:
  void Pause() {
    if (++spins_ < 200) return;
    std::this_thread::sleep_for(sleep_);
    sleep_ = std::min(sleep_ * 2, std::chrono::microseconds(1000));
  }

 private:
  int spins_ = 0;
  std::chrono::microseconds sleep_{20};
};

std::string RankList(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size() && i < 16; ++i) {
    out += (i ? ", " : "") + std::to_string(ranks[i]);
  }
  if (ranks.size() > 16) out += " and " + std::to_string(ranks.size() - 16) + " more";
  return out;
}

Status MpiComm::AgreeWithin(const Status& local, std::string_view phase,
                            std::chrono::milliseconds timeout, int root) {
  if (root < 0 || root >= size_) {
    return InvalidArgumentError("agreement root " + std::to_string(root) + " out of range");
  }
  const uint64_t seq = ++agree_seq_;
  const auto start = std::chrono::steady_clock::now();
  const double secs = std::chrono::duration<double>(timeout).count();
  char secs_text[32];
  std::snprintf(secs_text, sizeof secs_text, "%g", secs);
  std::string text;
  int from = -1;
  Poller poller;
  if (rank_ != root) {
    PostSend(Encode(seq, local), root, kAgreeTag);
    const auto deadline = start + timeout + std::chrono::seconds(1);
    while (true) {
      while (TryReceive(root, kAgreeTag, &text, &from)) {
        uint64_t got = 0;
        Status verdict;
        if (Decode(text, &got, &verdict) && got == seq) return verdict;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return DeadlineExceededError(std::string(phase) + ": the primary rank " +
                                     std::to_string(root) + " did not answer within " + secs_text +
                                     " s (rank " + std::to_string(rank_) + " waited)");
      }
      poller.Pause();
    }
  }
  // The root collects every rank's outcome until the deadline.
  std::vector<std::optional<Status>> got(size_);
  got[root] = local;
  int arrived = 1;
  const auto deadline = start + timeout;
  while (arrived < size_) {
    while (arrived < size_ && TryReceive(MPI_ANY_SOURCE, kAgreeTag, &text, &from)) {
      uint64_t s = 0;
      Status st;
      if (!Decode(text, &s, &st) || s != seq || got[from]) continue;  // stale or duplicate
      got[from] = st;
      ++arrived;
    }
    if (arrived == size_ || std::chrono::steady_clock::now() > deadline) break;
    poller.Pause();
  }
  Status verdict;
  std::vector<int> missing;
  for (int r = 0; r < size_; ++r) {
    if (!got[r]) missing.push_back(r);
  }
  if (!missing.empty()) {
    verdict = DeadlineExceededError(
        std::string(phase) + ": rank" + (missing.size() > 1 ? "s " : " ") + RankList(missing) +
        " did not arrive within " + secs_text + " s (timeout_secs)");
  } else {
    int lowest = -1, failed = 0;
    bool all_same = true;
    for (int r = 0; r < size_; ++r) {
      if (got[r]->ok()) {
        all_same = false;
        continue;
      }
      ++failed;
      if (lowest < 0) lowest = r;
      else if (got[r]->ToString() != got[lowest]->ToString()) all_same = false;
    }
    if (lowest >= 0 && all_same) {
      verdict = *got[lowest];  // an inner phase already agreed: keep its message
    } else if (lowest >= 0) {
      std::string message =
          (size_ > 1 ? "rank " + std::to_string(lowest) + ": " : "") + got[lowest]->message();
      if (failed > 1) {
        message += " (also failed on " + std::to_string(failed - 1) + " other rank" +
                   (failed > 2 ? "s" : "") + ")";
      }
      verdict = Status(got[lowest]->code(), std::move(message));
    }
  }
  const std::string payload = Encode(seq, verdict);
  for (int r = 0; r < size_; ++r) {
    if (r != root) PostSend(payload, r, kAgreeTag);  // late ranks find it when they arrive
  }
  return verdict;
}

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
