// Save: validate and describe locally, agree, gather what every rank holds, create the temporary
// directory, write every item through its backend, collect checksums, commit. Every phase ends
// with AgreeOnStatus so that all ranks return the same Status and none is left inside MPI.
#include <chrono>
#include <map>
#include <memory>

#include "base/box_ops.h"
#include "base/checksum.h"
#include "base/convert.h"
#include "base/fs.h"
#include "cairn/backend.h"
#include "checkpoint/impl.h"
#include "coord/commit.h"
#include "coord/save_plan.h"
#include "format/metadata_json.h"

namespace cairn::checkpoint {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Seconds spent per phase on this rank, for `_CHECKPOINT_METADATA.performance_metrics`.
class PhaseTimer {
 public:
  void Mark(const std::string& phase) {
    const auto now = std::chrono::steady_clock::now();
    const double secs = std::chrono::duration<double>(now - last_).count();
    metrics_[phase] = metrics_.value(phase, 0.0) + secs;
    last_ = now;
  }
  const json& metrics() const { return metrics_; }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  json metrics_ = json::object();
};

// What one item needs between phases.
struct ItemState {
  std::string name;
  std::vector<const Leaf*> leaves;  // local leaves, in descriptor order
  std::vector<coord::LeafDescriptor> mine;
  std::vector<std::vector<coord::LeafDescriptor>> all;
  std::vector<std::vector<coord::PlannedPiece>> plans;  // per leaf (arrays only)
  std::vector<std::optional<Shape>> chunks;
  std::vector<bool> compressed;
  // Per leaf, per planned piece written by this rank: checksum and location.
  std::vector<std::map<size_t, std::pair<uint64_t, json>>> written;
};

}  // namespace

Status ValidateItemName(const std::string& name) {
  if (name.empty() || name[0] == '_' || name[0] == '.' || name.find('/') != std::string::npos) {
    return InvalidArgumentError(
        "item name '" + name +
        "' must be non-empty, not start with '_' or '.', and contain no '/'");
  }
  return OkStatus();
}

namespace {

// Packs (and casts) the part `box` of a local piece into stored-dtype bytes. Returns a pointer
// to the caller's memory when no copy is needed.
const void* PreparePiece(const DistributedArray& a, const Piece& src, const Box& box, DType stored,
                         std::vector<unsigned char>& owned) {
  const bool whole = box == src.box;
  if (whole && stored == a.dtype) return src.data;
  const size_t n = static_cast<size_t>(box.NumElements());
  std::vector<unsigned char> packed;
  const void* source = src.data;
  if (!whole) {
    packed.resize(n * DTypeSize(a.dtype));
    base::CopyRegion(src.data, src.box, packed.data(), box, box, DTypeSize(a.dtype));
    source = packed.data();
  }
  if (stored == a.dtype) {
    owned = std::move(packed);
  } else {
    owned.resize(n * DTypeSize(stored));
    base::ConvertElements(a.dtype, source, stored, owned.data(), n);
  }
  return owned.data();
}

Status WriteItem(Communicator& comm, const BackendContext& ctx, Backend& backend,
                 const SaveOptions& options, ItemState& item, PhaseTimer& timer) {
  const int me = comm.rank();
  const size_t nleaves = item.mine.size();
  item.plans.resize(nleaves);
  item.chunks.resize(nleaves);
  item.compressed.assign(nleaves, false);
  item.written.resize(nleaves);
  std::vector<WriteLeaf> leaves;
  std::vector<size_t> leaf_index;               // WriteLeaf -> descriptor index
  std::vector<std::vector<size_t>> plan_index;  // WriteLeaf -> my planned piece indices
  std::vector<std::unique_ptr<std::vector<unsigned char>>> owned;
  for (size_t i = 0; i < nleaves; ++i) {
    const coord::LeafDescriptor& d = item.mine[i];
    if (d.kind != "array") continue;
    item.plans[i] = coord::PlanWrites(item.all, i);
    const bool can_chunk = !d.global_shape.empty() && base::NumElements(d.global_shape) > 0;
    item.chunks[i] =
        coord::ChooseChunkShape(d, options.array.use_compression && can_chunk, item.plans[i]);
    item.compressed[i] = options.array.use_compression && item.chunks[i].has_value();
    WriteLeaf w;
    w.key_path = KeyPathString(d.key_path);
    for (const auto& s : d.key_path) w.segments.push_back(s.key);
    w.dtype = d.stored_dtype;
    w.global_shape = d.global_shape;
    w.chunk_shape = item.chunks[i];
    w.compress = item.compressed[i];
    w.compression_level = options.array.compression_level;
    std::vector<int> per_rank(comm.size(), 0);
    std::vector<size_t> mine;
    const auto& array = std::get<DistributedArray>(*item.leaves[i]);
    for (size_t p = 0; p < item.plans[i].size(); ++p) {
      const coord::PlannedPiece& pp = item.plans[i][p];
      ++per_rank[pp.rank];
      if (pp.rank != me) continue;
      auto buf = std::make_unique<std::vector<unsigned char>>();
      const void* data =
          PreparePiece(array, array.pieces[pp.local_piece], pp.box, d.stored_dtype, *buf);
      const size_t bytes = static_cast<size_t>(pp.box.NumElements()) * DTypeSize(d.stored_dtype);
      item.written[i][p] = {base::Xxh3(data, bytes), json()};
      w.pieces.push_back({pp.box, data});
      mine.push_back(p);
      owned.push_back(std::move(buf));
    }
    w.max_pieces_per_rank = *std::max_element(per_rank.begin(), per_rank.end());
    leaves.push_back(std::move(w));
    leaf_index.push_back(i);
    plan_index.push_back(std::move(mine));
  }
  timer.Mark("prepare_secs");
  auto locations = backend.Write(ctx, leaves);
  timer.Mark("backend_write_secs");
  Status st = locations.status();
  if (st.ok()) {
    for (size_t k = 0; k < leaves.size() && k < locations->size(); ++k) {
      for (size_t p = 0; p < plan_index[k].size() && p < (*locations)[k].size(); ++p) {
        item.written[leaf_index[k]][plan_index[k][p]].second = (*locations)[k][p];
      }
    }
  }
  return st.WithContext("item '" + item.name + "' (" + std::string(backend.name()) + " backend)");
}

// Builds `_METADATA` of an item from every rank's checksums and locations (primary only).
Result<ItemMetadata> AssembleMetadata(const ItemState& item, const std::vector<std::string>& all,
                                      size_t item_index, const std::string& backend_name) {
  // Collect [leaf][plan piece] -> (xxh3, location) from every rank.
  std::vector<std::map<size_t, std::pair<uint64_t, json>>> merged(item.mine.size());
  for (const std::string& text : all) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return InternalError("corrupt checksum exchange");
    try {
      for (const json& e : j.at(item_index)) {
        uint64_t sum = 0;
        base::ChecksumFromHex(e.at(2).get<std::string>(), &sum);
        const size_t leaf = e.at(0).get<size_t>();
        if (leaf >= merged.size()) return InternalError("corrupt checksum exchange");
        merged[leaf][e.at(1).get<size_t>()] = {sum, e.at(3)};
      }
    } catch (const json::exception& e) {
      return InternalError(std::string("corrupt checksum exchange: ") + e.what());
    }
  }
  ItemMetadata m;
  m.backend = backend_name;
  for (size_t i = 0; i < item.mine.size(); ++i) {
    const coord::LeafDescriptor& d = item.mine[i];
    LeafMetadata leaf;
    leaf.key_path = d.key_path;
    leaf.kind = d.kind;
    if (d.kind == "array") {
      leaf.dtype = d.stored_dtype;
      if (d.stored_dtype != d.dtype) leaf.source_dtype = d.dtype;
      leaf.global_shape = d.global_shape;
      leaf.chunk_shape = item.chunks[i];
      leaf.compressed = item.compressed[i];
      for (size_t p = 0; p < item.plans[i].size(); ++p) {
        auto it = merged[i].find(p);
        if (it == merged[i].end()) {
          return InternalError("no checksum received for piece " + item.plans[i][p].box.ToString() +
                               " of '" + KeyPathString(d.key_path) + "'");
        }
        leaf.pieces.push_back(
            {item.plans[i][p].box, it->second.first, item.plans[i][p].rank, it->second.second});
      }
    } else {
      leaf.value = *item.leaves[i];
      if (const auto* s = std::get_if<Scalar>(&*leaf.value)) leaf.dtype = s->dtype();
    }
    m.leaves.push_back(std::move(leaf));
  }
  return m;
}

}  // namespace

Status SaveTreeItem(const HandlerContext& hctx, const fs::path& item_dir, const std::string& label,
                    const Tree& tree, const SaveOptions& options) {
  Communicator& comm = *hctx.comm;
  const int primary = hctx.primary_host;
  const bool is_primary = comm.rank() == primary;
  const auto mode = hctx.path_permission_mode;
  PhaseTimer timer;

  // Phase 1 (local): validate and describe.
  ItemState item;
  item.name = label;
  std::unique_ptr<Backend> backend;
  Status st = [&]() -> Status {
    CAIRN_RETURN_IF_ERROR(CheckImplemented(options));
    if (options.array.compression_level < -131072 || options.array.compression_level > 22) {
      return InvalidArgumentError("compression_level " +
                                  std::to_string(options.array.compression_level) +
                                  " is outside zstd's range [-131072, 22]");
    }
    CAIRN_ASSIGN_OR_RETURN(backend, MakeBackend(options.backend));
    tree.ForEachLeaf([&](const KeyPath&, const Leaf& leaf) { item.leaves.push_back(&leaf); });
    CAIRN_ASSIGN_OR_RETURN(item.mine, coord::DescribeTree(tree, options.array));
    return OkStatus();
  }();
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st.WithContext("item '" + label + "'")));
  timer.Mark("validate_secs");

  // Phase 2: gather descriptors (identical checks on every rank).
  {
    auto all = coord::GatherDescriptors(comm, item.mine);
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, all.status().WithContext("item '" + label + "'")));
    item.all = std::move(all).value();
  }
  timer.Mark("gather_secs");

  // Phase 3: write.
  BackendContext ctx{&comm, item_dir, primary, mode};
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, WriteItem(comm, ctx, *backend, options, item, timer)));

  // Phase 4: checksums and locations to the primary, which writes `_METADATA`.
  json entries = json::array();
  for (size_t i = 0; i < item.written.size(); ++i) {
    for (const auto& [p, sum_loc] : item.written[i]) {
      entries.push_back({i, p, base::ChecksumToHex(sum_loc.first), sum_loc.second});
    }
  }
  json mine = json::array({std::move(entries)});
  auto gathered = comm.AllGather(mine.dump());
  timer.Mark("exchange_checksums_secs");
  st = gathered.status();
  if (st.ok() && is_primary) {
    st = [&]() -> Status {
      CAIRN_ASSIGN_OR_RETURN(ItemMetadata m, AssembleMetadata(item, *gathered, 0, options.backend));
      return base::WriteFileDurably(item_dir / coord::kItemMetadataFile,
                                    format::EncodeItemMetadata(m), mode);
    }();
  }
  timer.Mark("write_metadata_secs");
  if (hctx.performance_metrics != nullptr) {
    for (const auto& [phase, secs] : timer.metrics().items()) {
      (*hctx.performance_metrics)[phase] =
          hctx.performance_metrics->value(phase, 0.0) + secs.get<double>();
    }
  }
  return AgreeOnStatus(comm, st);
}

Status SaveStep(Communicator& comm, const CheckpointerOptions& opts, const fs::path& directory,
                const std::vector<StepItem>& items, const SaveOptions& options) {
  const int64_t init_ts = coord::NowNanos();
  const int primary = opts.multiprocessing.primary_host;
  const bool is_primary = comm.rank() == primary;
  const auto mode = opts.file.path_permission_mode;
  json perf = json::object();
  PhaseTimer timer;

  // Phase 1 (local): the step's own arguments.
  Status st = [&]() -> Status {
    if (items.empty()) return InvalidArgumentError("nothing to save: no items");
    if (directory.empty()) return InvalidArgumentError("empty checkpoint directory path");
    for (const StepItem& item : items) {
      CAIRN_RETURN_IF_ERROR(ValidateItemName(item.name));
      if (item.handler == nullptr || item.args == nullptr) {
        return InternalError("item '" + item.name + "' has no handler");
      }
    }
    return OkStatus();
  }();
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));

  // Phase 2: the primary creates the temporary directory.
  std::string tmp;
  if (is_primary) {
    std::vector<std::string> names;
    for (const auto& item : items) names.push_back(item.name);
    auto created = coord::CreateTemporaryCheckpoint(directory, names, mode);
    st = created.status();
    if (created.ok()) tmp = created->string();
  }
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, comm.Broadcast(tmp, primary)));
  const fs::path tmp_dir(tmp);
  timer.Mark("create_directory_secs");
  auto fail = [&](Status s) {
    if (is_primary) coord::AbandonTemporaryCheckpoint(tmp_dir);
    return s;
  };

  // Phase 3: every item through its handler (each call is collective and agreed).
  HandlerContext hctx{&comm, primary, mode, &options, nullptr, &perf};
  for (const StepItem& item : items) {
    st = item.handler->Save(hctx, tmp_dir / item.name, *item.args);
    // Handlers agree on their outcome; agreeing again costs one allreduce and guards against a
    // user handler that forgot to.
    st = AgreeOnStatus(
        comm, st.WithContext("item '" + item.name + "' (" + item.handler->TypeName() + ")"));
    if (!st.ok()) return fail(st);
  }
  timer.Mark("items_secs");

  // Phase 4: step metadata and commit.
  if (is_primary) {
    st = [&]() -> Status {
      CheckpointMetadata cm;
      for (const StepItem& item : items) cm.item_handlers[item.name] = item.handler->TypeName();
      cm.metrics = options.metrics;
      cm.performance_metrics = perf;
      cm.performance_metrics["create_directory_secs"] =
          timer.metrics().value("create_directory_secs", 0.0);
      cm.custom_metadata = options.custom_metadata;
      cm.init_timestamp_nsecs = init_ts;
      cm.commit_timestamp_nsecs = coord::NowNanos();
      CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(tmp_dir / coord::kCheckpointMetadataFile,
                                                   format::EncodeCheckpointMetadata(cm), mode));
      return coord::CommitCheckpoint(tmp_dir, directory, mode);
    }();
  }
  st = AgreeOnStatus(comm, st);
  if (!st.ok()) return fail(st);
  return OkStatus();
}

}  // namespace cairn::checkpoint
