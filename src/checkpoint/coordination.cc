#include "checkpoint/coordination.h"

#include <algorithm>
#include <chrono>
#include <vector>

namespace cairn::checkpoint {
namespace {

std::string RankSet(const std::set<int>& ranks) {
  std::string out = "{";
  for (int r : ranks) out += (out.size() > 1 ? ", " : "") + std::to_string(r);
  return out + "}";
}

}  // namespace

std::string Coordination::Key(std::string_view what) const {
  return key_prefix + "cairn." + std::string(what);
}

Status Coordination::Agree(const Status& local) const {
  return every_rank_primary ? AgreeOnStatus(*comm, local) : local;
}

Result<Coordination> Coordinate(const std::shared_ptr<Communicator>& comm,
                                const MultiprocessingOptions& options, int timeout_secs,
                                std::string_view who) {
  if (!comm) return InvalidArgumentError(std::string(who) + ": null communicator");
  const std::string prefix = std::string(who) + ": MultiprocessingOptions.";
  // Checks every active rank makes alike, before any collective.
  Status st = CheckImplemented(options);
  if (st.ok() && timeout_secs <= 0) {
    st = InvalidArgumentError(std::string(who) + ": async_options.timeout_secs = " +
                              std::to_string(timeout_secs) + " must be positive");
  }
  std::vector<int> active;
  if (st.ok() && options.active_processes) {
    const std::set<int>& a = *options.active_processes;
    if (*a.rbegin() >= comm->size()) {
      st = InvalidArgumentError(prefix + "active_processes " + RankSet(a) + " names rank " +
                                std::to_string(*a.rbegin()) + " but the communicator has " +
                                std::to_string(comm->size()) + " ranks");
    } else if (!a.count(comm->rank())) {
      // Local: the other ranks do not call Create, so nobody waits for this one.
      return InvalidArgumentError(prefix + "active_processes " + RankSet(a) + " does not hold rank " +
                                  std::to_string(comm->rank()) +
                                  ", which called Create: call it on the active ranks only");
    }
    active.assign(a.begin(), a.end());
  }
  if (st.ok() && options.primary_host && !options.active_processes &&
      *options.primary_host >= comm->size()) {
    st = InvalidArgumentError(prefix + "primary_host " + std::to_string(*options.primary_host) +
                              " is not a rank of the communicator (size " +
                              std::to_string(comm->size()) + ")");
  }
  if (!st.ok()) {
    // Every active rank got the same verdict from the same options (a rank outside the active
    // set returned above), so no collective is needed to agree on it.
    return st;
  }
  std::shared_ptr<Communicator> base = comm;
  int root = options.primary_host.value_or(0);
  if (options.active_processes) {
    CAIRN_ASSIGN_OR_RETURN(base, comm->Subset(active));
    root = options.primary_host
               ? static_cast<int>(std::find(active.begin(), active.end(), *options.primary_host) -
                                  active.begin())
               : 0;
  }
  Coordination c;
  if (options.active_processes) {
    c.comm = std::move(base);  // a new communicator already, of our own
  } else {
    auto dup = base->Duplicate();
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*base, dup.status()));
    c.comm = std::move(dup).value();
  }
  c.comm->SetTimeout(std::chrono::seconds(timeout_secs));
  c.key_prefix = options.barrier_sync_key_prefix.value_or("");
  c.comm->SetPhase(c.Key("setup"));
  c.root = root;
  c.every_rank_primary = !options.primary_host.has_value();
  c.storage = c.every_rank_primary ? SelfCommunicator() : c.comm;
  return c;
}

CheckpointerOptions InternalOptions(CheckpointerOptions options, const Coordination& c) {
  options.multiprocessing.primary_host = c.every_rank_primary ? 0 : c.root;
  options.multiprocessing.active_processes.reset();
  return options;
}

PhaseLabel::PhaseLabel(Communicator& comm, std::string phase)
    : comm_(comm), previous_(comm.phase()) {
  comm_.SetPhase(std::move(phase));
}

PhaseLabel::~PhaseLabel() { comm_.SetPhase(std::move(previous_)); }

}  // namespace cairn::checkpoint
