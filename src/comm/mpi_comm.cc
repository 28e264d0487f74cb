// The MPI communicator. With src/comm/mpi_native.h, the only place that calls MPI.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <tuple>

#include "cairn/mpi.h"
#include "comm/mpi_native.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Status MpiError(int rc, std::string_view what) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return UnavailableError("MPI " + std::string(what) + " failed: " + std::string(msg, len));
}

// Polls with a short spin, then sleeps growing up to `max_sleep`: quick when everyone is there,
// cheap when waiting for a late rank.
class Poller {
 public:
  explicit Poller(std::chrono::microseconds max_sleep = std::chrono::microseconds(1000))
      : max_sleep_(max_sleep) {}
  void Pause() {
    if (++spins_ < 200) return;
    std::this_thread::sleep_for(sleep_);
    sleep_ = std::min(sleep_ * 2, max_sleep_);
  }

 private:
  int spins_ = 0;
  std::chrono::microseconds sleep_{20};
  std::chrono::microseconds max_sleep_;
};

std::string RankList(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size() && i < 16; ++i) {
    out += (i ? ", " : "") + std::to_string(ranks[i]);
  }
  if (ranks.size() > 16) out += " and " + std::to_string(ranks.size() - 16) + " more";
  return out;
}
std::string Ranks(const std::vector<int>& ranks) {
  return (ranks.size() > 1 ? "ranks " : "rank ") + RankList(ranks);
}

std::string Seconds(milliseconds t) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", std::chrono::duration<double>(t).count());
  return text;
}

// Checked on every listed rank before any communication: all pass the same list, so all return
// the same error without talking to each other.
Status CheckSubset(const std::vector<int>& ranks, int size, int me) {
  if (ranks.empty()) return InvalidArgumentError("Subset: empty rank list");
  std::vector<bool> seen(size);
  for (int r : ranks) {
    if (r < 0 || r >= size) {
      return InvalidArgumentError("Subset: rank " + std::to_string(r) +
                                  " out of range (communicator of " + std::to_string(size) +
                                  " ranks)");
    }
    if (seen[r]) return InvalidArgumentError("Subset: rank " + std::to_string(r) + " listed twice");
    seen[r] = true;
  }
  if (!seen[me]) {
    return InvalidArgumentError("Subset: the calling rank " + std::to_string(me) +
                                " is not among the listed ranks (" + RankList(ranks) + ")");
  }
  return OkStatus();
}

class MpiComm final : public Communicator {
 public:
  MpiComm(MPI_Comm comm, std::optional<milliseconds> timeout, std::string phase)
      : comm_(comm), timeout_(timeout), phase_(std::move(phase)) {
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
    // A collective abandoned at its deadline may never complete, and its request may not be
    // freed: its buffers and the communicator stay allocated.
    if (!abandoned_.empty()) {
      new std::vector<std::shared_ptr<void>>(std::move(abandoned_));  // NOLINT: on purpose
      return;
    }
    MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  MPI_Comm native() const { return comm_; }

  Status Barrier() override {
    CAIRN_RETURN_IF_ERROR(Enter("barrier", OkStatus()));
    if (!timeout_) {
      int rc = MPI_Barrier(comm_);
      return rc == MPI_SUCCESS ? OkStatus() : MpiError(rc, "barrier");
    }
    MPI_Request req = MPI_REQUEST_NULL;
    return Finish(MPI_Ibarrier(comm_, &req), &req, nullptr, "barrier");
  }

  Status Broadcast(std::string& data, int root) override {
    CAIRN_RETURN_IF_ERROR(Enter("broadcast", CheckRoot("broadcast", root)));
    auto n = std::make_shared<unsigned long long>(data.size());
    if (!timeout_) {
      int rc = MPI_Bcast(n.get(), 1, MPI_UNSIGNED_LONG_LONG, root, comm_);
      if (rc != MPI_SUCCESS) return MpiError(rc, "broadcast");
    } else {
      MPI_Request req = MPI_REQUEST_NULL;
      CAIRN_RETURN_IF_ERROR(Finish(
          MPI_Ibcast(n.get(), 1, MPI_UNSIGNED_LONG_LONG, root, comm_, &req), &req, n, "broadcast"));
    }
    if (rank_ != root) data.resize(*n);
    return BroadcastChunks(data.data(), *n, root);
  }

  Status BroadcastBytes(void* data, size_t n, int root) override {
    CAIRN_RETURN_IF_ERROR(Enter("broadcast", CheckRoot("broadcast", root)));
    return BroadcastChunks(static_cast<char*>(data), n, root);
  }

  Result<std::vector<std::string>> AllGather(std::string_view mine) override {
    CAIRN_RETURN_IF_ERROR(
        Enter("allgather", mine.size() > static_cast<size_t>(std::numeric_limits<int>::max())
                               ? InvalidArgumentError("allgather payload over 2 GiB")
                               : OkStatus()));
    // Owned buffers: an abandoned non-blocking call may still use them after we return.
    struct Buffers {
      std::string mine, all;
      int n = 0;
      std::vector<int> counts, displs;
    };
    auto b = std::make_shared<Buffers>();
    b->n = static_cast<int>(mine.size());
    b->counts.resize(size_);
    b->displs.resize(size_);
    MPI_Request req = MPI_REQUEST_NULL;
    if (!timeout_) {
      int rc = MPI_Allgather(&b->n, 1, MPI_INT, b->counts.data(), 1, MPI_INT, comm_);
      if (rc != MPI_SUCCESS) return MpiError(rc, "allgather");
    } else {
      CAIRN_RETURN_IF_ERROR(
          Finish(MPI_Iallgather(&b->n, 1, MPI_INT, b->counts.data(), 1, MPI_INT, comm_, &req), &req,
                 b, "allgather"));
    }
    long long total = 0;
    for (int r = 0; r < size_; ++r) {
      b->displs[r] = static_cast<int>(total);
      total += b->counts[r];
    }
    if (total > std::numeric_limits<int>::max()) {
      return InvalidArgumentError("allgather total over 2 GiB");
    }
    b->all.assign(static_cast<size_t>(total), '\0');
    if (!timeout_) {
      int rc = MPI_Allgatherv(mine.data(), b->n, MPI_BYTE, b->all.data(), b->counts.data(),
                              b->displs.data(), MPI_BYTE, comm_);
      if (rc != MPI_SUCCESS) return MpiError(rc, "allgatherv");
    } else {
      b->mine.assign(mine);
      CAIRN_RETURN_IF_ERROR(
          Finish(MPI_Iallgatherv(b->mine.data(), b->n, MPI_BYTE, b->all.data(), b->counts.data(),
                                 b->displs.data(), MPI_BYTE, comm_, &req),
                 &req, b, "allgather"));
    }
    std::vector<std::string> out(size_);
    for (int r = 0; r < size_; ++r) out[r] = b->all.substr(b->displs[r], b->counts[r]);
    return out;
  }

  Result<std::vector<std::string>> AllToAll(std::vector<std::string> outgoing) override {
    CAIRN_RETURN_IF_ERROR(Enter(
        "alltoall", outgoing.size() != static_cast<size_t>(size_)
                        ? InvalidArgumentError("alltoall: " + std::to_string(outgoing.size()) +
                                               " messages for " + std::to_string(size_) + " ranks")
                        : OkStatus()));
    // Owned buffers: an abandoned non-blocking call may still use them after we return.
    struct Buffers {
      std::vector<std::string> out;
      std::vector<long long> send_n, recv_n;
      std::vector<int> sc, sd, rc, rd;
      std::string send, recv;
    };
    auto b = std::make_shared<Buffers>();
    b->out = std::move(outgoing);
    const size_t n = static_cast<size_t>(size_);
    b->send_n.resize(n);
    b->recv_n.assign(n, 0);
    for (size_t r = 0; r < n; ++r) b->send_n[r] = static_cast<long long>(b->out[r].size());
    MPI_Request req = MPI_REQUEST_NULL;
    if (!timeout_) {
      int rc = MPI_Alltoall(b->send_n.data(), 1, MPI_LONG_LONG, b->recv_n.data(), 1,
                            MPI_LONG_LONG, comm_);
      if (rc != MPI_SUCCESS) return MpiError(rc, "alltoall");
    } else {
      CAIRN_RETURN_IF_ERROR(Finish(MPI_Ialltoall(b->send_n.data(), 1, MPI_LONG_LONG,
                                                 b->recv_n.data(), 1, MPI_LONG_LONG, comm_, &req),
                                   &req, b, "alltoall"));
    }
    // Rounds of at most kRoundBytes sent (and received) per rank: counts stay below INT_MAX.
    constexpr long long kRoundBytes = 1ll << 30;
    const long long per_pair = std::max<long long>(1, kRoundBytes / size_);
    long long most = 0;
    for (size_t r = 0; r < n; ++r) most = std::max({most, b->send_n[r], b->recv_n[r]});
    std::vector<int64_t> rounds = {(most + per_pair - 1) / per_pair};
    CAIRN_RETURN_IF_ERROR(Reduce(rounds, MPI_MAX));
    std::vector<std::string> in(n);
    for (size_t r = 0; r < n; ++r) in[r].reserve(static_cast<size_t>(b->recv_n[r]));
    b->sc.resize(n);
    b->sd.resize(n);
    b->rc.resize(n);
    b->rd.resize(n);
    for (int64_t k = 0; k < rounds[0]; ++k) {
      const long long skip = k * per_pair;
      const auto part = [&](long long total) {
        return static_cast<int>(std::clamp<long long>(total - skip, 0, per_pair));
      };
      int s_total = 0, r_total = 0;
      for (size_t r = 0; r < n; ++r) {
        b->sc[r] = part(b->send_n[r]);
        b->sd[r] = s_total;
        s_total += b->sc[r];
        b->rc[r] = part(b->recv_n[r]);
        b->rd[r] = r_total;
        r_total += b->rc[r];
      }
      b->send.resize(static_cast<size_t>(s_total));
      for (size_t r = 0; r < n; ++r) {
        if (b->sc[r] > 0) b->out[r].copy(b->send.data() + b->sd[r], b->sc[r], skip);
      }
      b->recv.resize(static_cast<size_t>(r_total));
      if (!timeout_) {
        int rc = MPI_Alltoallv(b->send.data(), b->sc.data(), b->sd.data(), MPI_BYTE,
                               b->recv.data(), b->rc.data(), b->rd.data(), MPI_BYTE, comm_);
        if (rc != MPI_SUCCESS) return MpiError(rc, "alltoallv");
      } else {
        CAIRN_RETURN_IF_ERROR(
            Finish(MPI_Ialltoallv(b->send.data(), b->sc.data(), b->sd.data(), MPI_BYTE,
                                  b->recv.data(), b->rc.data(), b->rd.data(), MPI_BYTE, comm_,
                                  &req),
                   &req, b, "alltoall"));
      }
      for (size_t r = 0; r < n; ++r) in[r].append(b->recv, b->rd[r], b->rc[r]);
    }
    return in;
  }

  Status AllReduceMin(std::vector<int64_t>& v) override { return Reduce(v, MPI_MIN); }
  Status AllReduceMax(std::vector<int64_t>& v) override { return Reduce(v, MPI_MAX); }
  Status AllReduceSum(std::vector<int64_t>& v) override { return Reduce(v, MPI_SUM); }
  std::string_view kind() const override { return "MPI"; }

  Result<std::shared_ptr<Communicator>> Duplicate() override {
    CAIRN_RETURN_IF_ERROR(Enter("duplicate", OkStatus()));
    auto dup = std::make_shared<MPI_Comm>(MPI_COMM_NULL);
    if (!timeout_) {
      int rc = MPI_Comm_dup(comm_, dup.get());
      if (rc != MPI_SUCCESS) return MpiError(rc, "comm_dup");
    } else {
      MPI_Request req = MPI_REQUEST_NULL;
      CAIRN_RETURN_IF_ERROR(Finish(MPI_Comm_idup(comm_, dup.get(), &req), &req, dup, "duplicate"));
    }
    return Wrap(*dup);
  }

  Result<std::shared_ptr<Communicator>> Subset(const std::vector<int>& ranks) override {
    CAIRN_RETURN_IF_ERROR(CheckSubset(ranks, size_, rank_));
    if (!broken_.empty()) return Broken();
    if (timeout_) {
      // Over the listed ranks only, with sequence numbers of their own: the others' agreements
      // and collectives go on meanwhile.
      CAIRN_RETURN_IF_ERROR(Agree("subset " + RankList(ranks), &ranks, ranks[0], OkStatus(),
                                  PhaseFor("subset"), *timeout_));
    }
    MPI_Group all = MPI_GROUP_NULL, group = MPI_GROUP_NULL;
    MPI_Comm_group(comm_, &all);
    MPI_Group_incl(all, static_cast<int>(ranks.size()), ranks.data(), &group);
    MPI_Comm sub = MPI_COMM_NULL;
    int rc = MPI_Comm_create_group(comm_, group, kSubsetTag, &sub);
    MPI_Group_free(&group);
    MPI_Group_free(&all);
    if (rc != MPI_SUCCESS) return MpiError(rc, "comm_create_group");
    return Wrap(sub);
  }

  void SetTimeout(std::optional<milliseconds> timeout) override { timeout_ = timeout; }
  void SetPhase(std::string phase) override { phase_ = std::move(phase); }
  const std::string& phase() const override { return phase_; }

  bool SupportsConcurrentThreads() const override {
    int provided = MPI_THREAD_SINGLE;
    MPI_Query_thread(&provided);
    return provided == MPI_THREAD_MULTIPLE;
  }

  Status AgreeWithin(const Status& local, std::string_view phase, milliseconds timeout,
                     int root) override {
    if (root < 0 || root >= size_) {
      return InvalidArgumentError("agreement root " + std::to_string(root) + " out of range");
    }
    if (!broken_.empty()) return Broken();
    return Agree(kWholeKey, nullptr, root, local, phase, timeout);
  }

 private:
  // Tags of the agreement messages: arrivals (to the root), verdicts (from the root) and "gave up
  // waiting for you" (to a root that did not answer in time). Distinct from kSubsetTag, which
  // MPI_Comm_create_group uses on this communicator.
  static constexpr int kArriveTag = 7731, kVerdictTag = 7732, kGaveUpTag = 7733;
  static constexpr int kSubsetTag = 7740;
  // Agreements over the whole communicator; a Subset's are keyed by its rank list.
  static constexpr const char* kWholeKey = "*";
  // Chunk of a broadcast with a deadline, copied through a buffer of ours: an abandoned
  // non-blocking broadcast must not write into the caller's memory after we return.
  static constexpr size_t kBounceBytes = size_t{4} << 20;

  struct Message {
    std::string key;
    uint64_t seq = 0;
    Status status;
  };
  // "<key>\n<seq>\n<code>\n<message>". A message of an earlier agreement (from a rank that
  // arrived after the deadline) is recognised by its sequence number and dropped.
  static std::string Encode(const std::string& key, uint64_t seq, const Status& s) {
    return key + "\n" + std::to_string(seq) + "\n" + std::to_string(static_cast<int>(s.code())) +
           "\n" + std::string(s.message());
  }
  static bool Decode(const std::string& text, Message* m) {
    const size_t a = text.find('\n');
    const size_t b = a == std::string::npos ? a : text.find('\n', a + 1);
    const size_t c = b == std::string::npos ? b : text.find('\n', b + 1);
    if (c == std::string::npos) return false;
    try {
      m->key = text.substr(0, a);
      m->seq = std::stoull(text.substr(a + 1, b - a - 1));
      const int code = std::stoi(text.substr(b + 1, c - b - 1));
      m->status =
          code == 0 ? OkStatus() : Status(static_cast<StatusCode>(code), text.substr(c + 1));
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
  // Moves every message with `tag` that has arrived into the inbox, except those of agreements
  // already over. Messages of later agreements are kept: a rank that gave up on a late root may
  // already be in the next one.
  void Pull(int tag) {
    while (true) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, tag, comm_, &flag, &st);
      if (!flag) return;
      int count = 0;
      MPI_Get_count(&st, MPI_BYTE, &count);
      std::string text(static_cast<size_t>(count), '\0');
      MPI_Recv(text.data(), count, MPI_BYTE, st.MPI_SOURCE, tag, comm_, MPI_STATUS_IGNORE);
      Message m;
      if (!Decode(text, &m)) continue;
      auto it = seqs_.find(m.key);
      if (it != seqs_.end() && m.seq < it->second) continue;
      inbox_[{tag, m.key, m.seq, st.MPI_SOURCE}] = m.status;
    }
  }
  std::optional<Status> Take(int tag, const std::string& key, uint64_t seq, int from) {
    auto it = inbox_.find({tag, key, seq, from});
    if (it == inbox_.end()) return std::nullopt;
    Status s = std::move(it->second);
    inbox_.erase(it);
    return s;
  }

  Status Agree(const std::string& key, const std::vector<int>* members, int root,
               const Status& local, std::string_view phase, milliseconds timeout);

  std::string PhaseFor(std::string_view what) const {
    return (phase_.empty() ? std::string("unnamed phase") : phase_) + " (" + std::string(what) +
           ")";
  }
  Status CheckRoot(std::string_view what, int root) const {
    if (root >= 0 && root < size_) return OkStatus();
    return InvalidArgumentError(std::string(what) + " root " + std::to_string(root) +
                                " out of range (communicator of " + std::to_string(size_) +
                                " ranks)");
  }
  Status Broken() const {
    return FailedPreconditionError("the communicator broke in " + broken_ +
                                   ": a collective there did not complete although every rank "
                                   "had arrived (a rank may have died); it cannot be used again");
  }
  // Start of every collective: fails at once if broken; with a timeout, the arrival agreement
  // (root 0) on `check`, so that nobody enters the real collective unless everyone will.
  Status Enter(std::string_view what, const Status& check) {
    if (!broken_.empty()) return Broken();
    if (!timeout_) return check;
    return Agree(kWholeKey, nullptr, 0, check, PhaseFor(what), *timeout_);
  }
  // Polls a started non-blocking collective until done or `timeout_`. At the deadline the
  // request and `keep` (the buffers it uses) are abandoned and the communicator is broken.
  Status Finish(int rc, MPI_Request* req, std::shared_ptr<void> keep, std::string_view what) {
    if (rc != MPI_SUCCESS) return MpiError(rc, what);
    const auto deadline = Clock::now() + *timeout_;
    Poller poller(std::chrono::microseconds(50));  // every rank is there: progress matters
    while (true) {
      int done = 0;
      rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS) return MpiError(rc, what);
      if (done) return OkStatus();
      if (Clock::now() > deadline) break;
      poller.Pause();
    }
    auto request = std::make_shared<MPI_Request>(*req);
    abandoned_.push_back(std::move(request));
    abandoned_.push_back(std::move(keep));
    broken_ = PhaseFor(what);
    return DeadlineExceededError(broken_ +
                                 ": every rank arrived, but the collective did not "
                                 "complete within " +
                                 Seconds(*timeout_) +
                                 " s (timeout_secs); a rank may have died inside it, and the "
                                 "communicator cannot be used again");
  }
  Status BroadcastChunks(char* data, size_t n, int root) {
    if (!timeout_) {
      for (size_t off = 0; off < n;) {  // chunks below INT_MAX
        int len = static_cast<int>(std::min<size_t>(n - off, 1u << 30));
        int rc = MPI_Bcast(data + off, len, MPI_BYTE, root, comm_);
        if (rc != MPI_SUCCESS) return MpiError(rc, "broadcast");
        off += len;
      }
      return OkStatus();
    }
    auto bounce = std::make_shared<std::vector<char>>(std::min(n, kBounceBytes));
    for (size_t off = 0; off < n;) {
      const size_t len = std::min(n - off, kBounceBytes);
      if (rank_ == root) std::memcpy(bounce->data(), data + off, len);
      MPI_Request req = MPI_REQUEST_NULL;
      CAIRN_RETURN_IF_ERROR(
          Finish(MPI_Ibcast(bounce->data(), static_cast<int>(len), MPI_BYTE, root, comm_, &req),
                 &req, bounce, "broadcast"));
      if (rank_ != root) std::memcpy(data + off, bounce->data(), len);
      off += len;
    }
    return OkStatus();
  }
  Status Reduce(std::vector<int64_t>& v, MPI_Op op) {
    CAIRN_RETURN_IF_ERROR(Enter("allreduce", OkStatus()));
    const int n = static_cast<int>(v.size());
    if (!timeout_) {
      int rc = MPI_Allreduce(MPI_IN_PLACE, v.data(), n, MPI_INT64_T, op, comm_);
      return rc == MPI_SUCCESS ? OkStatus() : MpiError(rc, "allreduce");
    }
    auto buf = std::make_shared<std::vector<int64_t>>(v);
    MPI_Request req = MPI_REQUEST_NULL;
    CAIRN_RETURN_IF_ERROR(
        Finish(MPI_Iallreduce(MPI_IN_PLACE, buf->data(), n, MPI_INT64_T, op, comm_, &req), &req,
               buf, "allreduce"));
    v = *buf;
    return OkStatus();
  }
  // A new communicator (errors returned, not fatal) with this one's timeout and phase.
  std::shared_ptr<Communicator> Wrap(MPI_Comm comm) const {
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    return std::make_shared<MpiComm>(comm, timeout_, phase_);
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  std::optional<milliseconds> timeout_;
  std::string phase_;
  std::string broken_;  // the phase a collective was abandoned in; empty while usable
  std::vector<std::shared_ptr<void>> abandoned_;
  std::list<std::pair<std::string, MPI_Request>> sends_;
  std::map<std::string, uint64_t> seqs_;  // per agreement key: the latest sequence number
  std::map<std::tuple<int, std::string, uint64_t, int>, Status> inbox_;  // tag, key, seq, from
};

Status MpiComm::Agree(const std::string& key, const std::vector<int>* members, int root,
                      const Status& local, std::string_view phase, milliseconds timeout) {
  const uint64_t seq = ++seqs_[key];
  for (auto it = inbox_.begin(); it != inbox_.end();) {  // left over from finished agreements
    const bool stale = std::get<1>(it->first) == key && std::get<2>(it->first) < seq;
    it = stale ? inbox_.erase(it) : std::next(it);
  }
  const auto start = Clock::now();
  const std::string secs = Seconds(timeout);
  Poller poller;
  if (rank_ != root) {
    PostSend(Encode(key, seq, local), root, kArriveTag);
    const auto deadline = start + timeout + std::chrono::seconds(1);
    while (true) {
      Pull(kVerdictTag);
      if (auto verdict = Take(kVerdictTag, key, seq, root)) return *verdict;
      if (Clock::now() > deadline) break;
      poller.Pause();
    }
    // Tell the root, so that when it comes it does not enter a collective we will not be in.
    PostSend(Encode(key, seq, OkStatus()), root, kGaveUpTag);
    return DeadlineExceededError(std::string(phase) + ": the primary rank " + std::to_string(root) +
                                 " did not answer within " + secs + " s (timeout_secs; rank " +
                                 std::to_string(rank_) + " waited)");
  }
  // The root collects every member's outcome until the deadline.
  std::vector<int> all;
  if (members) {
    all = *members;
  } else {
    for (int r = 0; r < size_; ++r) all.push_back(r);
  }
  std::map<int, Status> got = {{root, local}};
  const auto deadline = start + timeout;
  while (true) {
    Pull(kArriveTag);
    for (int r : all) {
      if (got.count(r)) continue;
      if (auto s = Take(kArriveTag, key, seq, r)) got[r] = *s;
    }
    if (got.size() == all.size() || Clock::now() > deadline) break;
    poller.Pause();
  }
  Pull(kGaveUpTag);
  std::vector<int> missing, gave_up;
  for (int r : all) {
    if (!got.count(r)) missing.push_back(r);
    if (r != root && Take(kGaveUpTag, key, seq, r)) gave_up.push_back(r);
  }
  Status verdict;
  if (!gave_up.empty()) {
    verdict = DeadlineExceededError(
        std::string(phase) + ": rank " + std::to_string(root) + " (the primary) arrived after " +
        Ranks(gave_up) + " had given up waiting " + secs + " s for it (timeout_secs)" +
        (missing.empty() ? "" : "; " + Ranks(missing) + " did not arrive"));
  } else if (!missing.empty()) {
    verdict = DeadlineExceededError(std::string(phase) + ": " + Ranks(missing) +
                                    " did not arrive within " + secs + " s (timeout_secs)");
  } else {
    int lowest = -1, failed = 0;
    bool all_same = true;
    for (const auto& [r, s] : got) {
      if (s.ok()) {
        all_same = false;
        continue;
      }
      ++failed;
      if (lowest < 0)
        lowest = r;
      else if (s.ToString() != got[lowest].ToString())
        all_same = false;
    }
    if (lowest >= 0 && all_same) {
      verdict = got[lowest];  // an inner phase already agreed: keep its message
    } else if (lowest >= 0) {
      std::string message =
          (all.size() > 1 ? "rank " + std::to_string(lowest) + ": " : "") + got[lowest].message();
      if (failed > 1) {
        message += " (also failed on " + std::to_string(failed - 1) + " other rank" +
                   (failed > 2 ? "s" : "") + ")";
      }
      verdict = Status(got[lowest].code(), std::move(message));
    }
  }
  const std::string payload = Encode(key, seq, verdict);
  for (int r : all) {
    if (r != root) PostSend(payload, r, kVerdictTag);  // late ranks find it when they arrive
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
  return std::shared_ptr<Communicator>(std::make_shared<MpiComm>(dup, std::nullopt, ""));
}

namespace comm {
MPI_Comm NativeMpiComm(const Communicator& c) {
  if (auto* m = dynamic_cast<const MpiComm*>(&c)) return m->native();
  return MPI_COMM_NULL;
}
}  // namespace comm

}  // namespace cairn
