#include "format/ocdbt/btree.h"

namespace cairn::ocdbt {
namespace {

std::string Str(uint64_t v) { return std::to_string(v); }

// The key columns: prefix lengths (entries 1..), suffix lengths, [subtree common prefix
// lengths], suffix bytes. Writes the full relative keys into `keys`.
Status ReadKeys(ByteReader& r, size_t n, bool interior, const DecodeOptions& options,
                std::vector<std::string>* keys, std::vector<uint64_t>* subtree_prefix) {
  std::vector<uint64_t> prefix(n, 0), suffix(n, 0);
  for (size_t i = 1; i < n; ++i) {
    CAIRN_RETURN_IF_ERROR(r.VarintMax(&prefix[i], kMaxKeyLength, "key_prefix_length"));
  }
  for (size_t i = 0; i < n; ++i) {
    CAIRN_RETURN_IF_ERROR(r.VarintMax(&suffix[i], kMaxKeyLength, "key_suffix_length"));
  }
  if (interior) {
    subtree_prefix->assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      CAIRN_RETURN_IF_ERROR(
          r.VarintMax(&(*subtree_prefix)[i], kMaxKeyLength, "subtree_common_prefix_length"));
    }
  }
  uint64_t total = 0;
  uint64_t prev_length = 0;
  for (size_t i = 0; i < n; ++i) {
    const std::string at = "entry " + Str(i) + ": ";
    if (prefix[i] > prev_length) {
      return r.Error(at + "key prefix length " + Str(prefix[i]) +
                     " exceeds the previous key's length " + Str(prev_length));
    }
    const uint64_t length = prefix[i] + suffix[i];
    if (length > kMaxKeyLength) {
      return r.Error(at + "key length " + Str(length) + " exceeds " + Str(kMaxKeyLength));
    }
    if (interior && (*subtree_prefix)[i] > length) {
      return r.Error(at + "subtree common prefix length " + Str((*subtree_prefix)[i]) +
                     " exceeds the key length " + Str(length));
    }
    total += length;
    if (total > options.max_key_bytes) {
      return r.Error("keys of the node total more than " + Str(options.max_key_bytes) + " bytes");
    }
    prev_length = length;
  }
  keys->assign(n, std::string());
  for (size_t i = 0; i < n; ++i) {
    std::string_view bytes;
    CAIRN_RETURN_IF_ERROR(r.Bytes(suffix[i], &bytes, "key suffix"));
    std::string& key = (*keys)[i];
    if (i > 0) {
      const std::string& prev = (*keys)[i - 1];
      // Strictly increasing: the suffix must sort after the rest of the previous key.
      if (std::string_view(prev).substr(prefix[i]) >= bytes) {
        return r.Error("entry " + Str(i) + ": keys are not strictly increasing");
      }
      key.reserve(prefix[i] + bytes.size());
      key.assign(prev, 0, prefix[i]);
    }
    key.append(bytes);
  }
  return OkStatus();
}

Status ReadLeaf(ByteReader& r, size_t n, uint64_t num_files, const DecodeOptions& options,
                std::vector<BtreeLeafEntry>* entries) {
  std::vector<std::string> keys;
  CAIRN_RETURN_IF_ERROR(ReadKeys(r, n, false, options, &keys, nullptr));
  std::vector<uint64_t> lengths(n);
  for (auto& l : lengths) CAIRN_RETURN_IF_ERROR(r.Varint(&l, "value_length"));
  std::vector<uint8_t> kinds(n);
  size_t num_indirect = 0;
  for (size_t i = 0; i < n; ++i) {
    CAIRN_RETURN_IF_ERROR(r.Byte(&kinds[i], "value_kind"));
    if (kinds[i] > 1) {
      return r.Error("entry " + Str(i) + ": value_kind " + Str(kinds[i]) +
                     " outside [0 inline, 1 indirect]");
    }
    if (kinds[i] == 0 && lengths[i] > kMaxInlineValueLength) {
      return r.Error("entry " + Str(i) + ": inline value length " + Str(lengths[i]) + " exceeds " +
                     Str(kMaxInlineValueLength));
    }
    num_indirect += kinds[i];
  }
  std::vector<IndirectRef> refs(num_indirect);
  for (auto& ref : refs) {
    CAIRN_RETURN_IF_ERROR(r.Varint(&ref.file, "data_file_id"));
    CAIRN_RETURN_IF_ERROR(CheckFileIndex(r, ref.file, num_files));
  }
  for (auto& ref : refs) CAIRN_RETURN_IF_ERROR(r.Varint(&ref.offset, "offset"));
  entries->resize(n);
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    auto& e = (*entries)[i];
    e.key = std::move(keys[i]);
    if (kinds[i] == 1) {
      IndirectRef ref = refs[k++];
      ref.length = lengths[i];
      if (ref.offset > UINT64_MAX - ref.length) {
        return r.Error("entry " + Str(i) + ": offset " + Str(ref.offset) + " + length " +
                       Str(ref.length) + " overflows");
      }
      e.value = ref;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (kinds[i] != 0) continue;
    std::string_view bytes;
    CAIRN_RETURN_IF_ERROR(r.Bytes(lengths[i], &bytes, "inline value"));
    (*entries)[i].value = std::string(bytes);
  }
  return OkStatus();
}

Status ReadInterior(ByteReader& r, size_t n, uint64_t num_files, const DecodeOptions& options,
                    std::vector<BtreeInteriorEntry>* entries) {
  std::vector<std::string> keys;
  std::vector<uint64_t> subtree_prefix;
  CAIRN_RETURN_IF_ERROR(ReadKeys(r, n, true, options, &keys, &subtree_prefix));
  std::vector<IndirectRef> refs(n);
  std::vector<BtreeStats> stats(n);
  CAIRN_RETURN_IF_ERROR(ReadIndirectRefs(r, num_files, /*allow_missing=*/false, refs));
  CAIRN_RETURN_IF_ERROR(ReadBtreeStats(r, stats));
  entries->resize(n);
  for (size_t i = 0; i < n; ++i) {
    auto& e = (*entries)[i];
    e.key = std::move(keys[i]);
    e.subtree_common_prefix_length = subtree_prefix[i];
    e.child = refs[i];
    e.stats = stats[i];
  }
  return OkStatus();
}

}  // namespace

Result<BtreeNode> DecodeBtreeNode(std::string_view encoded, const Source& source,
                                  const std::string& transitive_path,
                                  const DecodeOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::string body,
                         DecodeEnvelope(encoded, kBtreeNodeMagic, source, options));
  Source body_source = source;
  body_source.decoded = true;
  ByteReader r(body, body_source);
  BtreeNode node;
  CAIRN_RETURN_IF_ERROR(r.Byte(&node.height, "height"));
  CAIRN_RETURN_IF_ERROR(ReadDataFileTable(r, transitive_path, &node.files));
  uint64_t n = 0;
  CAIRN_RETURN_IF_ERROR(r.Varint(&n, "num_entries"));
  if (n == 0 || n > kMaxNodeArity) {
    return r.Error("num_entries " + Str(n) + " outside [1, " + Str(kMaxNodeArity) + "]");
  }
  // Every entry has at least one byte in each of several columns.
  if (n > r.remaining()) {
    return r.Error("num_entries " + Str(n) + " exceeds the " + Str(r.remaining()) + " bytes left");
  }
  if (node.height == 0) {
    CAIRN_RETURN_IF_ERROR(ReadLeaf(r, n, node.files.size(), options, &node.leaf_entries));
  } else {
    CAIRN_RETURN_IF_ERROR(ReadInterior(r, n, node.files.size(), options, &node.interior_entries));
  }
  CAIRN_RETURN_IF_ERROR(r.ExpectEnd("the B+tree node"));
  return node;
}

}  // namespace cairn::ocdbt
