#include "coord/replica_plan.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

#include "base/box_ops.h"

namespace cairn::coord {
namespace {

std::string RankList(const std::vector<std::pair<int, int>>& members) {
  std::string s;
  for (const auto& [rank, piece] : members) s += (s.empty() ? "" : ", ") + std::to_string(rank);
  return s;
}

std::string IntList(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// Orders boxes by origin, then shape, so that every rank lists the groups identically.
struct BoxLess {
  bool operator()(const Box& a, const Box& b) const {
    return std::tie(a.origin, a.shape) < std::tie(b.origin, b.shape);
  }
};

}  // namespace

Result<std::vector<BroadcastGroup>> PlanLoadAndBroadcast(
    const std::vector<std::vector<Box>>& boxes_by_rank, const std::vector<int>& replica_of_rank,
    int primary_replica_id) {
  if (!replica_of_rank.empty() && replica_of_rank.size() != boxes_by_rank.size()) {
    return InvalidArgumentError("load and broadcast: " + std::to_string(replica_of_rank.size()) +
                                " replica ids for " + std::to_string(boxes_by_rank.size()) +
                                " ranks");
  }
  if (primary_replica_id < 0) {
    return InvalidArgumentError("load and broadcast: primary_replica_id " +
                                std::to_string(primary_replica_id) + " is negative");
  }
  // Ranks are visited in order, so each holder list is sorted by rank.
  std::map<Box, std::vector<std::pair<int, int>>, BoxLess> holders;
  for (size_t r = 0; r < boxes_by_rank.size(); ++r) {
    for (size_t p = 0; p < boxes_by_rank[r].size(); ++p) {
      const Box& box = boxes_by_rank[r][p];
      if (box.NumElements() == 0) continue;
      auto& list = holders[box];
      if (!list.empty() && list.back().first == static_cast<int>(r)) continue;  // same rank again
      list.push_back({static_cast<int>(r), static_cast<int>(p)});
    }
  }
  std::vector<BroadcastGroup> groups;
  for (auto& [box, members] : holders) {
    if (members.size() < 2) continue;
    size_t reader = members.size();
    if (replica_of_rank.empty()) {
      if (static_cast<size_t>(primary_replica_id) < members.size()) reader = primary_replica_id;
    } else {
      for (size_t i = 0; i < members.size(); ++i) {
        if (replica_of_rank[members[i].first] == primary_replica_id) {
          reader = i;
          break;
        }
      }
    }
    if (reader == members.size()) {
      std::string where = replica_of_rank.empty()
                              ? "only " + std::to_string(members.size()) + " replicas"
                              : "none in that replica";
      return InvalidArgumentError("load and broadcast: box " + box.ToString() +
                                  " is held by ranks " + RankList(members) + ", " + where +
                                  "; primary_replica_id " + std::to_string(primary_replica_id) +
                                  " has no holder");
    }
    std::rotate(members.begin(), members.begin() + reader, members.begin() + reader + 1);
    groups.push_back({box, std::move(members)});
  }
  return groups;
}

std::vector<std::vector<int>> DistinctMemberSets(const std::vector<BroadcastGroup>& groups) {
  std::vector<std::vector<int>> sets;
  for (const BroadcastGroup& g : groups) {
    std::vector<int> ranks;
    for (const auto& [rank, piece] : g.members) ranks.push_back(rank);
    std::sort(ranks.begin(), ranks.end());
    if (std::find(sets.begin(), sets.end(), ranks) == sets.end()) sets.push_back(std::move(ranks));
  }
  return sets;
}

Result<std::vector<int>> ReplicaIds(const RankMesh& mesh, int axis, int nranks) {
  const std::string what =
      "rank mesh of shape " + IntList(mesh.shape) + " and ranks " + IntList(mesh.ranks);
  if (mesh.shape.empty()) return InvalidArgumentError(what + ": the mesh has no axes");
  int64_t size = 1;
  for (int e : mesh.shape) {
    if (e < 1) return InvalidArgumentError(what + ": every extent must be at least 1");
    size *= e;
  }
  if (size != static_cast<int64_t>(mesh.ranks.size()) || size != nranks) {
    return InvalidArgumentError(what + ": the mesh must hold each of the " +
                                std::to_string(nranks) + " ranks once, but has " +
                                std::to_string(size) + " positions and " +
                                std::to_string(mesh.ranks.size()) + " ranks");
  }
  if (axis < 0 || axis >= static_cast<int>(mesh.shape.size())) {
    return InvalidArgumentError(what + ": replica_axis_index " + std::to_string(axis) +
                                " is not an axis of the mesh");
  }
  int64_t stride = 1;
  for (size_t d = axis + 1; d < mesh.shape.size(); ++d) stride *= mesh.shape[d];
  std::vector<int> ids(nranks, -1);
  for (size_t i = 0; i < mesh.ranks.size(); ++i) {
    const int rank = mesh.ranks[i];
    if (rank < 0 || rank >= nranks || ids[rank] != -1) {
      return InvalidArgumentError(what + ": rank " + std::to_string(rank) +
                                  " is out of range or listed twice");
    }
    ids[rank] = static_cast<int>((static_cast<int64_t>(i) / stride) % mesh.shape[axis]);
  }
  return ids;
}

}  // namespace cairn::coord
