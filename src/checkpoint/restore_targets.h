#pragma once
// Where each rank's restore targets come from (internal to restore.cc): array jobs, CUDA device
// pieces read through host buffers, and load-and-broadcast, where a replicated target piece is
// read on one replica and broadcast to the others.

#include <memory>
#include <string>
#include <vector>

#include "cairn/communicator.h"
#include "cairn/metadata.h"
#include "cairn/options.h"
#include "checkpoint/device_memory.h"
#include "coord/replica_plan.h"
#include "coord/restore_plan.h"

namespace cairn::checkpoint {

/// A host buffer standing in for a CUDA device target piece while it is read; copied to the
// device once the piece is complete.
struct HostShadow {
  void* device = nullptr;
  void* host = nullptr;
  size_t bytes = 0;
  bool pinned = false;
  HostShadow() = default;
  HostShadow(const HostShadow&) = delete;
  HostShadow& operator=(const HostShadow&) = delete;
  ~HostShadow() {
    if (host) FreeHostBuffer(host, pinned);
  }
};

/// One array leaf of an item to restore on this rank.
struct ArrayJob {
  const LeafMetadata* stored = nullptr;
  DistributedArray* target = nullptr;
  std::string key;
  coord::LeafReadPlan plan;
  // What this rank reads into: the target's pieces, device pieces through host shadows, minus
  // the pieces it receives from another replica (load-and-broadcast).
  DistributedArray local;
  std::vector<bool> received;  // per target piece
  std::vector<std::unique_ptr<HostShadow>> shadows;
};

/// One replicated target piece: read by group.members[0], broadcast to the others.
struct BroadcastEntry {
  size_t item = 0, job = 0;
  coord::BroadcastGroup group;
  bool device = false;  // CUDA device pieces (NCCL), else host (MPI)
  int64_t bytes = 0;
};

/// Collective over `comm`: every rank's target boxes of every array are gathered; the replicated
/// ones are grouped (coord::PlanLoadAndBroadcast) and this rank's received pieces are marked in
/// job.received. Returns the groups, in the same order on every rank.
Result<std::vector<BroadcastEntry>> PlanBroadcasts(Communicator& comm,
                                                   std::vector<std::vector<ArrayJob>>& arrays,
                                                   const RestoreOptions& options);

/// Local: job.local = the target's pieces this rank reads into (host shadows for device
/// pieces), without the received ones.
Status PrepareLocalTargets(std::vector<std::vector<ArrayJob>>& arrays);

/// Local: copies the host shadows into their device pieces and frees them.
Status CopyShadowsToDevice(std::vector<std::vector<ArrayJob>>& arrays);

/// Collective over `comm`: every group's reader broadcasts its piece to the other members,
/// group by group in plan order (each rank takes part in its own groups only; the same order on
/// every rank, so no two groups wait on each other). Fills the broadcast figures of `report`.
Status RunBroadcasts(Communicator& comm, std::vector<std::vector<ArrayJob>>& arrays,
                     const std::vector<BroadcastEntry>& plan, const RestoreOptions& options,
                     RestoreReport& report);

}  // namespace cairn::checkpoint
