// Saving a tree item, in two halves. Stage (calling thread, collective): validate, agree, gather
// every rank's descriptors, plan who writes which box, and (for an async save) copy this rank's
// boxes into staging buffers within the memory budget. Write (the background thread for an async
// save, collective): the backend pulls each box's bytes as it writes them (copying deferred boxes
// only then, and releasing each buffer right after), checksums are exchanged and the primary
// writes `_METADATA`. A synchronous save runs both halves back to back, reading the caller's
// memory directly where no cast or packing is needed.
#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "base/box_ops.h"
#include "base/checksum.h"
#include "base/convert.h"
#include "base/fs.h"
#include "cairn/backend.h"
#include "checkpoint/device_memory.h"
#include "checkpoint/impl.h"
#include "checkpoint/phase_timer.h"
#include "checkpoint/staging.h"
#include "coord/commit.h"
#include "coord/save_plan.h"
#include "format/metadata_json.h"

namespace cairn::checkpoint {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// What one item needs between phases. Leaves are copies (arrays: their pieces still point at the
// caller's memory), so the caller's tree is not read after Stage except for deferred boxes.
struct ItemState {
  std::string name;
  std::vector<Leaf> leaves;  // local leaves, in descriptor order
  std::vector<coord::LeafDescriptor> mine;
  std::vector<std::vector<coord::LeafDescriptor>> all;
  std::vector<std::vector<coord::PlannedPiece>> plans;  // per leaf (arrays only)
  std::vector<std::optional<Shape>> chunks;
  std::vector<bool> compressed;
  // Per leaf, per planned piece written by this rank: checksum and location.
  std::vector<std::map<size_t, std::pair<uint64_t, json>>> written;
};

// One box this rank writes, and where its bytes come from.
struct PieceJob {
  enum class State { kDirect, kStaged, kDeferred };
  size_t leaf = 0;  // descriptor index
  size_t plan = 0;  // planned piece index
  const Piece* src = nullptr;
  Box box;
  DType from = DType::kFloat32, to = DType::kFloat32;
  size_t bytes = 0;
  bool device = false;
  bool pinned = false;
  State state = State::kDeferred;
  const void* direct = nullptr;  // kDirect: the caller's bytes
  StagingArena::Buffer buffer;   // kStaged, or kDeferred while acquired
  uint64_t checksum = 0;
};

// Byte offset of `box` inside `src` when the box is one contiguous run of src's C-order
// elements (leading extents 1, then one partial extent, then full extents).
std::optional<size_t> ContiguousOffset(const Box& src, const Box& box, size_t elem) {
  const size_t rank = src.shape.size();
  size_t d = 0;
  while (d < rank && box.shape[d] == 1) ++d;
  for (size_t k = d + 1; k < rank; ++k) {
    if (box.shape[k] != src.shape[k]) return std::nullopt;
  }
  size_t offset = 0, stride = elem;
  for (size_t k = rank; k-- > 0;) {
    offset += static_cast<size_t>(box.origin[k] - src.origin[k]) * stride;
    stride *= static_cast<size_t>(src.shape[k]);
  }
  return offset;
}

// Produces a job's bytes (packed, cast to the stored dtype) into `dst`.
Status Fill(const PieceJob& j, void* dst) {
  const size_t elem = DTypeSize(j.from);
  const size_t n = static_cast<size_t>(j.box.NumElements());
  const auto offset = ContiguousOffset(j.src->box, j.box, elem);
  const char* base = static_cast<const char*>(j.src->data);
  if (offset && j.from == j.to) {
    if (j.device) return CopyDeviceToHost(dst, base + *offset, j.bytes);
    std::memcpy(dst, base + *offset, j.bytes);
    return OkStatus();
  }
  // Device memory with packing or a cast: the whole piece comes to host first.
  std::unique_ptr<char, decltype(&std::free)> host(nullptr, &std::free);
  if (j.device) {
    const size_t whole = static_cast<size_t>(j.src->box.NumElements()) * elem;
    host.reset(static_cast<char*>(std::malloc(std::max<size_t>(whole, 1))));
    if (!host) return ResourceExhaustedError("cannot allocate " + std::to_string(whole) + " bytes");
    CAIRN_RETURN_IF_ERROR(CopyDeviceToHost(host.get(), j.src->data, whole));
    base = host.get();
  }
  if (offset) {
    base::ConvertElements(j.from, base + *offset, j.to, dst, n);
  } else if (j.from == j.to) {
    base::CopyRegion(base, j.src->box, dst, j.box, j.box, elem);
  } else {
    std::vector<unsigned char> packed(n * elem);
    base::CopyRegion(base, j.src->box, packed.data(), j.box, j.box, elem);
    base::ConvertElements(j.from, packed.data(), j.to, dst, n);
  }
  return OkStatus();
}

// Builds `_METADATA` of an item from every rank's checksums and locations (primary only).
Result<ItemMetadata> AssembleMetadata(const ItemState& item, const std::vector<std::string>& all,
                                      const std::string& backend_name) {
  std::vector<std::map<size_t, std::pair<uint64_t, json>>> merged(item.mine.size());
  for (const std::string& text : all) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_array()) return InternalError("corrupt checksum exchange");
    try {
      for (const json& e : j) {
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
      leaf.value = item.leaves[i];
      if (const auto* s = std::get_if<Scalar>(&*leaf.value)) leaf.dtype = s->dtype();
    }
    m.leaves.push_back(std::move(leaf));
  }
  return m;
}

class TreeStagedSave final : public StagedSave {
 public:
  ~TreeStagedSave() override {
    for (PieceJob& j : jobs_) ReleaseBuffer(j);
  }

  Status Write(const HandlerContext& ctx, const fs::path& item_dir) override;

  void AwaitCallerMemoryReleased() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !await_deferred_ || deferred_left_ == 0 || finished_; });
  }

  std::string label_;
  SaveOptions options_;
  std::unique_ptr<Backend> backend_;
  ItemState item_;
  std::vector<PieceJob> jobs_;  // in write order (leaf, then planned piece)
  std::unique_ptr<StagingArena> own_arena_;
  StagingArena* arena_ = nullptr;
  bool await_deferred_ = false;
  size_t deferred_left_ = 0;
  json stage_metrics_ = json::object();
  std::vector<int64_t> bytes_per_rank_;  // array bytes each rank writes (replica-parallel shares)

 private:
  void ReleaseBuffer(PieceJob& j) {
    if (j.buffer.data != nullptr) arena_->Release(j.buffer);
    j.buffer = {};
  }
  Result<const void*> AcquireBytes(PieceJob& j);
  void Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
    }
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;
};

Result<const void*> TreeStagedSave::AcquireBytes(PieceJob& j) {
  const void* bytes = nullptr;
  switch (j.state) {
    case PieceJob::State::kDirect:
      bytes = j.direct;
      break;
    case PieceJob::State::kStaged:
      bytes = j.buffer.data;
      break;
    case PieceJob::State::kDeferred: {
      CAIRN_ASSIGN_OR_RETURN(j.buffer, arena_->Acquire(j.bytes, j.pinned));
      Status s = Fill(j, j.buffer.data);
      if (!s.ok()) {
        ReleaseBuffer(j);
        return s.WithContext("piece " + j.box.ToString());
      }
      bytes = j.buffer.data;
      std::lock_guard<std::mutex> lock(mu_);
      if (--deferred_left_ == 0) cv_.notify_all();
      break;
    }
  }
  // Checksums are computed here rather than while staging, to keep the caller's wait short.
  j.checksum = base::Xxh3(bytes, j.bytes);
  return bytes;
}

Status TreeStagedSave::Write(const HandlerContext& ctx, const fs::path& item_dir) {
  Communicator& comm = *ctx.comm;
  PhaseTimer timer;
  const size_t nleaves = item_.mine.size();
  std::vector<WriteLeaf> leaves;
  std::vector<size_t> leaf_index;  // WriteLeaf -> descriptor index
  std::vector<std::vector<PieceJob*>> leaf_jobs(nleaves);
  for (PieceJob& j : jobs_) leaf_jobs[j.leaf].push_back(&j);
  for (size_t i = 0; i < nleaves; ++i) {
    const coord::LeafDescriptor& d = item_.mine[i];
    if (d.kind != "array") continue;
    WriteLeaf w;
    w.key_path = KeyPathString(d.key_path);
    for (const auto& s : d.key_path) w.segments.push_back(s.key);
    w.dtype = d.stored_dtype;
    w.global_shape = d.global_shape;
    w.chunk_shape = item_.chunks[i];
    w.compress = item_.compressed[i];
    w.compression_level = options_.array.compression_level;
    std::vector<int> per_rank(comm.size(), 0);
    for (const coord::PlannedPiece& pp : item_.plans[i]) ++per_rank[pp.rank];
    w.max_pieces_per_rank = *std::max_element(per_rank.begin(), per_rank.end());
    for (PieceJob* j : leaf_jobs[i]) {
      WritePiece p;
      p.box = j->box;
      p.acquire = [this, j]() { return AcquireBytes(*j); };
      p.release = [this, j]() { ReleaseBuffer(*j); };
      w.pieces.push_back(std::move(p));
    }
    leaves.push_back(std::move(w));
    leaf_index.push_back(i);
  }
  const size_t num_arrays = leaves.size();
  // Scalars as 0-d leaves, for backends that store them too (their values stay in `_METADATA`).
  std::vector<uint64_t> scalar_bits(nleaves, 0);
  if (backend_->writes_scalars()) {
    for (size_t i = 0; i < nleaves; ++i) {
      const auto* scalar = std::get_if<Scalar>(&item_.leaves[i]);
      if (scalar == nullptr) continue;
      scalar_bits[i] = scalar->bits();  // little-endian: the value's bytes come first
      leaves.push_back(ScalarWriteLeaf(item_.mine[i].key_path, scalar->dtype(),
                                       options_.array.use_compression,
                                       options_.array.compression_level,
                                       comm.rank() == ctx.primary_host ? &scalar_bits[i] : nullptr));
    }
  }
  BackendContext bctx{&comm, item_dir, ctx.primary_host, ctx.path_permission_mode,
                      &options_.array};
  auto locations = backend_->Write(bctx, leaves);
  Finish();  // whatever happened, the caller's memory is no longer read
  for (PieceJob& j : jobs_) ReleaseBuffer(j);  // boxes never written (after a failure)
  timer.Mark("backend_write_secs");
  Status st = locations.status();
  if (st.ok()) {
    for (size_t k = 0; k < num_arrays && k < locations->size(); ++k) {
      const auto& js = leaf_jobs[leaf_index[k]];
      for (size_t p = 0; p < js.size() && p < (*locations)[k].size(); ++p) {
        item_.written[js[p]->leaf][js[p]->plan] = {js[p]->checksum, (*locations)[k][p]};
      }
    }
  }
  const std::string what = "item '" + label_ + "'";
  CAIRN_RETURN_IF_ERROR(AgreeInContext(
      ctx, st.WithContext(what + " (" + std::string(backend_->name()) + " backend)"),
      "write " + what));

  // Checksums and locations to the primary, which writes `_METADATA`.
  json entries = json::array();
  for (size_t i = 0; i < item_.written.size(); ++i) {
    for (const auto& [p, sum_loc] : item_.written[i]) {
      entries.push_back({i, p, base::ChecksumToHex(sum_loc.first), sum_loc.second});
    }
  }
  auto gathered = comm.AllGather(entries.dump());
  timer.Mark("exchange_checksums_secs");
  st = gathered.status();
  if (st.ok() && comm.rank() == ctx.primary_host) {
    st = [&]() -> Status {
      CAIRN_ASSIGN_OR_RETURN(ItemMetadata m, AssembleMetadata(item_, *gathered, options_.backend));
      CAIRN_RETURN_IF_ERROR(backend_->DescribeItem(bctx, m));
      return base::WriteFileDurably(item_dir / std::string(backend_->item_metadata_file()),
                                    format::EncodeItemMetadata(m), ctx.path_permission_mode);
    }();
  }
  timer.Mark("write_metadata_secs");
  if (ctx.performance_metrics != nullptr) {
    // Bytes each rank wrote, summed over the step's tree items.
    json& written = (*ctx.performance_metrics)["bytes_written_per_rank"];
    if (!written.is_array() || written.size() != bytes_per_rank_.size()) {
      written = json(std::vector<int64_t>(bytes_per_rank_.size(), 0));
    }
    for (size_t r = 0; r < bytes_per_rank_.size(); ++r) {
      written[r] = written[r].get<int64_t>() + bytes_per_rank_[r];
    }
    for (const auto& [phase, secs] : stage_metrics_.items()) {
      (*ctx.performance_metrics)[phase] =
          ctx.performance_metrics->value(phase, 0.0) + secs.get<double>();
    }
    timer.AddTo(ctx.performance_metrics);
  }
  return AgreeInContext(ctx, st.WithContext(what), "metadata of " + what);
}

}  // namespace

std::optional<int64_t> StagingBudget(const MemoryOptions& memory, const SaveOptions& options,
                                     bool async) {
  std::optional<int64_t> limit = memory.write_concurrent_bytes;
  if (async && memory.transfer_concurrent_bytes) {
    limit = limit ? std::min(*limit, *memory.transfer_concurrent_bytes)
                  : memory.transfer_concurrent_bytes;
  }
  // Compression (HDF5's chunk buffers and zstd's output) holds about three chunks per write; with
  // chunks of a twelfth of the staging budget that is a quarter of it: staging gets 4/5 of the
  // limit and the rest is left to the compressor.
  if (limit && options.array.use_compression) limit = std::max<int64_t>(*limit * 4 / 5, 1);
  return limit;
}

Status ValidateItemName(const std::string& name) {
  if (name.empty() || name[0] == '_' || name[0] == '.' || name.find('/') != std::string::npos) {
    return InvalidArgumentError(
        "item name '" + name +
        "' must be non-empty, not start with '_' or '.', and contain no '/'");
  }
  return OkStatus();
}

Result<std::unique_ptr<StagedSave>> StageTreeItem(const HandlerContext& ctx,
                                                  const std::string& label, const Tree& tree,
                                                  const SaveOptions& options, bool async) {
  Communicator& comm = *ctx.comm;
  const int me = comm.rank();
  PhaseTimer timer;
  auto staged = std::make_unique<TreeStagedSave>();
  TreeStagedSave& s = *staged;
  s.label_ = label;
  s.options_ = options;
  ItemState& item = s.item_;
  item.name = label;
  const std::string what = "item '" + label + "'";

  // Phase 1 (local): validate and describe.
  Status st = [&]() -> Status {
    CAIRN_RETURN_IF_ERROR(CheckImplemented(options));
    if (options.array.compression_level < -131072 || options.array.compression_level > 22) {
      return InvalidArgumentError("compression_level " +
                                  std::to_string(options.array.compression_level) +
                                  " is outside zstd's range [-131072, 22]");
    }
    CAIRN_ASSIGN_OR_RETURN(s.options_.backend, ResolveBackendName(options));
    CAIRN_ASSIGN_OR_RETURN(s.backend_, MakeBackend(s.options_.backend));
    tree.ForEachLeaf([&](const KeyPath&, const Leaf& leaf) { item.leaves.push_back(leaf); });
    CAIRN_ASSIGN_OR_RETURN(item.mine, coord::DescribeTree(tree, options.array));
    return OkStatus();
  }();
  CAIRN_RETURN_IF_ERROR(AgreeInContext(ctx, st.WithContext(what), "validate " + what));
  timer.Mark("validate_secs");

  // Phase 2: gather descriptors (identical checks on every rank).
  {
    auto all = coord::GatherDescriptors(comm, item.mine);
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, all.status().WithContext(what)));
    item.all = std::move(all).value();
  }
  timer.Mark("gather_secs");

  // Phase 3 (local, identical on every rank): who writes which box, in slabs within the budget.
  const std::optional<int64_t> budget =
      ctx.memory_options ? StagingBudget(*ctx.memory_options, options, async) : std::nullopt;
  // With a limit and compression, chunks (and the slabs written per call) are small enough that
  // the compressor's buffers fit in the part of the limit the staging budget leaves free (see
  // StagingBudget).
  std::optional<int64_t> max_chunk;
  if (budget && options.array.use_compression) max_chunk = std::max<int64_t>(*budget / 12, 1);
  const size_t nleaves = item.mine.size();
  item.plans.resize(nleaves);
  item.chunks.resize(nleaves);
  item.compressed.assign(nleaves, false);
  item.written.resize(nleaves);
  const auto& prioritized_fn =
      ctx.memory_options ? ctx.memory_options->is_prioritized_key_fn : nullptr;
  const bool pinned = options.array.enable_pinned_host_transfer.value_or(true);
  std::vector<bool> prioritized(nleaves, false);
  // Replica-parallel (on unless use_replica_parallel is false): replicated regions are shared
  // by their holders; `load` balances the writes over the ranks across the leaves.
  const coord::ReplicaParallel rp{
      .enabled = options.array.use_replica_parallel.value_or(true),
      .min_slice_bytes = options.array.min_slice_bytes_for_replica_parallel.value_or(0),
      .max_replicas = options.array.max_replicas_for_replica_parallel.value_or(0)};
  std::vector<int64_t> load(static_cast<size_t>(comm.size()), 0);
  for (size_t i = 0; i < nleaves; ++i) {
    const coord::LeafDescriptor& d = item.mine[i];
    if (d.kind != "array") continue;
    item.plans[i] = coord::PlanWrites(item.all, i, rp, &load);
    {
      const auto bytes = coord::BytesPerRank(item.plans[i], DTypeSize(d.stored_dtype), comm.size());
      s.bytes_per_rank_.resize(bytes.size(), 0);
      for (size_t r = 0; r < bytes.size(); ++r) s.bytes_per_rank_[r] += bytes[r];
    }
    // Slabs within the budget; with compression, within a chunk: parallel HDF5 holds the
    // compressed chunks of a whole write call at once.
    if (budget) {
      coord::SplitPlannedPieces(item.plans[i], DTypeSize(d.stored_dtype),
                                max_chunk ? *max_chunk : *budget);
    }
    const bool can_chunk = !d.global_shape.empty() && base::NumElements(d.global_shape) > 0;
    item.chunks[i] =
        coord::ChooseChunkShape(d, options.array.use_compression && can_chunk, item.plans[i],
                                max_chunk);
    item.compressed[i] = options.array.use_compression && item.chunks[i].has_value();
    prioritized[i] = async && prioritized_fn && prioritized_fn(d.key_path);
    const auto& array = std::get<DistributedArray>(item.leaves[i]);
    for (size_t p = 0; p < item.plans[i].size(); ++p) {
      const coord::PlannedPiece& pp = item.plans[i][p];
      if (pp.rank != me) continue;
      PieceJob j;
      j.leaf = i;
      j.plan = p;
      j.src = &array.pieces[pp.local_piece];
      j.box = pp.box;
      j.from = d.dtype;
      j.to = d.stored_dtype;
      j.bytes = static_cast<size_t>(pp.box.NumElements()) * DTypeSize(d.stored_dtype);
      j.device = IsDeviceMemory(j.src->data);
      j.pinned = j.device && pinned;
      s.jobs_.push_back(std::move(j));
    }
  }
  timer.Mark("plan_secs");

  // Phase 4 (local): where each box's bytes come from. Synchronous: the caller's memory when no
  // copy is needed, else a buffer filled when the backend asks. Async: prioritized keys are
  // copied now whatever the budget; the others as long as the budget allows, the rest later.
  if (ctx.staging != nullptr) {
    s.arena_ = ctx.staging;
  } else {
    s.own_arena_ = std::make_unique<StagingArena>();
    s.own_arena_->SetLimit(budget);
    s.arena_ = s.own_arena_.get();
  }
  st = [&]() -> Status {
    for (PieceJob& j : s.jobs_) {
      if (!async) {
        const auto offset = ContiguousOffset(j.src->box, j.box, DTypeSize(j.from));
        if (!j.device && offset && j.from == j.to) {
          j.state = PieceJob::State::kDirect;
          j.direct = static_cast<const char*>(j.src->data) + *offset;
        }
        continue;
      }
      std::optional<StagingArena::Buffer> buffer;
      if (prioritized[j.leaf]) {
        CAIRN_ASSIGN_OR_RETURN(buffer, s.arena_->AcquireUncounted(j.bytes, j.pinned));
      } else {
        CAIRN_ASSIGN_OR_RETURN(buffer, s.arena_->TryAcquire(j.bytes, j.pinned));
      }
      if (!buffer) continue;  // deferred
      j.buffer = *buffer;
      j.state = PieceJob::State::kStaged;
      CAIRN_RETURN_IF_ERROR(Fill(j, j.buffer.data)
                                .WithContext("key path '" + KeyPathString(item.mine[j.leaf].key_path) +
                                             "', piece " + j.box.ToString()));
    }
    return OkStatus();
  }();
  for (const PieceJob& j : s.jobs_) {
    if (j.state == PieceJob::State::kDeferred) ++s.deferred_left_;
  }
  s.await_deferred_ = async && !prioritized_fn;
  timer.Mark(async ? "stage_secs" : "prepare_secs");
  CAIRN_RETURN_IF_ERROR(AgreeInContext(ctx, st.WithContext(what), "stage " + what));
  s.stage_metrics_ = timer.metrics();
  return std::unique_ptr<StagedSave>(std::move(staged));
}

Status SaveTreeItem(const HandlerContext& ctx, const fs::path& item_dir, const std::string& label,
                    const Tree& tree, const SaveOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<StagedSave> staged,
                         StageTreeItem(ctx, label, tree, options, /*async=*/false));
  return staged->Write(ctx, item_dir);
}

}  // namespace cairn::checkpoint
