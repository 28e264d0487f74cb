// cairn convert SRC DST --to BACKEND: rewrites a checkpoint (or every step of a manager
// directory) with another storage backend, array by array, in bounded memory.
//
// The stored pieces of each array are split into slabs of at most --memory bytes and spread over
// the ranks (whole source pieces per rank, largest first to the least loaded), so each rank holds
// one slab at a time: the target backend pulls every slab through WritePiece::acquire, which reads
// it from the source. The source checksum of each piece is checked as its last slab is read; a
// mismatch fails the conversion and nothing is committed. The new `_METADATA` records the slabs
// with their own XXH3-64, and the result commits atomically like a save (temporary directory,
// commit_success.txt, rename). Other items (JSON, RNG state...) and `_CHECKPOINT_METADATA` are
// copied byte for byte.

#include <algorithm>
#include <chrono>
#include <sstream>

#include "base/checksum.h"
#include "base/fs.h"
#include "cairn/dtype.h"
#include "cairn/mpi.h"
#include "cli.h"
#include "coord/commit.h"
#include "coord/save_plan.h"
#include "format/metadata_json.h"
#include "manager/step_store.h"

namespace cairn_cli {
namespace {

struct Settings {
  std::string backend;
  std::string compression = "keep";  // keep | on | off
  int level = 3;
  int64_t memory = int64_t{256} << 20;
};

// One source piece given to a rank, and the slabs it is written as.
struct Assigned {
  size_t leaf = 0;   // index into the item's array leaves
  size_t piece = 0;  // index into the leaf's pieces
  int rank = 0;
  std::vector<cairn::Box> slabs;
};

struct Converted {
  uint64_t bytes = 0;
  size_t leaves = 0, pieces = 0;
};

// Deterministic on every rank: whole pieces, largest first, to the least-loaded rank.
std::vector<Assigned> AssignPieces(const std::vector<const cairn::LeafMetadata*>& leaves, int ranks,
                                   int64_t memory) {
  std::vector<Assigned> out;
  std::vector<std::pair<uint64_t, size_t>> order;
  for (size_t l = 0; l < leaves.size(); ++l) {
    const size_t es = cairn::DTypeSize(leaves[l]->dtype);
    for (size_t p = 0; p < leaves[l]->pieces.size(); ++p) {
      Assigned a{l, p, 0, SlabsOf(leaves[l]->pieces[p].box, es, memory)};
      order.push_back({uint64_t(leaves[l]->pieces[p].box.NumElements()) * es, out.size()});
      out.push_back(std::move(a));
    }
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<uint64_t> load(ranks, 0);
  for (const auto& [bytes, i] : order) {
    const int r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    out[i].rank = r;
    load[r] += bytes + 1;  // +1: empty pieces spread too
  }
  return out;
}

std::optional<cairn::Shape> ChunkFor(const cairn::LeafMetadata& leaf, bool compress,
                                     int64_t memory) {
  if (leaf.global_shape.empty()) return std::nullopt;
  for (int64_t e : leaf.global_shape) {
    if (e == 0) return std::nullopt;
  }
  if (!compress && !leaf.chunk_shape) return std::nullopt;
  cairn::Shape start = leaf.chunk_shape ? *leaf.chunk_shape
                       : leaf.pieces.empty() ? leaf.global_shape
                                             : leaf.pieces.front().box.shape;
  for (size_t d = 0; d < start.size(); ++d) start[d] = std::max<int64_t>(1, start[d]);
  // Compression holds a few chunk-sized buffers per write: keep chunks well inside the budget.
  const int64_t cap = std::min<int64_t>(int64_t{64} << 20, std::max<int64_t>(memory / 8, 1));
  return cairn::coord::GreedyChunkShape(start, cairn::DTypeSize(leaf.dtype), cap);
}

// Converts one tree item; returns (on rank 0) its new metadata, which rank 0 has written
// (with the target format's own description of the item), setting *finish. Collective.
cairn::ItemMetadata ConvertItem(Env& env, cairn::Communicator& comm, const ItemInfo& item,
                                const fs::path& dst_item, const Settings& s, Progress& progress,
                                Converted& stats, cairn::Status* finish) {
  const cairn::ItemMetadata& src = *item.tree;
  std::vector<const cairn::LeafMetadata*> arrays;
  for (const auto& leaf : src.leaves) {
    if (leaf.kind == "array") arrays.push_back(&leaf);
  }
  const std::vector<Assigned> plan = AssignPieces(arrays, env.size, s.memory);
  PieceReader reader(item.dir, src.backend);

  // What this rank writes, and the checksums it computes on the way.
  struct Mine {
    size_t leaf;
    cairn::Box box;
    uint64_t xxh3 = 0;
  };
  std::vector<Mine> mine;
  std::vector<char> buffer;
  std::unique_ptr<cairn::base::Xxh3Stream> source_hash;
  std::vector<cairn::WriteLeaf> leaves(arrays.size());
  std::vector<std::vector<size_t>> mine_of_leaf(arrays.size());
  for (size_t l = 0; l < arrays.size(); ++l) {
    const cairn::LeafMetadata& leaf = *arrays[l];
    cairn::WriteLeaf& w = leaves[l];
    w.key_path = cairn::KeyPathString(leaf.key_path);
    for (const auto& seg : leaf.key_path) w.segments.push_back(seg.key);
    w.dtype = leaf.dtype;
    w.global_shape = leaf.global_shape;
    const bool want = s.compression == "keep" ? leaf.compressed : s.compression == "on";
    w.chunk_shape = ChunkFor(leaf, want, s.memory);
    w.compress = want && w.chunk_shape.has_value();
    w.compression_level = s.level;
    std::vector<int> per_rank(env.size, 0);
    for (const Assigned& a : plan) {
      if (a.leaf == l) per_rank[a.rank] += static_cast<int>(a.slabs.size());
    }
    w.max_pieces_per_rank = *std::max_element(per_rank.begin(), per_rank.end());
  }
  for (const Assigned& a : plan) {
    if (a.rank != env.rank) continue;
    const cairn::LeafMetadata* leaf = arrays[a.leaf];
    const cairn::PieceMetadata* piece = &leaf->pieces[a.piece];
    const size_t es = cairn::DTypeSize(leaf->dtype);
    for (size_t k = 0; k < a.slabs.size(); ++k) {
      const size_t index = mine.size();
      mine.push_back({a.leaf, a.slabs[k], 0});
      mine_of_leaf[a.leaf].push_back(index);
      cairn::WritePiece wp;
      wp.box = a.slabs[k];
      const bool first = k == 0, last = k + 1 == a.slabs.size();
      wp.acquire = [&, leaf, piece, es, index, first, last]() -> cairn::Result<const void*> {
        Mine& m = mine[index];
        const size_t n = static_cast<size_t>(m.box.NumElements()) * es;
        buffer.resize(std::max<size_t>(n, 1));
        if (first) source_hash = std::make_unique<cairn::base::Xxh3Stream>();
        PieceReader::Request req{leaf, piece, m.box, buffer.data(), nullptr};
        cairn::Status st = reader.Read(std::span(&req, 1));
        if (!st.ok()) return st;
        m.xxh3 = cairn::base::Xxh3(buffer.data(), n);
        source_hash->Update(buffer.data(), n);
        if (last && piece->checksummed && source_hash->Digest() != piece->xxh3) {
          return cairn::DataLossError(
              "source " + (item.dir / cairn::KeyPathString(leaf->key_path)).string() +
              ": the piece written by rank " + std::to_string(piece->writer_rank) +
              " fails its checksum (stored " + cairn::base::ChecksumToHex(piece->xxh3) +
              ", read " + cairn::base::ChecksumToHex(source_hash->Digest()) +
              "); `cairn verify` tells more; nothing was converted");
        }
        progress.Advance(n);
        return static_cast<const void*>(buffer.data());
      };
      wp.release = [] {};
      leaves[a.leaf].pieces.push_back(std::move(wp));
    }
  }

  auto backend = cairn::MakeBackend(s.backend);
  // Scalars as 0-d leaves for a backend that stores them (ocdbt: Orbax reads them there).
  std::vector<uint64_t> scalar_bits;
  if ((*backend)->writes_scalars()) {
    for (const auto& leaf : src.leaves) {
      if (leaf.kind == "scalar" && leaf.value) scalar_bits.push_back(std::get<cairn::Scalar>(*leaf.value).bits());
    }
    size_t k = 0;
    for (const auto& leaf : src.leaves) {
      if (leaf.kind != "scalar" || !leaf.value) continue;
      leaves.push_back(cairn::ScalarWriteLeaf(leaf.key_path, leaf.dtype, s.compression != "off",
                                              s.level, env.rank == 0 ? &scalar_bits[k] : nullptr));
      ++k;
    }
  }
  cairn::BackendContext ctx;
  ctx.comm = &comm;
  ctx.item_dir = dst_item;
  ctx.primary = 0;
  auto locations = (*backend)->Write(ctx, leaves);
  AgreeOrThrow(env, locations.status());

  // Every rank's written slabs (leaf, box, checksum, location), to rank 0.
  json written = json::array();
  for (size_t l = 0; l < arrays.size(); ++l) {
    for (size_t k = 0; k < mine_of_leaf[l].size(); ++k) {
      const Mine& m = mine[mine_of_leaf[l][k]];
      written.push_back({{"leaf", l},
                         {"origin", m.box.origin},
                         {"shape", m.box.shape},
                         {"xxh3", m.xxh3},
                         {"location", (*locations)[l][k]}});
    }
  }
  const std::vector<std::string> all = GatherStrings(env, written.dump());
  cairn::ItemMetadata out = src;
  out.backend = s.backend;
  if (env.rank != 0) return out;
  std::vector<std::vector<cairn::PieceMetadata>> pieces(arrays.size());
  for (int r = 0; r < env.size; ++r) {
    for (const auto& p : json::parse(all[r])) {
      cairn::PieceMetadata pm;
      pm.box = {p["origin"].get<std::vector<int64_t>>(), p["shape"].get<std::vector<int64_t>>()};
      pm.xxh3 = p["xxh3"].get<uint64_t>();
      pm.writer_rank = r;
      pm.location = p["location"];
      pieces[p["leaf"].get<size_t>()].push_back(std::move(pm));
    }
  }
  size_t l = 0;
  for (auto& leaf : out.leaves) {
    if (leaf.kind != "array") continue;
    std::sort(pieces[l].begin(), pieces[l].end(),
              [](const auto& a, const auto& b) { return a.box.origin < b.box.origin; });
    leaf.pieces = std::move(pieces[l]);
    leaf.chunk_shape = leaves[l].chunk_shape;
    leaf.compressed = leaves[l].compress;
    stats.bytes += LeafBytes(leaf);
    stats.pieces += leaf.pieces.size();
    ++stats.leaves;
    ++l;
  }
  // The target format's own description of the item, then cairn's metadata where it belongs.
  *finish = (*backend)->DescribeItem(ctx, out);
  if (finish->ok()) {
    *finish = cairn::base::WriteFileDurably(dst_item / std::string((*backend)->item_metadata_file()),
                                            cairn::format::EncodeItemMetadata(out));
  }
  return out;
}

// Copies a directory tree (items that are not trees: JSON, RNG state, ...).
cairn::Status CopyTree(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  if (ec) return cairn::InternalError("cannot copy " + from.string() + ": " + ec.message());
  for (auto it = fs::recursive_directory_iterator(to, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    CAIRN_RETURN_IF_ERROR(cairn::base::FsyncPath(it->path()));
  }
  return cairn::OkStatus();
}

// Converts one checkpoint SRC into DST (which must not exist). Collective.
json ConvertCheckpoint(Env& env, cairn::Communicator& comm, const fs::path& src,
                       const fs::path& dst, const Settings& s) {
  std::vector<ItemInfo> items;
  std::string tmp;
  cairn::Status st;
  try {
    items = ReadItems(src);
  } catch (const CliError& e) {
    st = cairn::DataLossError(e.what());
  }
  for (const auto& it : items) {
    if (st.ok() && it.tree_error) st = it.tree_error.value();
  }
  if (st.ok() && env.rank == 0) {
    std::vector<std::string> names;
    for (const auto& it : items) names.push_back(it.name);
    auto t = cairn::coord::CreateTemporaryCheckpoint(dst, names, std::nullopt);
    if (t.ok()) {
      tmp = t->string();
    } else {
      st = t.status();
    }
  }
  AgreeOrThrow(env, st);
  tmp = BroadcastString(env, tmp);
  const auto start = std::chrono::steady_clock::now();
  uint64_t mine = 0;
  for (const auto& it : items) {
    if (!it.tree) continue;
    for (const auto& leaf : it.tree->leaves) mine += leaf.kind == "array" ? LeafBytes(leaf) : 0;
  }
  Progress progress(env, "convert " + src.filename().string(), mine / std::max(env.size, 1));
  Converted stats;
  try {
    for (const auto& it : items) {
      cairn::Status item_status;
      if (it.tree) {
        ConvertItem(env, comm, it, fs::path(tmp) / it.name, s, progress, stats, &item_status);
      } else if (env.rank == 0) {
        item_status = CopyTree(it.dir, fs::path(tmp) / it.name);
      }
      AgreeOrThrow(env, item_status);
    }
    cairn::Status commit;
    if (env.rank == 0) {
      auto text = cairn::base::ReadFile(src / cairn::coord::kCheckpointMetadataFile);
      commit = text.ok() ? cairn::base::WriteFileDurably(
                               fs::path(tmp) / cairn::coord::kCheckpointMetadataFile, *text)
                         : text.status();
      if (commit.ok()) commit = cairn::coord::CommitCheckpoint(tmp, dst, std::nullopt);
    }
    AgreeOrThrow(env, commit);
  } catch (const CliError&) {
    if (env.rank == 0) cairn::coord::AbandonTemporaryCheckpoint(tmp);
    throw;
  }
  progress.Finish();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {{"source", src.string()}, {"destination", dst.string()}, {"leaves", stats.leaves},
          {"pieces", stats.pieces}, {"bytes", stats.bytes}, {"seconds", secs}};
}

}  // namespace

int RunConvert(Env& env, const std::vector<std::string>& args) {
  po::options_description desc("cairn convert options");
  std::string src, dst, memory = "256MiB";
  Settings s;
  desc.add_options()("src", po::value(&src), "a checkpoint, or a CheckpointManager directory")(
      "dst", po::value(&dst), "where the converted checkpoint (or directory of steps) goes")(
      "to", po::value(&s.backend), "target backend: hdf5, ocdbt, reference")(
      "compression", po::value(&s.compression)->default_value(s.compression),
      "zstd: keep (as in SRC), on, off")(
      "level", po::value(&s.level)->default_value(s.level), "zstd level when compressing")(
      "memory", po::value(&memory)->default_value(memory),
      "bytes of array data each rank holds at a time");
  po::positional_options_description pos;
  pos.add("src", 1).add("dst", 1);
  po::variables_map vm;
  if (!ParseCommandLine(env, args, desc, pos, vm,
                        "cairn convert SRC DST --to hdf5|ocdbt|reference [--compression keep] "
                        "[--memory 256MiB] [--json]")) {
    return kExitOk;
  }
  if (src.empty() || dst.empty()) throw UsageError("need SRC and DST");
  if (s.backend.empty()) throw UsageError("missing --to BACKEND");
  if (s.compression != "keep" && s.compression != "on" && s.compression != "off") {
    throw UsageError("--compression: keep, on or off, not '" + s.compression + "'");
  }
  s.memory = ParseBytes(memory, "memory");
  if (!cairn::MakeBackend(s.backend).ok()) {
    std::string known;
    for (const auto& n : cairn::BackendNames()) known += (known.empty() ? "" : ", ") + n;
    throw UsageError("--to " + s.backend + ": no such backend in this build of cairn (" + known +
                     ")");
  }
  const Target t = ResolveTarget(src);
  const fs::path dst_path = fs::path(dst).lexically_normal();
  std::error_code ec;
  auto comm_or = cairn::MpiCommunicator(env.comm);
  if (!comm_or.ok()) throw CliError(comm_or.status().message());
  cairn::Communicator& comm = **comm_or;

  json out = {{"command", "convert"}, {"backend", s.backend}, {"checkpoints", json::array()},
              {"skipped", json::array()}, {"ranks", env.size}};
  std::vector<std::pair<fs::path, fs::path>> jobs;
  if (t.is_checkpoint) {
    if (fs::exists(dst_path, ec)) throw CliError(dst_path.string() + ": already exists");
    jobs.push_back({t.path, dst_path});
  } else {
    if (t.steps.empty()) throw CliError(t.path.string() + ": no committed checkpoints");
    for (const auto& step : t.steps) {
      const fs::path to = dst_path / step.name;
      if (cairn::IsCommittedCheckpoint(to)) {
        out["skipped"].push_back(to.string());  // converted by an earlier run
      } else {
        jobs.push_back({step.path, to});
      }
    }
    // The manager's root metadata goes along.
    const fs::path rm = t.path / cairn::manager::kRootMetadataDir / cairn::manager::kRootMetadataFile;
    const fs::path rm_to = dst_path / cairn::manager::kRootMetadataDir / cairn::manager::kRootMetadataFile;
    cairn::Status st;
    if (env.rank == 0 && fs::exists(rm, ec) && !fs::exists(rm_to, ec)) {
      st = cairn::base::CreateDirectories(rm_to.parent_path(), std::nullopt);
      auto text = cairn::base::ReadFile(rm);
      if (st.ok()) st = text.ok() ? cairn::base::WriteFileDurably(rm_to, *text) : text.status();
    }
    AgreeOrThrow(env, st);
  }
  for (const auto& [from, to] : jobs) {
    json r = ConvertCheckpoint(env, comm, from, to, s);
    if (!env.json) {
      char line[160];
      std::snprintf(line, sizeof line, " (%zu arrays, %s, %.2f s)\n",
                    r["leaves"].get<size_t>(), HumanBytes(r["bytes"]).c_str(),
                    r["seconds"].get<double>());
      Print(env, "converted " + from.string() + " -> " + to.string() + line);
    }
    out["checkpoints"].push_back(std::move(r));
  }
  if (env.json) {
    PrintJson(env, out);
  } else {
    for (const auto& sk : out["skipped"]) {
      Print(env, "skipped " + sk.get<std::string>() + " (already there)\n");
    }
  }
  return kExitOk;
}

}  // namespace cairn_cli
