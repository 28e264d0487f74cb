#include "format/ocdbt/encode.h"

#include <algorithm>
#include <type_traits>

namespace cairn::ocdbt {
namespace {

std::string Str(uint64_t v) { return std::to_string(v); }

size_t CommonPrefix(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// The file an object's reference names; the missing reference may name none.
Result<DataFileId> FileOf(const std::vector<DataFileId>& files, const IndirectRef& ref,
                          bool allow_missing, std::string_view what) {
  if (allow_missing && ref.IsMissing() && ref.file >= files.size()) return DataFileId{};
  if (ref.file >= files.size()) {
    return InvalidArgumentError(std::string(what) + ": data file index " + Str(ref.file) +
                                " outside the " + Str(files.size()) + " files");
  }
  return files[ref.file];
}

// Adds the referenced files to `table`, returning them in reference order.
Result<std::vector<DataFileId>> CollectFiles(const std::vector<DataFileId>& files,
                                             const std::vector<const IndirectRef*>& refs,
                                             bool allow_missing, std::string_view what,
                                             DataFileTableBuilder& table) {
  std::vector<DataFileId> out;
  out.reserve(refs.size());
  for (const IndirectRef* ref : refs) {
    CAIRN_ASSIGN_OR_RETURN(DataFileId f, FileOf(files, *ref, allow_missing, what));
    table.Add(f);
    out.push_back(std::move(f));
  }
  return out;
}

// The key columns shared by leaf and interior nodes (spec 1.10).
template <typename Entry>
Status WriteKeys(const std::vector<Entry>& entries, ByteWriter& w) {
  const size_t n = entries.size();
  std::vector<size_t> prefix(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const std::string& key = entries[i].key;
    if (key.size() > kMaxKeyLength) {
      return InvalidArgumentError("B+tree entry " + Str(i) + ": key of " + Str(key.size()) +
                                  " bytes exceeds " + Str(kMaxKeyLength));
    }
    if (i > 0) {
      if (!(entries[i - 1].key < key)) {
        return InvalidArgumentError("B+tree entry " + Str(i) +
                                    ": keys are not strictly increasing");
      }
      prefix[i] = CommonPrefix(entries[i - 1].key, key);
    }
  }
  for (size_t i = 1; i < n; ++i) w.Varint(prefix[i]);
  for (size_t i = 0; i < n; ++i) w.Varint(entries[i].key.size() - prefix[i]);
  if constexpr (std::is_same_v<Entry, BtreeInteriorEntry>) {
    for (size_t i = 0; i < n; ++i) {
      if (entries[i].subtree_common_prefix_length > entries[i].key.size()) {
        return InvalidArgumentError("B+tree entry " + Str(i) +
                                    ": subtree common prefix longer than the key");
      }
      w.Varint(entries[i].subtree_common_prefix_length);
    }
  }
  for (size_t i = 0; i < n; ++i) w.Bytes(std::string_view(entries[i].key).substr(prefix[i]));
  return OkStatus();
}

// Leaf-entry array of the version tree (spec 1.7).
Status WriteGenerationRefs(const std::vector<GenerationRef>& entries,
                           const std::vector<DataFileId>& ref_files,
                           const DataFileTableBuilder& table, ByteWriter& w) {
  w.Varint(entries.size());
  for (const auto& e : entries) w.Varint(e.generation_number);
  for (const auto& e : entries) w.Byte(e.root_height);
  for (const auto& f : ref_files) w.Varint(table.IndexOf(f));
  for (const auto& e : entries) w.Varint(e.root.offset);
  for (const auto& e : entries) w.Varint(e.root.length);
  for (const auto& e : entries) w.Varint(e.stats.num_keys);
  for (const auto& e : entries) w.Varint(e.stats.num_tree_bytes);
  for (const auto& e : entries) w.Varint(e.stats.num_indirect_value_bytes);
  for (const auto& e : entries) w.U64Le(e.commit_time_ns);
  return OkStatus();
}

// Interior-entry array (spec 1.8); the manifest form adds the height column.
void WriteVersionNodeRefs(const std::vector<VersionNodeRef>& entries,
                          const std::vector<DataFileId>& ref_files,
                          const DataFileTableBuilder& table, bool with_height, ByteWriter& w) {
  w.Varint(entries.size());
  for (const auto& e : entries) w.Varint(e.generation_number);
  for (const auto& f : ref_files) w.Varint(table.IndexOf(f));
  for (const auto& e : entries) w.Varint(e.location.offset);
  for (const auto& e : entries) w.Varint(e.location.length);
  for (const auto& e : entries) w.Varint(e.num_generations);
  for (const auto& e : entries) w.U64Le(e.commit_time_ns);
  if (with_height) {
    for (const auto& e : entries) w.Byte(e.height);
  }
}

Status CheckVersionCount(size_t n, uint8_t arity_log2, bool allow_empty) {
  if (arity_log2 == 0 || arity_log2 > kMaxVersionTreeArityLog2) {
    return InvalidArgumentError("version_tree_arity_log2 " + Str(arity_log2) + " outside [1, 16]");
  }
  if ((n == 0 && !allow_empty) || n > (uint64_t{1} << arity_log2)) {
    return InvalidArgumentError("version-tree entry count " + Str(n) + " outside [" +
                                (allow_empty ? "0" : "1") + ", " + Str(uint64_t{1} << arity_log2) +
                                "]");
  }
  return OkStatus();
}

}  // namespace

Status DataFileTableBuilder::Encode(ByteWriter& w) {
  w.Varint(index_.size());
  std::vector<const std::pair<std::string, std::string>*> files;
  files.reserve(index_.size());
  uint64_t i = 0;
  for (auto& [key, index] : index_) {
    if (key.first.size() + key.second.size() > kMaxPathLength) {
      return InvalidArgumentError("data file path '" + key.first + key.second + "' exceeds " +
                                  Str(kMaxPathLength) + " bytes");
    }
    index = i++;
    files.push_back(&key);
  }
  std::vector<size_t> prefix(files.size(), 0);
  for (size_t k = 1; k < files.size(); ++k) {
    const auto& [prev_base, prev_rel] = *files[k - 1];
    const auto& [base, rel] = *files[k];
    size_t p = CommonPrefix(prev_base, base);
    if (prev_base.size() == base.size() && p == base.size()) p += CommonPrefix(prev_rel, rel);
    prefix[k] = p;
    w.Varint(p);
  }
  for (size_t k = 0; k < files.size(); ++k) {
    w.Varint(files[k]->first.size() + files[k]->second.size() - prefix[k]);
  }
  for (const auto* f : files) w.Varint(f->first.size());
  for (size_t k = 0; k < files.size(); ++k) {
    const auto& [base, rel] = *files[k];
    const size_t in_base = std::min(prefix[k], base.size());
    w.Bytes(std::string_view(base).substr(in_base));
    w.Bytes(std::string_view(rel).substr(prefix[k] - in_base));
  }
  return OkStatus();
}

void EncodeConfig(const Config& c, ByteWriter& w) {
  w.Bytes(std::string_view(reinterpret_cast<const char*>(c.uuid.data()), c.uuid.size()));
  w.Byte(static_cast<uint8_t>(c.manifest_kind));
  w.Varint(c.max_inline_value_bytes);
  w.Varint(c.max_decoded_node_bytes);
  w.Byte(c.version_tree_arity_log2);
  w.Varint(c.zstd ? 1 : 0);
  if (c.zstd) w.U32Le(static_cast<uint32_t>(c.zstd_level));
}

Result<std::string> EncodeBtreeNode(const BtreeNode& node, const EnvelopeCompression& compression) {
  const bool leaf = node.height == 0;
  const size_t n = leaf ? node.leaf_entries.size() : node.interior_entries.size();
  if (n == 0 || n > kMaxNodeArity) {
    return InvalidArgumentError("B+tree node with " + Str(n) + " entries (allowed: 1 to " +
                                Str(kMaxNodeArity) + ")");
  }
  std::vector<const IndirectRef*> refs;
  if (leaf) {
    for (const auto& e : node.leaf_entries) {
      if (const auto* ref = std::get_if<IndirectRef>(&e.value)) refs.push_back(ref);
    }
  } else {
    for (const auto& e : node.interior_entries) refs.push_back(&e.child);
  }
  DataFileTableBuilder table;
  CAIRN_ASSIGN_OR_RETURN(std::vector<DataFileId> ref_files,
                         CollectFiles(node.files, refs, false, "B+tree node", table));
  ByteWriter w;
  w.Byte(node.height);
  CAIRN_RETURN_IF_ERROR(table.Encode(w));
  w.Varint(n);
  if (leaf) {
    CAIRN_RETURN_IF_ERROR(WriteKeys(node.leaf_entries, w));
    for (size_t i = 0; i < n; ++i) {
      const auto& v = node.leaf_entries[i].value;
      if (const auto* s = std::get_if<std::string>(&v)) {
        if (s->size() > kMaxInlineValueLength) {
          return InvalidArgumentError("B+tree entry " + Str(i) + ": inline value of " +
                                      Str(s->size()) + " bytes exceeds " +
                                      Str(kMaxInlineValueLength));
        }
        w.Varint(s->size());
      } else {
        w.Varint(std::get<IndirectRef>(v).length);
      }
    }
    for (const auto& e : node.leaf_entries) w.Byte(e.is_inline() ? 0 : 1);
    for (const auto& f : ref_files) w.Varint(table.IndexOf(f));
    for (const IndirectRef* ref : refs) w.Varint(ref->offset);
    for (const auto& e : node.leaf_entries) {
      if (const auto* s = std::get_if<std::string>(&e.value)) w.Bytes(*s);
    }
  } else {
    CAIRN_RETURN_IF_ERROR(WriteKeys(node.interior_entries, w));
    for (const auto& f : ref_files) w.Varint(table.IndexOf(f));
    for (const auto& e : node.interior_entries) w.Varint(e.child.offset);
    for (const auto& e : node.interior_entries) w.Varint(e.child.length);
    for (const auto& e : node.interior_entries) w.Varint(e.stats.num_keys);
    for (const auto& e : node.interior_entries) w.Varint(e.stats.num_tree_bytes);
    for (const auto& e : node.interior_entries) w.Varint(e.stats.num_indirect_value_bytes);
  }
  return EncodeEnvelope(kBtreeNodeMagic, w.data(), compression);
}

Result<std::string> EncodeVersionTreeNode(const VersionTreeNode& node,
                                          const EnvelopeCompression& compression) {
  const bool leaf = node.height == 0;
  CAIRN_RETURN_IF_ERROR(CheckVersionCount(
      leaf ? node.leaf_entries.size() : node.interior_entries.size(), node.arity_log2, false));
  std::vector<const IndirectRef*> refs;
  if (leaf) {
    for (const auto& e : node.leaf_entries) refs.push_back(&e.root);
  } else {
    for (const auto& e : node.interior_entries) refs.push_back(&e.location);
  }
  DataFileTableBuilder table;
  CAIRN_ASSIGN_OR_RETURN(std::vector<DataFileId> ref_files,
                         CollectFiles(node.files, refs, leaf, "version-tree node", table));
  ByteWriter w;
  w.Byte(node.arity_log2);
  w.Byte(node.height);
  CAIRN_RETURN_IF_ERROR(table.Encode(w));
  if (leaf) {
    CAIRN_RETURN_IF_ERROR(WriteGenerationRefs(node.leaf_entries, ref_files, table, w));
  } else {
    WriteVersionNodeRefs(node.interior_entries, ref_files, table, false, w);
  }
  return EncodeEnvelope(kVersionTreeNodeMagic, w.data(), compression);
}

Result<std::string> EncodeManifest(const Manifest& m) {
  ByteWriter w;
  EncodeConfig(m.config, w);
  if (m.config.manifest_kind == ManifestKind::kSingle) {
    const uint8_t arity = m.config.version_tree_arity_log2;
    CAIRN_RETURN_IF_ERROR(CheckVersionCount(m.versions.size(), arity, false));
    if (m.version_nodes.size() > MaxVersionTreeHeight(arity)) {
      return InvalidArgumentError("manifest with " + Str(m.version_nodes.size()) +
                                  " version node references (at most " +
                                  Str(MaxVersionTreeHeight(arity)) + ")");
    }
    std::vector<const IndirectRef*> version_refs, node_refs;
    for (const auto& e : m.versions) version_refs.push_back(&e.root);
    for (const auto& e : m.version_nodes) node_refs.push_back(&e.location);
    DataFileTableBuilder table;
    CAIRN_ASSIGN_OR_RETURN(std::vector<DataFileId> version_files,
                           CollectFiles(m.files, version_refs, true, "manifest version", table));
    CAIRN_ASSIGN_OR_RETURN(std::vector<DataFileId> node_files,
                           CollectFiles(m.files, node_refs, false, "manifest version node", table));
    CAIRN_RETURN_IF_ERROR(table.Encode(w));
    CAIRN_RETURN_IF_ERROR(WriteGenerationRefs(m.versions, version_files, table, w));
    WriteVersionNodeRefs(m.version_nodes, node_files, table, true, w);
  }
  return EncodeEnvelope(kManifestMagic, w.data(), CompressionOf(m.config));
}

}  // namespace cairn::ocdbt
