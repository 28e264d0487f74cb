// Write: an allgather of every rank's pieces gives each leaf's chunk grid (chunk_plan.h); each
// rank encodes the chunks its pieces hold whole into its own database, the parts of chunks that
// straddle pieces go to their owners (AllToAll in batches), the ranks agree, the primary merges.
// Read: independent per rank: one ReadView of the merged database, chunks fetched per request.
#include "storage/ocdbt/ocdbt_backend.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>

#include "base/box_ops.h"
#include "format/ocdbt/read_view.h"
#include "format/ocdbt/writer.h"
#include "format/ocdbt/zarr_encode.h"
#include "format/ocdbt/zarr_metadata.h"
#include "storage/ocdbt/chunk_plan.h"
#include "storage/ocdbt/merge.h"
#include "storage/ocdbt/orbax_files.h"
#include "storage/ocdbt/zarr_chunks.h"

namespace cairn::storage {
namespace {

using nlohmann::json;

ocdbt::ZarrArrayMetadata LeafMetadata(const WriteLeaf& leaf, std::vector<uint64_t> chunk) {
  std::vector<uint64_t> shape(leaf.global_shape.begin(), leaf.global_shape.end());
  ocdbt::ZarrArrayMetadata m =
      ocdbt::OrbaxZarrMetadata(leaf.dtype, std::move(shape), std::move(chunk), leaf.compress);
  if (leaf.compress) m.zstd_level = leaf.compression_level;
  return m;
}

// Exchanges of shared-chunk parts go in batches of leaves moving at most this much per rank
// (sent plus received), so a rank holds at most about this much of other ranks' data.
constexpr int64_t kExchangeBatchBytes = int64_t{256} << 20;

// Per leaf: the largest number of bytes any rank sends plus receives for its shared chunks.
int64_t ExchangeBytes(const WriteLeaf& leaf, std::span<const PlacedPiece> placed,
                      const ChunkPlan& plan, int ranks) {
  if (plan.shared.empty()) return 0;
  const int64_t elem = static_cast<int64_t>(DTypeSize(leaf.dtype));
  std::vector<int64_t> moved(static_cast<size_t>(ranks), 0);
  for (size_t k = 0; k < placed.size(); ++k) {
    for (size_t s : plan.touches[k]) {
      const int64_t n = base::Intersect(plan.shared[s].box, placed[k].box)->NumElements() * elem;
      moved[static_cast<size_t>(placed[k].rank)] += n;
      moved[static_cast<size_t>(plan.shared[s].owner)] += n;
    }
  }
  return *std::max_element(moved.begin(), moved.end());
}

// This rank's database: its chunks, and (on the primary) every leaf's zarr.json. Streams: each
// chunk goes to the data file as soon as it is encoded and each piece's bytes are released
// right after its chunks, so a rank holds one piece and one chunk's encoding at a time, plus a
// (key, file range) per chunk for the B+tree built at the end, plus the parts of shared chunks
// (chunk_plan.h) until their batch is exchanged. Collective: every rank takes part in every
// exchange even after a local failure (which it then reports, and the others skip the batch).
Status WriteProcessDatabase(const BackendContext& ctx, std::span<const WriteLeaf> leaves,
                            const std::vector<std::vector<PlacedPiece>>& placed,
                            const std::vector<ChunkPlan>& plans) {
  Communicator& comm = *ctx.comm;
  const int me = comm.rank();
  const size_t ranks = static_cast<size_t>(comm.size());
  const std::filesystem::path root = ctx.item_dir / ProcessDatabaseName(me);
  ocdbt::WriteOptions options;
  if (ctx.save_options != nullptr && ctx.save_options->ocdbt_target_data_file_size) {
    options.target_data_file_size =
        static_cast<uint64_t>(*ctx.save_options->ocdbt_target_data_file_size);
  }
  Status local = OkStatus();
  std::optional<ocdbt::DatabaseBuilder> db;
  {
    Result<ocdbt::DatabaseBuilder> created = ocdbt::DatabaseBuilder::Create(root, options);
    if (created.ok()) {
      db.emplace(std::move(*created));
    } else {
      local = created.status();
    }
  }
  std::vector<ocdbt::NewLeafEntry> entries;
  ChunkEncoder encoder;
  const ChunkSink sink = [&](std::string key, std::span<const std::string_view> parts) -> Status {
    CAIRN_ASSIGN_OR_RETURN(ocdbt::StoredValue value, db->AppendValue(parts));
    entries.push_back({.key = std::move(key), .value = std::move(value)});
    return OkStatus();
  };
  // Parts of shared chunks, per owner; byte 0 says whether the sender is still fine.
  std::vector<std::string> outgoing(ranks, std::string(1, '\1'));
  size_t batch_first = 0;
  int64_t batch_bytes = 0;
  const auto flush = [&](size_t last) -> Status {
    for (std::string& o : outgoing) o[0] = local.ok() ? '\1' : '\0';
    CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> incoming, comm.AllToAll(std::move(outgoing)));
    outgoing.assign(ranks, std::string(1, '\1'));
    bool fine = local.ok();
    for (const std::string& in : incoming) fine = fine && !in.empty() && in[0] == '\1';
    if (!fine) return OkStatus();  // the failing rank reports its own error
    // The parts sent to this rank, in the senders' order: leaf, piece, shared chunk.
    struct Part {
      const char* bytes;
      Box box;
    };
    std::vector<std::map<size_t, std::vector<Part>>> parts(last + 1);  // leaf -> chunk -> parts
    std::vector<size_t> at(ranks, 1);
    for (size_t l = batch_first; l <= last; ++l) {
      const size_t elem = DTypeSize(leaves[l].dtype);
      const ChunkPlan& plan = plans[l];
      for (size_t k = 0; k < placed[l].size(); ++k) {
        const PlacedPiece& piece = placed[l][k];
        for (size_t s : plan.touches[k]) {
          if (plan.shared[s].owner != me) continue;
          const Box box = *base::Intersect(plan.shared[s].box, piece.box);
          const size_t n = static_cast<size_t>(box.NumElements()) * elem;
          const std::string& from = incoming[static_cast<size_t>(piece.rank)];
          size_t& pos = at[static_cast<size_t>(piece.rank)];
          if (from.size() - pos < n) {
            return InternalError("ocdbt backend: rank " + std::to_string(piece.rank) +
                                 " sent fewer bytes of shared chunks than planned");
          }
          parts[l][s].push_back({from.data() + pos, box});
          pos += n;
        }
      }
    }
    for (size_t r = 0; r < ranks; ++r) {
      if (at[r] != incoming[r].size()) {
        return InternalError("ocdbt backend: rank " + std::to_string(r) +
                             " sent more bytes of shared chunks than planned");
      }
    }
    std::vector<char> chunk;
    for (size_t l = batch_first; l <= last; ++l) {
      const WriteLeaf& leaf = leaves[l];
      const size_t elem = DTypeSize(leaf.dtype);
      const ocdbt::ZarrArrayMetadata m = LeafMetadata(leaf, plans[l].chunk_shape);
      for (const auto& [s, pieces] : parts[l]) {
        const Box& box = plans[l].shared[s].box;
        chunk.resize(static_cast<size_t>(box.NumElements()) * elem);
        for (size_t i = 0; i < chunk.size(); i += elem) {  // the fill value where no piece is
          std::memcpy(chunk.data() + i, m.fill_value.data(), elem);
        }
        for (const Part& p : pieces) base::CopyRegion(p.bytes, p.box, chunk.data(), box, p.box, elem);
        local = encoder.EncodePiece(leaf.key_path, m, box, chunk.data(), sink);
        if (!local.ok()) return OkStatus();  // reported below, after the other exchanges
      }
    }
    return OkStatus();
  };

  for (size_t i = 0; i < leaves.size(); ++i) {
    const WriteLeaf& leaf = leaves[i];
    const ChunkPlan& plan = plans[i];
    const ocdbt::ZarrArrayMetadata m = LeafMetadata(leaf, plan.chunk_shape);
    const std::string& name = leaf.key_path;
    if (local.ok() && me == ctx.primary) {
      Result<std::string> text = ocdbt::EncodeZarrMetadata(m);
      if (text.ok()) {
        const std::string_view part = *text;
        local = sink(name.empty() ? "zarr.json" : name + "/zarr.json",
                     std::span<const std::string_view>(&part, 1));
      } else {
        local = text.status();
      }
    }
    const bool shared = !plan.shared.empty();
    std::map<size_t, size_t> placed_of;  // this rank's piece index -> position in placed[i]
    for (size_t k = 0; k < placed[i].size() && shared; ++k) {
      if (placed[i][k].rank == me) placed_of[placed[i][k].index] = k;
    }
    const size_t elem = DTypeSize(leaf.dtype);
    for (size_t j = 0; j < leaf.pieces.size() && local.ok(); ++j) {
      const WritePiece& piece = leaf.pieces[j];
      Result<PieceBytes> src = PieceBytes::Acquire(piece);
      if (!src.ok()) {
        local = src.status();
        break;
      }
      local = encoder.EncodePiece(name, m, piece.box, src->data(), sink, shared);
      auto it = placed_of.find(j);
      if (!local.ok() || it == placed_of.end()) continue;
      for (size_t s : plan.touches[it->second]) {
        const Box box = *base::Intersect(plan.shared[s].box, piece.box);
        std::string& out = outgoing[static_cast<size_t>(plan.shared[s].owner)];
        const size_t at = out.size();
        out.resize(at + static_cast<size_t>(box.NumElements()) * elem);
        base::CopyRegion(src->data(), piece.box, out.data() + at, box, box, elem);
      }
    }  // src released here
    batch_bytes += ExchangeBytes(leaf, placed[i], plan, comm.size());
    const bool last = i + 1 == leaves.size();
    if (batch_bytes > 0 && (batch_bytes >= kExchangeBatchBytes || last)) {
      CAIRN_RETURN_IF_ERROR(flush(i));
      batch_first = i + 1;
      batch_bytes = 0;
    } else if (batch_bytes == 0) {
      batch_first = i + 1;
    }
  }
  if (!local.ok()) return local;
  std::sort(entries.begin(), entries.end(),
            [](const ocdbt::NewLeafEntry& a, const ocdbt::NewLeafEntry& b) {
              return a.key < b.key;
            });
  return db->Finish(std::move(entries)).status();
}

class OcdbtBackend final : public Backend {
 public:
  std::string_view name() const override { return "ocdbt"; }
  // Orbax's `_METADATA` takes the name; cairn's goes beside it.
  std::string_view item_metadata_file() const override { return "_CAIRN_METADATA"; }
  // Orbax stores scalars as 0-d arrays in the database.
  bool writes_scalars() const override { return true; }

  Status DescribeItem(const BackendContext& ctx, ItemMetadata& m) override {
    // The chunk grid actually written (restores read whole chunks at a time).
    for (cairn::LeafMetadata& leaf : m.leaves) {
      if (leaf.kind != "array") continue;
      auto it = chunks_.find(KeyPathString(leaf.key_path));
      if (it != chunks_.end()) leaf.chunk_shape = Shape(it->second.begin(), it->second.end());
    }
    const bool sharding = ctx.save_options == nullptr || ctx.save_options->enable_write_sharding_file;
    return WriteOrbaxItemFiles(ctx.item_dir, m, chunks_, sharding, ctx.file_mode);
  }

  Result<std::vector<std::vector<json>>> Write(const BackendContext& ctx,
                                               std::span<const WriteLeaf> leaves) override {
    Communicator& comm = *ctx.comm;
    Result<std::vector<std::vector<PlacedPiece>>> placed = GatherPieces(comm, leaves);
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, placed.status()));
    std::vector<ChunkPlan> plans;
    chunks_.clear();
    for (size_t i = 0; i < leaves.size(); ++i) {
      const WriteLeaf& leaf = leaves[i];
      plans.push_back(
          PlanChunks(leaf.global_shape, DTypeSize(leaf.dtype), leaf.chunk_shape, (*placed)[i]));
      chunks_[leaf.key_path] = plans.back().chunk_shape;
    }
    Status local = WriteProcessDatabase(ctx, leaves, *placed, plans);
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, local));
    if (comm.rank() == ctx.primary) {
      CAIRN_RETURN_IF_ERROR(MergeProcessDatabases(ctx.item_dir, comm.size()));
      if (ctx.save_options == nullptr || ctx.save_options->enable_post_merge_validation) {
        CAIRN_RETURN_IF_ERROR(ValidateMergedDatabase(ctx.item_dir, comm.size()));
      }
    }
    std::vector<std::vector<json>> locations(leaves.size());
    for (size_t i = 0; i < leaves.size(); ++i) {
      locations[i].assign(leaves[i].pieces.size(), json{{"process", comm.rank()}});
    }
    return locations;
  }

  Status Read(const BackendContext& ctx, std::span<const ReadLeaf> leaves) override {
    bool any = false;
    for (const ReadLeaf& leaf : leaves) any = any || !leaf.requests.empty();
    if (!any) return OkStatus();
    Result<ocdbt::ReadView> view = ocdbt::ReadView::Open(ctx.item_dir);
    if (!view.ok()) {
      return DataLossError("cannot open the OCDBT database of '" + ctx.item_dir.string() +
                           "': " + view.status().message());
    }
    for (const ReadLeaf& leaf : leaves) {
      if (leaf.requests.empty()) continue;
      const auto bad = [&](const Status& s) {
        return DataLossError("key '" + leaf.key_path + "' in '" + ctx.item_dir.string() +
                             "': " + s.message());
      };
      const std::string meta_key =
          leaf.key_path.empty() ? "zarr.json" : leaf.key_path + "/zarr.json";
      Result<std::optional<std::string>> text = view->Get(meta_key);
      if (!text.ok()) return bad(text.status());
      if (!text->has_value()) return bad(DataLossError("no " + meta_key + " in the database"));
      Result<ocdbt::ZarrArrayMetadata> m =
          ocdbt::ParseZarrMetadata(**text, ocdbt::Source{(ctx.item_dir / meta_key).string()});
      if (!m.ok()) return bad(m.status());
      const std::vector<uint64_t> want(leaf.global_shape.begin(), leaf.global_shape.end());
      if (m->dtype != leaf.dtype || m->shape != want) {
        return bad(DataLossError("stored array is " + std::string(DTypeName(m->dtype)) + " " +
                                 base::ShapeString(Shape(m->shape.begin(), m->shape.end())) +
                                 ", _METADATA says " + std::string(DTypeName(leaf.dtype)) + " " +
                                 base::ShapeString(leaf.global_shape)));
      }
      for (const ReadRequest& req : leaf.requests) {
        Status s = ReadZarrBox(*view, leaf.key_path, *m, req.box, req.dest);
        if (!s.ok()) return bad(s);
        if (req.on_filled) req.on_filled();
      }
    }
    return OkStatus();
  }

 private:
  std::map<std::string, std::vector<uint64_t>> chunks_;  // stored chunk shape per key path
};

}  // namespace

std::unique_ptr<Backend> MakeOcdbtBackend() { return std::make_unique<OcdbtBackend>(); }

}  // namespace cairn::storage
