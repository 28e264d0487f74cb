// Walks each process database's newest B+tree (ReadView does the reads and path checks) and
// rebuilds one tree over all their leaf entries, the way WriteDatabase builds one over new
// values: nodes by EncodeLeafLevel / EncodeInteriorLevel, placed in one new data file.
#include "storage/ocdbt/merge.h"

#include "format/ocdbt/zarr_metadata.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "base/fs.h"
#include "format/ocdbt/btree.h"
#include "format/ocdbt/btree_builder.h"
#include "format/ocdbt/encode.h"
#include "format/ocdbt/read_view.h"

namespace cairn::storage {
namespace {

namespace fs = std::filesystem;
using ocdbt::NewLeafEntry;

Status CollectNode(const ocdbt::ReadView& view, const ocdbt::DataFileId& file,
                   const ocdbt::IndirectRef& ref, const std::string& prefix,
                   const std::string& base, std::vector<NewLeafEntry>* out) {
  CAIRN_ASSIGN_OR_RETURN(std::string bytes, view.ReadRange(file, ref.offset, ref.length));
  const ocdbt::Source source{(view.root() / file.FullPath()).string(), ref.offset};
  CAIRN_ASSIGN_OR_RETURN(ocdbt::BtreeNode node,
                         ocdbt::DecodeBtreeNode(bytes, source, file.base_path));
  if (node.height == 0) {
    for (auto& e : node.leaf_entries) {
      NewLeafEntry n{.key = prefix + e.key};
      if (e.is_inline()) {
        n.value = std::move(std::get<std::string>(e.value));
      } else {
        const auto& r = std::get<ocdbt::IndirectRef>(e.value);
        const ocdbt::DataFileId& id = node.files[r.file];
        n.value = ocdbt::FileRange{
            .file = {.base_path = base + id.base_path, .relative_path = id.relative_path},
            .offset = r.offset,
            .length = r.length};
      }
      out->push_back(std::move(n));
    }
    return OkStatus();
  }
  for (const auto& e : node.interior_entries) {
    CAIRN_RETURN_IF_ERROR(CollectNode(view, node.files[e.child.file], e.child,
                                      prefix + e.key.substr(0, e.subtree_common_prefix_length),
                                      base, out));
  }
  return OkStatus();
}

// The leaf entries of the newest generation of the database at `root`, values re-based.
Status CollectDatabase(const fs::path& root, const std::string& base,
                       std::vector<NewLeafEntry>* out) {
  Result<ocdbt::ReadView> view = ocdbt::ReadView::Open(root);
  if (!view.ok()) {
    return DataLossError("cannot open OCDBT database '" + root.string() +
                         "': " + view.status().message());
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<ocdbt::GenerationInfo> gens, view->ListGenerations());
  if (gens.empty() || gens.back().ref.root.IsMissing()) return OkStatus();
  return CollectNode(*view, gens.back().root_file, gens.back().ref.root, "", base, out);
}

std::string RandomHex32() {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  while (out.size() < 32) {
    const uint32_t r = rd();
    for (int i = 0; i < 8 && out.size() < 32; ++i) out.push_back(kDigits[(r >> (4 * i)) & 15]);
  }
  return out;
}

}  // namespace

std::string ProcessDatabaseName(int process) {
  return "ocdbt.process_" + std::to_string(process);
}

Status MergeProcessDatabases(const fs::path& item_dir, int num_processes,
                             const ocdbt::WriteOptions& options) {
  const fs::path manifest_path = item_dir / "manifest.ocdbt";
  std::error_code ec;
  if (fs::exists(manifest_path, ec)) {
    return AlreadyExistsError("OCDBT database already exists: '" + manifest_path.string() + "'");
  }
  std::vector<NewLeafEntry> entries;
  for (int p = 0; p < num_processes; ++p) {
    const std::string name = ProcessDatabaseName(p);
    CAIRN_RETURN_IF_ERROR(CollectDatabase(item_dir / name, name + "/", &entries));
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const NewLeafEntry& a, const NewLeafEntry& b) { return a.key < b.key; });
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].key == entries[i - 1].key) {
      return InternalError("OCDBT merge in '" + item_dir.string() + "': key '" + entries[i].key +
                           "' is stored by two process databases");
    }
  }

  std::random_device rd;
  ocdbt::Config config;
  if (options.uuid) {
    config.uuid = *options.uuid;
  } else {
    for (auto& b : config.uuid) b = static_cast<uint8_t>(rd());
  }
  config.manifest_kind = ocdbt::ManifestKind::kSingle;
  config.max_inline_value_bytes = options.max_inline_value_bytes;
  config.max_decoded_node_bytes = options.max_decoded_node_bytes;
  config.version_tree_arity_log2 = options.version_tree_arity_log2;
  config.zstd = options.use_zstd;
  config.zstd_level = options.use_zstd ? options.zstd_level : 0;
  const uint64_t now = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  ocdbt::GenerationRef generation{.generation_number = 1,
                                  .root = {.file = 0, .offset = UINT64_MAX, .length = UINT64_MAX},
                                  .commit_time_ns = options.commit_time_ns.value_or(now)};
  ocdbt::Manifest manifest{.config = config};

  if (!entries.empty()) {
    // All new nodes go to one data file, d/<32 hex>, written once the tree is complete.
    const std::string node_file = "d/" + RandomHex32();
    std::string buffer;
    const auto place = [&](const std::string& bytes) {
      ocdbt::FileRange r{.file = {.base_path = "", .relative_path = node_file},
                         .offset = buffer.size(),
                         .length = bytes.size()};
      buffer += bytes;
      return r;
    };
    const ocdbt::BtreeBuildOptions build{.max_decoded_node_bytes = options.max_decoded_node_bytes,
                                         .compression = ocdbt::CompressionOf(config)};
    CAIRN_ASSIGN_OR_RETURN(std::vector<ocdbt::EncodedBtreeNode> nodes,
                           ocdbt::EncodeLeafLevel(entries, build));
    uint8_t height = 0;
    while (true) {
      std::vector<ocdbt::NewInteriorEntry> parents;
      for (const auto& node : nodes) {
        parents.push_back(ocdbt::ParentEntry(node, place(node.encoded)));
      }
      if (parents.size() == 1) {
        const ocdbt::NewInteriorEntry& root = parents[0];
        manifest.files = {root.child.file};
        generation.root_height = height;
        generation.root = {.file = 0, .offset = root.child.offset, .length = root.child.length};
        generation.stats = root.stats;
        break;
      }
      if (height == UINT8_MAX) return InternalError("B+tree height limit (255) exceeded");
      ++height;
      CAIRN_ASSIGN_OR_RETURN(nodes, ocdbt::EncodeInteriorLevel(parents, height, build));
    }
    CAIRN_RETURN_IF_ERROR(base::CreateDirectories(item_dir / "d", std::nullopt));
    CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(item_dir / node_file, buffer));
    CAIRN_RETURN_IF_ERROR(base::FsyncPath(item_dir / "d"));
  }
  manifest.versions = {generation};
  CAIRN_ASSIGN_OR_RETURN(std::string encoded, ocdbt::EncodeManifest(manifest));
  const fs::path tmp = item_dir / "manifest.ocdbt.__cairn_tmp";
  CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(tmp, encoded));
  if (std::rename(tmp.c_str(), manifest_path.c_str()) != 0) {
    const int err = errno;
    fs::remove(tmp, ec);
    return base::ErrnoError(err, "rename to", manifest_path);
  }
  return base::FsyncPath(item_dir);
}

Status ValidateMergedDatabase(const fs::path& item_dir, int num_processes) {
  std::vector<NewLeafEntry> entries;
  for (int p = 0; p < num_processes; ++p) {
    const std::string name = ProcessDatabaseName(p);
    CAIRN_RETURN_IF_ERROR(CollectDatabase(item_dir / name, name + "/", &entries));
  }
  std::vector<std::string> want;
  want.reserve(entries.size());
  for (const NewLeafEntry& e : entries) want.push_back(e.key);
  std::sort(want.begin(), want.end());
  const auto bad = [&](const std::string& why) {
    return DataLossError("post-merge validation of '" + (item_dir / "manifest.ocdbt").string() +
                         "' failed: " + why);
  };
  Result<ocdbt::ReadView> view = ocdbt::ReadView::Open(item_dir);
  if (!view.ok()) return bad(view.status().message());
  Result<std::vector<std::string>> have = view->ListKeys();
  if (!have.ok()) return bad(have.status().message());
  if (*have != want) {
    size_t i = 0;
    while (i < want.size() && i < have->size() && want[i] == (*have)[i]) ++i;
    return bad("it lists " + std::to_string(have->size()) + " keys, the process databases " +
               std::to_string(want.size()) + "; first difference at '" +
               (i < want.size() ? want[i] : (*have)[i]) + "'");
  }
  for (const std::string& key : want) {
    if (!key.ends_with("zarr.json")) continue;
    Result<std::optional<std::string>> text = view->Get(key);
    if (!text.ok()) return bad(text.status().message());
    if (!text->has_value()) return bad("no value for '" + key + "'");
    Result<ocdbt::ZarrArrayMetadata> m =
        ocdbt::ParseZarrMetadata(**text, ocdbt::Source{(item_dir / key).string()});
    if (!m.ok()) return bad(m.status().message());
  }
  return OkStatus();
}

}  // namespace cairn::storage
