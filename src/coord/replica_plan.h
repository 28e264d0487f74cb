#pragma once
// Planning a load-and-broadcast restore (Orbax `LoadAndBroadcastOptions`): target pieces that
// several ranks hold identically are read from storage by one rank (the primary replica) and
// broadcast to the others.

#include <utility>
#include <vector>

#include "cairn/array.h"
#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn::coord {

/// A box restored once and broadcast.
struct BroadcastGroup {
  Box box;
  /// (rank, local piece index) of every rank whose target holds exactly this box; members[0] is
  /// the reader (reads from storage, then broadcasts to the others), the rest follow by rank.
  /// A rank appears once, with its first piece equal to `box`.
  std::vector<std::pair<int, int>> members;
};

/// Groups one leaf's replicated target pieces. `boxes_by_rank[r]` = rank r's target piece boxes
/// (the caller allgathers them, so every rank passes the same input and gets the same plan).
/// `replica_of_rank`: the replica id of each rank, indexed by rank (from a mesh: ReplicaIds), or
/// empty: then each box's holders are numbered 0, 1, ... in rank order. The reader is the lowest
/// rank holding the box in replica `primary_replica_id`. Only non-empty boxes held by >= 2 ranks
/// form groups; everything else is absent (read normally). Groups are ordered by box origin,
/// then shape.
/// InvalidArgument when `replica_of_rank` is neither empty nor one id per rank, when
/// `primary_replica_id` is negative, or (naming the box, its holders and primary_replica_id)
/// when a box held by several ranks has no holder in the primary replica.
Result<std::vector<BroadcastGroup>> PlanLoadAndBroadcast(
    const std::vector<std::vector<Box>>& boxes_by_rank, const std::vector<int>& replica_of_rank,
    int primary_replica_id);

/// The distinct rank sets of `groups` (each sorted by rank), in order of first appearance. The
/// caller builds one sub-communicator per set.
std::vector<std::vector<int>> DistinctMemberSets(const std::vector<BroadcastGroup>& groups);

/// The rank mesh is the public one (cairn/options.h, LoadAndBroadcastOptions::mesh): `shape` and
/// the rank at each position in row-major order. Ranks sharing a replica group along an axis are
/// those with the same coordinates on every other axis.
using RankMesh = ::cairn::RankMesh;

/// The coordinate of each rank along `axis` of `mesh` (indexed by rank): its replica id when
/// the replicas lie along `axis` (Orbax `replica_axis_index`). InvalidArgument when the mesh is
/// empty, has an extent < 1, does not hold exactly the ranks 0..nranks-1 once each, or when
/// `axis` is not one of its axes.
Result<std::vector<int>> ReplicaIds(const RankMesh& mesh, int axis, int nranks);

}  // namespace cairn::coord
