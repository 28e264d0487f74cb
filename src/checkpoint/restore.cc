// Restore: the primary reads the metadata and shares it; each rank matches its target tree
// against it and plans its reads; the arrays are read through the backend in bounded rounds,
// verified and scattered into the target pieces; scalars, strings and JSON are filled last.
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "base/box_ops.h"
#include "base/checksum.h"
#include "base/convert.h"
#include "base/fs.h"
#include "cairn/backend.h"
#include "checkpoint/device_memory.h"
#include "checkpoint/impl.h"
#include "checkpoint/io_turns.h"
#include "checkpoint/restore_targets.h"
#include "coord/commit.h"
#include "coord/restore_plan.h"
#include "format/metadata_json.h"

namespace cairn::checkpoint {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Temporary read buffers held at once per round (per rank).
constexpr int64_t kReadBudgetBytes = 256 << 20;
// Verified pieces are read in slabs of about this size, each hashed as soon as it is read.
constexpr int64_t kHashSlabBytes = 2 << 20;

struct ValueJob {
  const LeafMetadata* stored = nullptr;
  Leaf* target = nullptr;
};

using base::ShapeString;

std::string JoinKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size() && i < 20; ++i) out += (i ? ", '" : "'") + keys[i] + "'";
  if (keys.size() > 20) out += " and " + std::to_string(keys.size() - 20) + " more";
  return out;
}

Status CheckCast(const std::string& key, DType stored, DType target,
                 const RestoreOptions& options) {
  if (stored == target) return OkStatus();
  const std::string from(DTypeName(stored)), to(DTypeName(target));
  if (!options.allow_cast && !options.allow_lossy_cast) {
    return InvalidArgumentError("key path '" + key + "': stored dtype " + from +
                                " differs from the target dtype " + to +
                                "; set allow_cast to cast (or allow_lossy_cast for lossy casts)");
  }
  if (!options.allow_lossy_cast && !base::IsExactCast(stored, target)) {
    return InvalidArgumentError("key path '" + key + "': casting " + from + " to " + to +
                                " may lose information; set allow_lossy_cast to allow it");
  }
  return OkStatus();
}

Status MatchArray(const std::string& key, const LeafMetadata& stored, DistributedArray& target,
                  const RestoreOptions& options) {
  if (stored.global_shape.size() != target.global_shape.size()) {
    return InvalidArgumentError("key path '" + key + "': target has rank " +
                                std::to_string(target.global_shape.size()) + " (shape " +
                                ShapeString(target.global_shape) + ") but the stored array has " +
                                "rank " + std::to_string(stored.global_shape.size()) + " (shape " +
                                ShapeString(stored.global_shape) + ")");
  }
  if (stored.global_shape != target.global_shape && !options.array.enable_padding_and_truncation) {
    return InvalidArgumentError("key path '" + key + "': target global shape " +
                                ShapeString(target.global_shape) + " differs from the stored " +
                                ShapeString(stored.global_shape) +
                                "; set enable_padding_and_truncation to pad/truncate");
  }
  CAIRN_RETURN_IF_ERROR(CheckCast(key, stored.dtype, target.dtype, options));
  for (const Piece& p : target.pieces) {
    if (!base::WithinShape(p.box, target.global_shape)) {
      return InvalidArgumentError("key path '" + key + "': target piece " + p.box.ToString() +
                                  " does not lie within the global shape " +
                                  ShapeString(target.global_shape));
    }
    if (p.box.NumElements() > 0) {
      if (!p.data) {
        return InvalidArgumentError("key path '" + key + "': target piece " + p.box.ToString() +
                                    " has no data pointer");
      }
      if (!IsDeviceMemory(p.data)) {
        CAIRN_RETURN_IF_ERROR(CheckHostMemory(p.data, "key path '" + key + "'"));
      }
    }
  }
  return OkStatus();
}

// Matches the target tree of one item against its metadata; fills jobs and the report.
Status MatchItem(const std::string& item, const fs::path& dir, const ItemMetadata& meta,
                 Tree& target, const RestoreOptions& options, std::vector<ArrayJob>& arrays,
                 std::vector<ValueJob>& values, RestoreReport& report) {
  std::map<std::string, const LeafMetadata*> stored;
  for (const auto& leaf : meta.leaves) stored[KeyPathString(leaf.key_path)] = &leaf;
  std::set<std::string> seen;
  std::vector<std::string> missing;
  Status st;
  target.ForEachLeaf([&](const KeyPath& path, Leaf& leaf) {
    if (!st.ok()) return;
    const std::string key = KeyPathString(path);
    auto it = stored.find(key);
    if (it == stored.end()) {
      missing.push_back(key);
      return;
    }
    seen.insert(key);
    const LeafMetadata& s = *it->second;
    const std::string kind(LeafKind(leaf));
    if (kind != s.kind) {
      st = InvalidArgumentError("key path '" + key + "': the checkpoint holds a " + s.kind +
                                " but the target has a " + kind);
      return;
    }
    if (auto* a = std::get_if<DistributedArray>(&leaf)) {
      st = MatchArray(key, s, *a, options);
      if (st.ok()) arrays.push_back({&s, a, key, {}});
    } else {
      if (auto* sc = std::get_if<Scalar>(&leaf)) {
        st = CheckCast(key, s.dtype, sc->dtype(), options);
        if (!st.ok()) return;
      }
      values.push_back({&s, &leaf});
    }
  });
  CAIRN_RETURN_IF_ERROR(st);
  std::vector<std::string> unexpected;
  if (!options.partial_load) {
    for (const auto& [key, leaf] : stored) {
      if (!seen.count(key)) unexpected.push_back(key);
    }
  }
  const std::string where = "checkpoint '" + dir.string() + "' item '" + item + "'";
  if (options.strict && !missing.empty()) {
    return NotFoundError(where + " has no key path(s) " + JoinKeys(missing) +
                         " that the target asks for");
  }
  if (options.strict && !unexpected.empty()) {
    return InvalidArgumentError(where + " holds key path(s) " + JoinKeys(unexpected) +
                                " that the target lacks; set partial_load to restore a subset");
  }
  const std::string prefix = item == "default" ? "" : item + "/";
  for (auto& k : missing) report.skipped_missing.push_back(prefix + k);
  for (auto& k : unexpected) report.skipped_unexpected.push_back(prefix + k);
  return OkStatus();
}

void ZeroFill(const Piece& piece, const Box& region, size_t elem) {
  auto* base = static_cast<unsigned char*>(piece.data);
  base::ForEachRun(piece.box, region, [&](int64_t off, int64_t len) {
    std::memset(base + off * static_cast<int64_t>(elem), 0, static_cast<size_t>(len) * elem);
  });
}

// Copies the part of `src` (a dense buffer for `src_box`, stored dtype) that falls into target
// piece `t`, casting if needed.
void Scatter(const void* src, const Box& src_box, DType stored, const Piece& t, DType target) {
  auto region = base::Intersect(src_box, t.box);
  if (!region) return;
  if (stored == target) {
    base::CopyRegion(src, src_box, t.data, t.box, *region, DTypeSize(stored));
    return;
  }
  const size_t n = static_cast<size_t>(region->NumElements());
  std::vector<unsigned char> dense(n * DTypeSize(stored)), cast(n * DTypeSize(target));
  base::CopyRegion(src, src_box, dense.data(), *region, *region, DTypeSize(stored));
  base::ConvertElements(stored, dense.data(), target, cast.data(), n);
  base::CopyRegion(cast.data(), *region, t.data, t.box, *region, DTypeSize(target));
}

// Reads every array of one item, in rounds that bound temporary memory. Collective.
// With a read limit, a unit whose temporary buffer would not fit is read through one slab buffer
// of at most the limit: each slab is hashed and scattered into the targets as soon as it lands,
// and the buffer is reused for the next (backends call on_filled before filling the next
// request). A checksum mismatch is then found after the targets were written.
bool Streams(const coord::ReadUnit& unit, int64_t budget, bool limited) {
  return limited && !unit.direct && !unit.box.shape.empty() && unit.temp_bytes > budget;
}

Status ReadItem(Communicator& comm, const BackendContext& ctx, Backend& backend,
                std::vector<ArrayJob>& jobs, std::optional<int64_t> read_limit,
                int64_t* peak_bytes, int64_t* bytes_read) {
  const bool limited = read_limit.has_value();
  const int64_t budget = read_limit.value_or(kReadBudgetBytes);
  // Rows per slab of a unit (hash slabs; read-limit slabs when streamed).
  auto slab_rows = [&](const ArrayJob& job, const coord::ReadUnit& unit) {
    const size_t elem = DTypeSize(job.stored->dtype);
    const int64_t row_bytes =
        unit.box.NumElements() / std::max<int64_t>(unit.box.shape[0], 1) * elem;
    const bool streamed = Streams(unit, budget, limited);
    const int64_t target = streamed ? std::min<int64_t>(budget, kHashSlabBytes) : kHashSlabBytes;
    int64_t rows = std::max<int64_t>(1, target / std::max<int64_t>(row_bytes, 1));
    // Chunked (e.g. compressed) data is decoded a whole chunk at a time: slab boundaries fall
    // on chunk boundaries so that no chunk is decoded twice (unless that breaks the limit).
    if (const auto& chunk = job.stored->chunk_shape; chunk && !chunk->empty()) {
      const int64_t c0 = std::max<int64_t>((*chunk)[0], 1);
      const int64_t rounded = (rows + c0 - 1) / c0 * c0;
      if (!streamed || rounded * row_bytes <= budget) rows = rounded;
    }
    return std::pair<int64_t, int64_t>(rows, row_bytes);
  };
  auto need_of = [&](const ArrayJob& job, const coord::ReadUnit& unit) -> int64_t {
    if (!Streams(unit, budget, limited)) return unit.temp_bytes;
    auto [rows, row_bytes] = slab_rows(job, unit);
    return std::min<int64_t>(rows, unit.box.shape[0]) * row_bytes;
  };
  // (job, unit) pairs split into batches.
  std::vector<std::vector<std::pair<size_t, size_t>>> batches(1);
  int64_t used = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    for (size_t u = 0; u < jobs[j].plan.units.size(); ++u) {
      const int64_t need = need_of(jobs[j], jobs[j].plan.units[u]);
      if (used > 0 && used + need > budget) {
        batches.emplace_back();
        used = 0;
      }
      batches.back().push_back({j, u});
      used += need;
    }
  }
  std::vector<int64_t> rounds = {static_cast<int64_t>(batches.size())};
  CAIRN_RETURN_IF_ERROR(comm.AllReduceMax(rounds));
  Status local;
  for (int64_t r = 0; r < rounds[0]; ++r) {
    std::vector<ReadLeaf> leaves;
    std::map<size_t, size_t> leaf_of_job;
    std::vector<std::vector<unsigned char>> temps;
    std::vector<std::pair<size_t, size_t>> batch;
    if (local.ok() && r < static_cast<int64_t>(batches.size())) batch = batches[r];
    temps.reserve(batch.size());
    std::vector<const void*> data_of(batch.size());
    std::vector<std::unique_ptr<base::Xxh3Stream>> streams(batch.size());
    int64_t round_bytes = 0;
    for (size_t b = 0; b < batch.size(); ++b) {
      auto [j, u] = batch[b];
      const ArrayJob& job = jobs[j];
      const coord::ReadUnit& unit = job.plan.units[u];
      auto [it, fresh] = leaf_of_job.emplace(j, leaves.size());
      if (fresh) {
        ReadLeaf leaf;
        leaf.key_path = job.key;
        for (const auto& s : job.stored->key_path) leaf.segments.push_back(s.key);
        leaf.dtype = job.stored->dtype;
        leaf.global_shape = job.stored->global_shape;
        leaves.push_back(std::move(leaf));
      }
      const bool streamed = Streams(unit, budget, limited);
      void* dest = unit.direct;
      if (!dest) {
        temps.emplace_back(static_cast<size_t>(need_of(job, unit)));
        dest = temps.back().data();
      }
      round_bytes += static_cast<int64_t>(dest == unit.direct ? 0 : temps.back().size());
      data_of[b] = dest;
      const PieceMetadata& sp = job.stored->pieces[unit.stored_piece];
      auto& requests = leaves[it->second].requests;
      if (streamed) {
        if (unit.verify) streams[b] = std::make_unique<base::Xxh3Stream>();
        auto [rows_per_slab, row_bytes] = slab_rows(job, unit);
        const int64_t g0 = unit.box.origin[0], g_end = g0 + unit.box.shape[0];
        for (int64_t g = g0; g < g_end;) {
          const int64_t next = std::min(g_end, (g / rows_per_slab + 1) * rows_per_slab);
          Box slab = unit.box;
          slab.origin[0] = g;
          slab.shape[0] = next - g;
          g = next;
          const size_t slab_bytes = static_cast<size_t>(slab.shape[0] * row_bytes);
          requests.push_back({slab, dest, sp.box, &sp.location,
                              [s = streams[b].get(), dest, slab, slab_bytes, &job, &unit] {
                                if (s) s->Update(dest, slab_bytes);
                                for (size_t t : unit.targets) {
                                  Scatter(dest, slab, job.stored->dtype, job.local.pieces[t],
                                          job.local.dtype);
                                }
                              }});
        }
        continue;
      }
      if (!unit.verify) {
        requests.push_back({unit.box, dest, sp.box, &sp.location, nullptr});
        continue;
      }
      // Read in slabs of whole rows and hash each right after it lands, while it is still in
      // the CPU caches: hashing then costs a fraction of a second pass over memory.
      auto& stream = streams[b] = std::make_unique<base::Xxh3Stream>();
      const size_t elem = DTypeSize(job.stored->dtype);
      if (unit.box.shape.empty()) {
        requests.push_back({unit.box, dest, sp.box, &sp.location,
                            [s = stream.get(), dest, elem] { s->Update(dest, elem); }});
        continue;
      }
      auto [rows_per_slab, row_bytes] = slab_rows(job, unit);
      const int64_t g0 = unit.box.origin[0], g_end = g0 + unit.box.shape[0];
      for (int64_t g = g0; g < g_end;) {
        const int64_t next = std::min(g_end, (g / rows_per_slab + 1) * rows_per_slab);
        const int64_t r0 = g - g0;
        Box slab = unit.box;
        slab.origin[0] = g;
        slab.shape[0] = next - g;
        g = next;
        auto* slab_dest = static_cast<unsigned char*>(dest) + r0 * row_bytes;
        const size_t slab_bytes = static_cast<size_t>(slab.shape[0] * row_bytes);
        requests.push_back(
            {slab, slab_dest, sp.box, &sp.location,
             [s = stream.get(), slab_dest, slab_bytes] { s->Update(slab_dest, slab_bytes); }});
      }
    }
    if (peak_bytes != nullptr) *peak_bytes = std::max(*peak_bytes, round_bytes);
    for (const auto& [j, u] : batch) {
      *bytes_read += jobs[j].plan.units[u].box.NumElements() *
                     static_cast<int64_t>(DTypeSize(jobs[j].stored->dtype));
    }
    Status st = backend.Read(ctx, leaves);
    if (local.ok()) local = st;
    if (!local.ok()) continue;
    for (size_t b = 0; b < batch.size() && local.ok(); ++b) {
      auto [j, u] = batch[b];
      const ArrayJob& job = jobs[j];
      const coord::ReadUnit& unit = job.plan.units[u];
      const PieceMetadata& sp = job.stored->pieces[unit.stored_piece];
      if (unit.verify) {
        const uint64_t sum = streams[b]->Digest();
        if (sum != sp.xxh3) {
          local = DataLossError(
              "key path '" + job.key + "': checksum mismatch in stored piece " + sp.box.ToString() +
              " (written by rank " + std::to_string(sp.writer_rank) + ") of item directory '" +
              ctx.item_dir.string() + "': stored xxh3 " + base::ChecksumToHex(sp.xxh3) + ", read " +
              base::ChecksumToHex(sum));
          break;
        }
      }
      if (unit.direct || Streams(unit, budget, limited)) continue;  // streamed: scattered already
      for (size_t t : unit.targets) {
        Scatter(data_of[b], unit.box, job.stored->dtype, job.local.pieces[t], job.local.dtype);
      }
    }
  }
  if (!local.ok()) return local;
  for (ArrayJob& job : jobs) {
    for (const auto& [t, region] : job.plan.zero_fill) {
      ZeroFill(job.local.pieces[t], region, DTypeSize(job.local.dtype));
    }
  }
  return OkStatus();
}

Status AssignValue(const ValueJob& job) {
  const Leaf& stored = *job.stored->value;
  if (auto* target = std::get_if<Scalar>(job.target)) {
    const auto& s = std::get<Scalar>(stored);
    if (s.dtype() == target->dtype()) {
      *target = s;
    } else {
      uint64_t bits = 0, out = 0;
      bits = s.bits();
      base::ConvertElements(s.dtype(), &bits, target->dtype(), &out, 1);
      *target = Scalar::FromBits(target->dtype(), out);
    }
  } else {
    *job.target = stored;
  }
  return OkStatus();
}

}  // namespace

Result<RestoreReport> RestoreTreeItems(Communicator& comm, int primary,
                                       const std::vector<TreeTarget>& targets,
                                       const RestoreOptions& options,
                                       const MemoryOptions* memory, int timeout_secs) {
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, CheckImplemented(options)));
  // Phase 0: every rank must ask for the same items (each item is a collective read).
  {
    std::string names;
    for (const TreeTarget& t : targets) names += t.item_dir.string() + "\n";
    auto all = comm.AllGather(names);
    Status st = all.status();
    if (st.ok()) {
      for (size_t r = 0; r < all->size(); ++r) {
        if ((*all)[r] != (*all)[0]) {
          st = InvalidArgumentError("ranks restore different items: rank " + std::to_string(r) +
                                    " asks for a different set of items than rank 0");
          break;
        }
      }
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
  }
  // Phase 1: the primary reads the metadata; everyone decodes the same text.
  std::string payload;
  if (comm.rank() == primary) {
    Status st = [&]() -> Status {
      if (targets.empty()) return InvalidArgumentError("nothing to restore: no items");
      // Decoded here (an Orbax item is described from its database), re-encoded and
      // length-prefixed in target order; a corrupt file fails here, on every rank.
      for (const TreeTarget& t : targets) {
        const fs::path path = coord::ItemMetadataPath(t.item_dir);
        std::error_code ec;
        if (!fs::exists(path, ec)) {
          return NotFoundError("item '" + t.label + "' has no tree metadata '" + path.string() +
                               "' (not a tree item, or an incomplete checkpoint)");
        }
        CAIRN_ASSIGN_OR_RETURN(ItemMetadata m, coord::LoadItemMetadata(t.item_dir));
        const std::string text = format::EncodeItemMetadata(m);
        payload += std::to_string(text.size()) + "\n" + text;
      }
      return OkStatus();
    }();
    if (!st.ok()) payload.clear();
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
  } else {
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, OkStatus()));
  }
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, comm.Broadcast(payload, primary)));

  // Phase 2 (local): decode, match, plan.
  std::vector<ItemMetadata> metas(targets.size());
  std::vector<std::vector<ArrayJob>> arrays(targets.size());
  std::vector<ValueJob> values;
  RestoreReport report;
  Status st = [&]() -> Status {
    size_t pos = 0;
    for (size_t k = 0; k < targets.size(); ++k) {
      const TreeTarget& t = targets[k];
      const std::string source = coord::ItemMetadataPath(t.item_dir).string();
      const size_t eol = payload.find('\n', pos);
      if (eol == std::string::npos)
        return InternalError("metadata of item '" + t.label + "' was not broadcast");
      const size_t len = std::stoull(payload.substr(pos, eol - pos));
      if (eol + 1 + len > payload.size()) return InternalError("truncated metadata broadcast");
      const std::string_view text(payload.data() + eol + 1, len);
      pos = eol + 1 + len;
      CAIRN_ASSIGN_OR_RETURN(metas[k], format::DecodeItemMetadata(text, source));
      CAIRN_RETURN_IF_ERROR(MatchItem(t.label, t.item_dir.parent_path(), metas[k], *t.tree, options,
                                      arrays[k], values, report));
      for (ArrayJob& job : arrays[k]) job.received.assign(job.target->pieces.size(), false);
    }
    return OkStatus();
  }();
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));

  // Phase 2b (collective, load-and-broadcast only): which replicated pieces this rank receives
  // instead of reading.
  std::vector<BroadcastEntry> broadcasts;
  if (options.array.use_load_and_broadcast && comm.size() > 1) {
    CAIRN_ASSIGN_OR_RETURN(broadcasts, PlanBroadcasts(comm, arrays, options));
  }
  // Phase 2c (local): plan the reads of what this rank reads itself.
  st = [&]() -> Status {
    CAIRN_RETURN_IF_ERROR(PrepareLocalTargets(arrays));
    for (auto& jobs : arrays) {
      for (ArrayJob& job : jobs) {
        CAIRN_ASSIGN_OR_RETURN(job.plan, coord::PlanLeafReads(*job.stored, job.local, options));
      }
    }
    return OkStatus();
  }();
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));

  // Phase 3: read arrays, item by item (collective per item), after the storage I/O of other
  // checkpointers' saves started earlier in this process.
  auto turn = IoTurn::Take("restore of '" + targets.front().item_dir.parent_path().string() + "'");
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, turn->Wait(std::chrono::seconds(timeout_secs))));
  for (size_t k = 0; k < targets.size(); ++k) {
    auto backend = MakeBackend(metas[k].backend);
    st = backend.status();
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(
        comm, st.WithContext("checkpoint '" + targets[k].item_dir.parent_path().string() +
                             "' item '" + targets[k].label + "'")));
    BackendContext ctx{&comm, targets[k].item_dir, primary, std::nullopt};
    st = ReadItem(comm, ctx, **backend, arrays[k],
                  memory ? memory->read_concurrent_bytes : std::nullopt, &report.peak_buffer_bytes,
                  &report.bytes_read);
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
  }
  turn->Release();
  // Device pieces read through host buffers go to the device before they are broadcast.
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, CopyShadowsToDevice(arrays)));
  if (!broadcasts.empty() || (options.array.use_load_and_broadcast && comm.size() > 1)) {
    CAIRN_RETURN_IF_ERROR(RunBroadcasts(comm, arrays, broadcasts, options, report));
  }

  // Phase 4: scalars, strings, JSON.
  for (const ValueJob& job : values) CAIRN_RETURN_IF_ERROR(AssignValue(job));
  return report;
}

}  // namespace cairn::checkpoint
