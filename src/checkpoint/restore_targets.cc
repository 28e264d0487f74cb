// Where each rank's restore targets come from: load-and-broadcast groups and their broadcasts,
// host buffers standing in for CUDA device pieces.
#include "checkpoint/restore_targets.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "checkpoint/device_memory.h"
#include "comm/broadcast_transport.h"

namespace cairn::checkpoint {

using nlohmann::json;

Result<std::vector<BroadcastEntry>> PlanBroadcasts(Communicator& comm,
                                                   std::vector<std::vector<ArrayJob>>& arrays,
                                                   const RestoreOptions& options) {
  const auto& lb = options.array.load_and_broadcast_options;
  // What this rank holds: per (item, key path) its target boxes, dtype and memory kinds.
  json mine = json::array();
  for (size_t k = 0; k < arrays.size(); ++k) {
    for (const ArrayJob& job : arrays[k]) {
      json boxes = json::array(), device = json::array();
      for (const Piece& p : job.target->pieces) {
        boxes.push_back({p.box.origin, p.box.shape});
        device.push_back(p.box.NumElements() > 0 && IsDeviceMemory(p.data) ? 1 : 0);
      }
      mine.push_back({{"k", k},
                      {"key", job.key},
                      {"dtype", static_cast<int>(job.target->dtype)},
                      {"boxes", boxes},
                      {"device", device}});
    }
  }
  auto gathered = comm.AllGather(mine.dump());
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, gathered.status()));
  std::vector<int> replica_of_rank;
  Status st;
  if (lb.mesh) {
    auto ids = coord::ReplicaIds(coord::RankMesh{lb.mesh->shape, lb.mesh->ranks},
                                 lb.replica_axis_index, comm.size());
    st = ids.status().WithContext("RestoreOptions.array.load_and_broadcast_options.mesh");
    if (ids.ok()) replica_of_rank = std::move(ids).value();
  }
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
  // (item, key) -> per rank: boxes, device flags, dtype.
  struct Held {
    std::vector<std::vector<Box>> boxes;
    std::vector<std::vector<int>> device;
    std::vector<int> dtype;
  };
  std::map<std::pair<size_t, std::string>, Held> held;
  const int n = comm.size();
  for (int r = 0; r < n; ++r) {
    const json all = json::parse((*gathered)[r], nullptr, false);
    if (!all.is_array()) return InternalError("load-and-broadcast: bad target description");
    for (const json& e : all) {
      Held& h = held[{e["k"].get<size_t>(), e["key"].get<std::string>()}];
      if (h.boxes.empty()) {
        h.boxes.resize(n);
        h.device.resize(n);
        h.dtype.assign(n, -1);
      }
      for (const json& b : e["boxes"]) {
        h.boxes[r].push_back(
            Box{b[0].get<std::vector<int64_t>>(), b[1].get<std::vector<int64_t>>()});
      }
      h.device[r] = e["device"].get<std::vector<int>>();
      h.dtype[r] = e["dtype"].get<int>();
    }
  }
  std::vector<BroadcastEntry> plan;
  st = OkStatus();
  for (auto& [where, h] : held) {
    const auto& [k, key] = where;
    // Replicas must agree on the dtype they restore into (the bytes are broadcast as they are).
    for (int r = 0; r < n && st.ok(); ++r) {
      for (int q = r + 1; q < n && st.ok(); ++q) {
        if (h.dtype[r] >= 0 && h.dtype[q] >= 0 && h.dtype[r] != h.dtype[q]) {
          st = InvalidArgumentError("key path '" + key + "': ranks " + std::to_string(r) + " and " +
                                    std::to_string(q) +
                                    " restore into different dtypes; load-and-broadcast needs the "
                                    "same target dtype on every replica");
        }
      }
    }
    if (!st.ok()) break;
    auto groups = coord::PlanLoadAndBroadcast(h.boxes, replica_of_rank, lb.primary_replica_id);
    if (!groups.ok()) {
      st = groups.status().WithContext("key path '" + key + "'");
      break;
    }
    // This rank's job for (k, key), if it has one.
    ArrayJob* job = nullptr;
    size_t job_index = 0;
    for (size_t j = 0; j < arrays[k].size(); ++j) {
      if (arrays[k][j].key == key) {
        job = &arrays[k][j];
        job_index = j;
      }
    }
    int dtype = -1;
    for (int r = 0; r < n; ++r) dtype = std::max(dtype, h.dtype[r]);
    for (coord::BroadcastGroup& g : *groups) {
      BroadcastEntry e;
      e.item = k;
      e.job = job_index;
      const auto [reader, reader_piece] = g.members.front();
      e.device = h.device[reader][reader_piece] != 0;
      for (const auto& [r, piece] : g.members) {
        if ((h.device[r][piece] != 0) != e.device) {
          st = InvalidArgumentError("key path '" + key + "': target piece " + g.box.ToString() +
                                    " is in CUDA device memory on some replicas and in host "
                                    "memory on others (rank " + std::to_string(r) +
                                    "); load-and-broadcast needs one kind");
        }
      }
      e.bytes = g.box.NumElements() * static_cast<int64_t>(DTypeSize(static_cast<DType>(dtype)));
      for (size_t m = 1; m < g.members.size(); ++m) {
        if (g.members[m].first == comm.rank() && job != nullptr) {
          job->received[static_cast<size_t>(g.members[m].second)] = true;
        }
      }
      e.group = std::move(g);
      plan.push_back(std::move(e));
    }
  }
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
  return plan;
}

Status PrepareLocalTargets(std::vector<std::vector<ArrayJob>>& arrays) {
  for (auto& jobs : arrays) {
    for (ArrayJob& job : jobs) {
      job.local.dtype = job.target->dtype;
      job.local.global_shape = job.target->global_shape;
      job.local.pieces.clear();
      const size_t elem = DTypeSize(job.target->dtype);
      for (size_t i = 0; i < job.target->pieces.size(); ++i) {
        if (job.received[i]) continue;
        Piece p = job.target->pieces[i];
        if (p.box.NumElements() > 0 && IsDeviceMemory(p.data)) {
          auto shadow = std::make_unique<HostShadow>();
          shadow->device = p.data;
          shadow->bytes = static_cast<size_t>(p.box.NumElements()) * elem;
          shadow->pinned = PinnedMemoryAvailable();
          shadow->host = AllocateHostBuffer(shadow->bytes, shadow->pinned);
          if (!shadow->host) {
            return ResourceExhaustedError("key path '" + job.key + "': no host memory for a " +
                                          std::to_string(shadow->bytes) +
                                          "-byte buffer to restore device piece " +
                                          p.box.ToString());
          }
          p.data = shadow->host;
          job.shadows.push_back(std::move(shadow));
        }
        job.local.pieces.push_back(p);
      }
    }
  }
  return OkStatus();
}

Status CopyShadowsToDevice(std::vector<std::vector<ArrayJob>>& arrays) {
  for (auto& jobs : arrays) {
    for (ArrayJob& job : jobs) {
      for (const auto& s : job.shadows) {
        CAIRN_RETURN_IF_ERROR(CopyHostToDevice(s->device, s->host, s->bytes)
                                  .WithContext("key path '" + job.key + "'"));
      }
      job.shadows.clear();
    }
  }
  return OkStatus();
}

Status RunBroadcasts(Communicator& comm, std::vector<std::vector<ArrayJob>>& arrays,
                     const std::vector<BroadcastEntry>& plan, const RestoreOptions& options,
                     RestoreReport& report) {
  const auto& lb = options.array.load_and_broadcast_options;
  constexpr int64_t kMaxChunk = int64_t{1} << 30;
  // The chunk size: the limit, or a share of the free memory; the same on every rank.
  int64_t chunk = kMaxChunk;
  if (lb.broadcast_memory_limit_bytes) {
    chunk = *lb.broadcast_memory_limit_bytes;
  } else {
    for (const BroadcastEntry& e : plan) {
      bool member = false;
      for (const auto& [r, piece] : e.group.members) member = member || r == comm.rank();
      if (!member) continue;
      int64_t avail = AvailableHostMemory();
      if (e.device) {
        for (const auto& [r, piece] : e.group.members) {
          if (r != comm.rank()) continue;
          const ArrayJob& job = arrays[e.item][e.job];
          if (auto d = AvailableDeviceMemory(job.target->pieces[static_cast<size_t>(piece)].data)) {
            avail = *d;
          }
        }
      }
      chunk = std::min<int64_t>(
          chunk, static_cast<int64_t>(static_cast<double>(avail) *
                                      lb.broadcast_memory_scaling_factor));
    }
  }
  std::vector<int64_t> agreed = {std::max<int64_t>(chunk, 1)};
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, comm.AllReduceMin(agreed)));
  chunk = agreed[0];

  struct Group {
    std::shared_ptr<Communicator> comm;
    std::unique_ptr<comm::BroadcastTransport> mpi, nccl;
  };
  std::map<std::vector<int>, Group> groups;
  Status local;
  for (const BroadcastEntry& e : plan) {
    int my_piece = -1;
    std::vector<int> ranks;
    for (const auto& [r, piece] : e.group.members) {
      ranks.push_back(r);
      if (r == comm.rank()) my_piece = piece;
    }
    if (my_piece < 0) continue;
    const int reader = e.group.members.front().first;
    std::sort(ranks.begin(), ranks.end());
    const int root = static_cast<int>(std::find(ranks.begin(), ranks.end(), reader) -
                                      ranks.begin());
    Group& g = groups[ranks];
    Status st;
    if (!g.comm) {
      auto sub = comm.Subset(ranks);  // collective over these ranks only
      st = sub.status();
      if (st.ok()) g.comm = std::move(sub).value();
    }
    std::unique_ptr<comm::BroadcastTransport>& t = e.device ? g.nccl : g.mpi;
    if (st.ok() && !t) {
      auto made = e.device ? comm::MakeNcclTransport(g.comm) : comm::MakeMpiTransport(g.comm);
      st = made.status();
      if (st.ok()) t = std::move(made).value();
    }
    const ArrayJob& job = arrays[e.item][e.job];
    if (st.ok()) {
      void* data = job.target->pieces[static_cast<size_t>(my_piece)].data;
      st = t->Broadcast(data, static_cast<size_t>(e.bytes), root, static_cast<size_t>(chunk));
      if (st.ok()) {
        (comm.rank() == reader ? report.bytes_broadcast : report.bytes_received) += e.bytes;
        report.max_broadcast_chunk_bytes =
            std::max<int64_t>(report.max_broadcast_chunk_bytes,
                              static_cast<int64_t>(t->max_chunk_bytes()));
        const std::string name(t->name());
        if (std::find(report.broadcast_transports.begin(), report.broadcast_transports.end(),
                      name) == report.broadcast_transports.end()) {
          report.broadcast_transports.push_back(name);
        }
      }
    }
    if (!st.ok() && local.ok()) {
      local = st.WithContext("load-and-broadcast of key path '" + job.key + "' piece " +
                             e.group.box.ToString());
    }
  }
  return AgreeOnStatus(comm, local);
}

}  // namespace cairn::checkpoint
