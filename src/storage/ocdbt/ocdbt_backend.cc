// Write: an allgather of every rank's pieces gives each leaf's chunk grid (chunk_plan.h); each
// rank encodes the chunks its pieces hold whole into its own database, the parts of chunks that
// straddle pieces go to their owners (AllToAll in batches), the ranks agree, the primary merges.
// Read: independent per rank: one ReadView of the merged database, chunks fetched per request.
#include "storage/ocdbt/ocdbt_backend.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <numeric>
#include <thread>

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

// $CAIRN_COMPRESSION_THREADS (1 to 64), or nullopt when unset (local).
Result<std::optional<int>> ThreadsFromEnvironment() {
  const char* env = std::getenv("CAIRN_COMPRESSION_THREADS");
  if (env == nullptr || *env == '\0') return std::optional<int>();
  char* end = nullptr;
  const long n = std::strtol(env, &end, 10);
  if (*end != '\0' || n < 1 || n > 64) {
    return InvalidArgumentError("CAIRN_COMPRESSION_THREADS='" + std::string(env) +
                                "': a number of threads from 1 to 64");
  }
  return std::optional<int>(static_cast<int>(n));
}

// Threads compressing on each rank unless $CAIRN_COMPRESSION_THREADS says (collective): the
// CPUs this process may run on when it is bound to some (mpirun and srun bind each rank to its
// cores), else the host's CPUs shared among the ranks on it; at most 8.
Result<int> CompressionThreads(Communicator& comm) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> hosts, comm.AllGather(host));
  const int same = static_cast<int>(std::count(hosts.begin(), hosts.end(), std::string(host)));
  cpu_set_t set;
  CPU_ZERO(&set);
  const int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  const int all = static_cast<int>(std::thread::hardware_concurrency());
  const int n = all > 0 && allowed >= all ? all / std::max(same, 1) : allowed;
  return std::clamp(n, 1, 8);
}

// Shared chunks (chunk_plan.h) are exchanged and written in batches of leaves: a batch ends once
// some rank holds this much for it (the chunks it assembles, and the parts it sends).
constexpr int64_t kExchangeBatchBytes = int64_t{256} << 20;

// Per leaf: the most bytes any rank holds for its shared chunks until they are written.
int64_t SharedBytes(const WriteLeaf& leaf, std::span<const PlacedPiece> placed,
                    const ChunkPlan& plan, int ranks) {
  if (plan.shared.empty()) return 0;
  const int64_t elem = static_cast<int64_t>(DTypeSize(leaf.dtype));
  std::vector<int64_t> held(static_cast<size_t>(ranks), 0);
  for (const SharedChunk& c : plan.shared) {
    held[static_cast<size_t>(c.owner)] += c.box.NumElements() * elem;
  }
  for (size_t k = 0; k < placed.size(); ++k) {
    for (size_t s : plan.touches[k]) {
      if (placed[k].rank == plan.shared[s].owner) continue;
      held[static_cast<size_t>(placed[k].rank)] +=
          base::Intersect(plan.shared[s].box, placed[k].box)->NumElements() * elem;
    }
  }
  return *std::max_element(held.begin(), held.end());
}

// This rank's database: its chunks, and (on the primary) every leaf's zarr.json. Streams: each
// chunk goes to the data file as soon as it is encoded and each piece's bytes are released
// right after its chunks, so a rank holds one piece and one chunk's encoding at a time, plus a
// (key, file range) per chunk for the B+tree built at the end, plus, until their batch is
// written, the shared chunks it assembles and its parts of the others' (chunk_plan.h).
// Collective: every rank takes part in every exchange even after a local failure (which it
// then reports; the others skip the batch).
Status WriteProcessDatabase(const BackendContext& ctx, std::span<const WriteLeaf> leaves,
                            const std::vector<std::vector<PlacedPiece>>& placed,
                            const std::vector<ChunkPlan>& plans, int threads) {
  Communicator& comm = *ctx.comm;
  std::vector<ocdbt::ZarrArrayMetadata> metas;
  for (size_t i = 0; i < leaves.size(); ++i) {
    metas.push_back(LeafMetadata(leaves[i], plans[i].chunk_shape));
  }
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
  encoder.set_threads(threads);
  const ChunkSink sink = [&](std::string key, std::span<const std::string_view> parts) -> Status {
    CAIRN_ASSIGN_OR_RETURN(ocdbt::StoredValue value, db->AppendValue(parts));
    entries.push_back({.key = std::move(key), .value = std::move(value)});
    return OkStatus();
  };
  // The shared chunks this rank assembles, by (leaf, index into plans[leaf].shared).
  std::map<std::pair<size_t, size_t>, std::vector<char>> assembling;
  const auto chunk_buffer = [&](size_t l, size_t s) -> std::vector<char>& {
    auto [it, fresh] = assembling.try_emplace({l, s});
    if (fresh) {
      const SharedChunk& c = plans[l].shared[s];
      const size_t elem = DTypeSize(leaves[l].dtype);
      it->second.resize(static_cast<size_t>(c.box.NumElements()) * elem);
      if (c.held < c.box.NumElements()) {  // the fill value where no piece is
        const std::string& fill = metas[l].fill_value;
        for (size_t i = 0; i < it->second.size(); i += elem) {
          std::memcpy(it->second.data() + i, fill.data(), elem);
        }
      }
    }
    return it->second;
  };
  // Parts of the others' shared chunks, per owner; byte 0 says whether the sender is still fine.
  std::vector<std::string> outgoing(ranks, std::string(1, '\1'));
  size_t batch_first = 0;
  int64_t batch_bytes = 0;
  const auto flush = [&](size_t last) -> Status {
    for (std::string& o : outgoing) o[0] = local.ok() ? '\1' : '\0';
    CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> incoming, comm.AllToAll(std::move(outgoing)));
    outgoing.assign(ranks, std::string(1, '\1'));
    bool fine = local.ok();
    for (const std::string& in : incoming) fine = fine && !in.empty() && in[0] == '\1';
    if (!fine) {  // the failing rank reports its own error
      assembling.clear();
      return OkStatus();
    }
    // The parts sent to this rank, in the senders' order: leaf, piece, shared chunk.
    std::vector<size_t> at(ranks, 1);
    for (size_t l = batch_first; l <= last; ++l) {
      const size_t elem = DTypeSize(leaves[l].dtype);
      const ChunkPlan& plan = plans[l];
      for (size_t k = 0; k < placed[l].size(); ++k) {
        const PlacedPiece& piece = placed[l][k];
        for (size_t s : plan.touches[k]) {
          if (plan.shared[s].owner != me || piece.rank == me) continue;
          const Box box = *base::Intersect(plan.shared[s].box, piece.box);
          const size_t n = static_cast<size_t>(box.NumElements()) * elem;
          const std::string& from = incoming[static_cast<size_t>(piece.rank)];
          size_t& pos = at[static_cast<size_t>(piece.rank)];
          if (from.size() - pos < n) {  // kept local: the next exchanges must still happen
            local = InternalError("ocdbt backend: rank " + std::to_string(piece.rank) +
                                  " sent fewer bytes of shared chunks than planned");
            assembling.clear();
            return OkStatus();
          }
          base::CopyRegion(from.data() + pos, box, chunk_buffer(l, s).data(), plan.shared[s].box,
                           box, elem);
          pos += n;
        }
      }
    }
    for (size_t r = 0; r < ranks; ++r) {
      if (at[r] != incoming[r].size()) {
        local = InternalError("ocdbt backend: rank " + std::to_string(r) +
                              " sent more bytes of shared chunks than planned");
        assembling.clear();
        return OkStatus();
      }
    }
    incoming.clear();
    for (auto& [key, bytes] : assembling) {
      const auto [l, s] = key;
      local = encoder.EncodePiece(leaves[l].key_path, metas[l], plans[l].shared[s].box,
                                  bytes.data(), sink);
      if (!local.ok()) break;  // reported after the other exchanges
      std::vector<char>().swap(bytes);
    }
    assembling.clear();
    return OkStatus();
  };

  for (size_t i = 0; i < leaves.size(); ++i) {
    const WriteLeaf& leaf = leaves[i];
    const ChunkPlan& plan = plans[i];
    const ocdbt::ZarrArrayMetadata& m = metas[i];
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
        const SharedChunk& c = plan.shared[s];
        const Box box = *base::Intersect(c.box, piece.box);
        if (c.owner == me) {  // straight into the chunk
          base::CopyRegion(src->data(), piece.box, chunk_buffer(i, s).data(), c.box, box, elem);
          continue;
        }
        std::string& out = outgoing[static_cast<size_t>(c.owner)];
        const size_t at = out.size();
        out.resize(at + static_cast<size_t>(box.NumElements()) * elem);
        base::CopyRegion(src->data(), piece.box, out.data() + at, box, box, elem);
      }
    }  // src released here
    batch_bytes += SharedBytes(leaf, placed[i], plan, comm.size());
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
    const Result<std::optional<int>> env_threads = ThreadsFromEnvironment();
    CAIRN_RETURN_IF_ERROR(
        AgreeOnStatus(comm, placed.ok() ? env_threads.status() : placed.status()));
    std::vector<ChunkPlan> plans;
    chunks_.clear();
    for (size_t i = 0; i < leaves.size(); ++i) {
      const WriteLeaf& leaf = leaves[i];
      plans.push_back(
          PlanChunks(leaf.global_shape, DTypeSize(leaf.dtype), leaf.chunk_shape, (*placed)[i]));
      chunks_[leaf.key_path] = plans.back().chunk_shape;
    }
    int threads = 1;
    // The leaves, so whether to gather, are the same on every rank (the environment may not be).
    if (std::any_of(leaves.begin(), leaves.end(), [](const WriteLeaf& l) { return l.compress; })) {
      CAIRN_ASSIGN_OR_RETURN(const int n, CompressionThreads(comm));
      threads = env_threads->value_or(n);
    }
    Status local = WriteProcessDatabase(ctx, leaves, *placed, plans, threads);
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
