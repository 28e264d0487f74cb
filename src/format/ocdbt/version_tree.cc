#include "format/ocdbt/version_tree.h"

namespace cairn::ocdbt {
namespace {

std::string Str(uint64_t v) { return std::to_string(v); }

Status ReadCount(ByteReader& reader, uint64_t max_entries, bool allow_empty, uint64_t* n) {
  CAIRN_RETURN_IF_ERROR(reader.Varint(n, "num_entries"));
  if ((*n == 0 && !allow_empty) || *n > max_entries) {
    return reader.Error("num_entries " + Str(*n) + " outside [" + (allow_empty ? "0" : "1") + ", " +
                        Str(max_entries) + "]");
  }
  return OkStatus();
}

Status ValidateInteriorEntries(const ByteReader& reader, uint8_t arity_log2, uint8_t height,
                               const std::vector<VersionNodeRef>& entries) {
  const uint64_t stride = uint64_t{1} << (arity_log2 * height);  // height <= 63/arity - 1
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const std::string at = "entry " + Str(i) + ": ";
    if (e.generation_number == 0) return reader.Error(at + "generation_number is 0");
    if (i > 0) {
      const auto& p = entries[i - 1];
      if (e.generation_number <= p.generation_number) {
        return reader.Error(at + "generation_number " + Str(e.generation_number) +
                            " not above the previous " + Str(p.generation_number));
      }
      if ((e.generation_number - 1) / stride == (p.generation_number - 1) / stride) {
        return reader.Error(at + "generation_number " + Str(e.generation_number) +
                            " belongs to the same child as " + Str(p.generation_number));
      }
    }
    if (e.generation_number % stride != 0) {
      return reader.Error(at + "generation_number " + Str(e.generation_number) +
                          " is not a multiple of " + Str(stride));
    }
    if (e.num_generations > stride) {
      return reader.Error(at + "num_generations " + Str(e.num_generations) + " exceeds " +
                          Str(stride));
    }
  }
  const uint64_t arity = uint64_t{1} << arity_log2;
  if ((entries.back().generation_number - 1) / stride / arity !=
      (entries.front().generation_number - 1) / stride / arity) {
    return reader.Error("generations " + Str(entries.front().generation_number) + " and " +
                        Str(entries.back().generation_number) + " cannot share one node");
  }
  return OkStatus();
}

}  // namespace

Status ReadArityLog2(ByteReader& reader, uint8_t* arity_log2) {
  CAIRN_RETURN_IF_ERROR(reader.Byte(arity_log2, "version_tree_arity_log2"));
  if (*arity_log2 == 0 || *arity_log2 > kMaxVersionTreeArityLog2) {
    return reader.Error("version_tree_arity_log2 " + Str(*arity_log2) + " outside [1, 16]");
  }
  return OkStatus();
}

Status ReadGenerationRefs(ByteReader& reader, uint8_t arity_log2, uint64_t num_files,
                          std::vector<GenerationRef>* entries) {
  uint64_t n = 0;
  CAIRN_RETURN_IF_ERROR(ReadCount(reader, uint64_t{1} << arity_log2, false, &n));
  entries->assign(n, GenerationRef{});
  for (auto& e : *entries) {
    CAIRN_RETURN_IF_ERROR(reader.Varint(&e.generation_number, "generation_number"));
  }
  for (auto& e : *entries) CAIRN_RETURN_IF_ERROR(reader.Byte(&e.root_height, "root_height"));
  std::vector<IndirectRef> refs(n);
  std::vector<BtreeStats> stats(n);
  CAIRN_RETURN_IF_ERROR(ReadIndirectRefs(reader, num_files, /*allow_missing=*/true, refs));
  CAIRN_RETURN_IF_ERROR(ReadBtreeStats(reader, stats));
  for (size_t i = 0; i < n; ++i) {
    (*entries)[i].root = refs[i];
    (*entries)[i].stats = stats[i];
  }
  for (auto& e : *entries) CAIRN_RETURN_IF_ERROR(reader.U64Le(&e.commit_time_ns, "commit_time"));

  for (size_t i = 0; i < n; ++i) {
    const auto& e = (*entries)[i];
    const std::string at = "generation entry " + Str(i) + ": ";
    if (e.root.IsMissing() && (e.root_height != 0 || !(e.stats == BtreeStats{}))) {
      return reader.Error(at + "empty generation " + Str(e.generation_number) +
                          " has a non-zero root height or statistics");
    }
    if (e.generation_number == 0) return reader.Error(at + "generation_number is 0");
    if (i > 0 && e.generation_number <= (*entries)[i - 1].generation_number) {
      return reader.Error(at + "generation_number " + Str(e.generation_number) +
                          " not above the previous " + Str((*entries)[i - 1].generation_number));
    }
  }
  const uint64_t last = entries->back().generation_number;
  const uint64_t min_first = last - (last - 1) % (uint64_t{1} << arity_log2);
  if (entries->front().generation_number < min_first) {
    return reader.Error("generations [" + Str(entries->front().generation_number) + ", " +
                        Str(last) + "] exceed one leaf's range [" + Str(min_first) + ", " +
                        Str(last) + "]");
  }
  return OkStatus();
}

Status ReadVersionNodeRefs(ByteReader& reader, uint64_t max_entries, uint64_t num_files,
                           bool with_height, uint8_t child_height,
                           std::vector<VersionNodeRef>* entries) {
  uint64_t n = 0;
  CAIRN_RETURN_IF_ERROR(ReadCount(reader, max_entries, /*allow_empty=*/with_height, &n));
  entries->assign(n, VersionNodeRef{});
  for (auto& e : *entries) {
    CAIRN_RETURN_IF_ERROR(reader.Varint(&e.generation_number, "generation_number"));
  }
  std::vector<IndirectRef> refs(n);
  CAIRN_RETURN_IF_ERROR(ReadIndirectRefs(reader, num_files, /*allow_missing=*/false, refs));
  for (size_t i = 0; i < n; ++i) (*entries)[i].location = refs[i];
  for (auto& e : *entries) {
    CAIRN_RETURN_IF_ERROR(reader.Varint(&e.num_generations, "num_generations"));
  }
  for (auto& e : *entries) CAIRN_RETURN_IF_ERROR(reader.U64Le(&e.commit_time_ns, "commit_time"));
  for (auto& e : *entries) {
    if (with_height) {
      CAIRN_RETURN_IF_ERROR(reader.Byte(&e.height, "entry_height"));
    } else {
      e.height = child_height;
    }
  }
  return OkStatus();
}

Result<VersionTreeNode> DecodeVersionTreeNode(std::string_view encoded, const Source& source,
                                              const std::string& transitive_path,
                                              const DecodeOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::string body,
                         DecodeEnvelope(encoded, kVersionTreeNodeMagic, source, options));
  Source body_source = source;
  body_source.decoded = true;
  ByteReader r(body, body_source);
  VersionTreeNode node;
  CAIRN_RETURN_IF_ERROR(ReadArityLog2(r, &node.arity_log2));
  CAIRN_RETURN_IF_ERROR(r.Byte(&node.height, "height"));
  CAIRN_RETURN_IF_ERROR(ReadDataFileTable(r, transitive_path, &node.files));
  if (node.height == 0) {
    CAIRN_RETURN_IF_ERROR(
        ReadGenerationRefs(r, node.arity_log2, node.files.size(), &node.leaf_entries));
  } else {
    const uint8_t max_height = MaxVersionTreeHeight(node.arity_log2);
    if (node.height > max_height) {
      return r.Error("version-tree node height " + Str(node.height) + " exceeds " +
                     Str(max_height) + " for arity_log2 " + Str(node.arity_log2));
    }
    CAIRN_RETURN_IF_ERROR(ReadVersionNodeRefs(r, uint64_t{1} << node.arity_log2, node.files.size(),
                                              false, static_cast<uint8_t>(node.height - 1),
                                              &node.interior_entries));
    CAIRN_RETURN_IF_ERROR(
        ValidateInteriorEntries(r, node.arity_log2, node.height, node.interior_entries));
  }
  CAIRN_RETURN_IF_ERROR(r.ExpectEnd("the version-tree node"));
  return node;
}

}  // namespace cairn::ocdbt
