#include "format/ocdbt/data_file_table.h"

namespace cairn::ocdbt {

Status ReadDataFileTable(ByteReader& reader, const std::string& transitive_path,
                         std::vector<DataFileId>* files) {
  files->clear();
  if (transitive_path.size() > kMaxPathLength) {
    return reader.Error("transitive path longer than " + std::to_string(kMaxPathLength));
  }
  const uint64_t max_path_length = kMaxPathLength - transitive_path.size();
  uint64_t num_files = 0;
  CAIRN_RETURN_IF_ERROR(reader.Varint(&num_files, "data file table num_files"));
  // Each file has at least a suffix-length and a base-length varint (1 byte each).
  if (num_files > reader.remaining() / 2) {
    return reader.Error("data file table claims " + std::to_string(num_files) + " files but only " +
                        std::to_string(reader.remaining()) + " bytes remain");
  }
  const size_t n = static_cast<size_t>(num_files);
  std::vector<uint64_t> prefix(n, 0), suffix(n, 0), base(n, 0);
  for (size_t i = 1; i < n; ++i) {
    CAIRN_RETURN_IF_ERROR(reader.VarintMax(&prefix[i], kMaxPathLength, "path_prefix_length"));
  }
  for (size_t i = 0; i < n; ++i) {
    CAIRN_RETURN_IF_ERROR(reader.VarintMax(&suffix[i], kMaxPathLength, "path_suffix_length"));
  }
  for (size_t i = 0; i < n; ++i) {
    CAIRN_RETURN_IF_ERROR(reader.VarintMax(&base[i], kMaxPathLength, "base_path_length"));
  }
  files->resize(n);
  std::string prev_full;  // base + relative of entry i-1, without the transitive path
  for (size_t i = 0; i < n; ++i) {
    const uint64_t path_length = prefix[i] + suffix[i];
    const std::string where = "data file table entry " + std::to_string(i) + ": ";
    if (path_length > max_path_length) {
      return reader.Error(where + "path length " + std::to_string(path_length) +
                          " exceeds the maximum " + std::to_string(max_path_length));
    }
    if (base[i] > path_length) {
      return reader.Error(where + "base_path_length " + std::to_string(base[i]) +
                          " exceeds the path length " + std::to_string(path_length));
    }
    if (prefix[i] > prev_full.size()) {
      return reader.Error(where + "path_prefix_length " + std::to_string(prefix[i]) +
                          " exceeds the previous path's length " +
                          std::to_string(prev_full.size()));
    }
    // TensorStore's rule: a prefix may extend past a base path only when the two base paths
    // have the same length (then they are identical).
    if (i > 0 && prefix[i] > std::min(base[i - 1], base[i]) && base[i] != base[i - 1]) {
      return reader.Error(where + "path_prefix_length " + std::to_string(prefix[i]) +
                          " extends past base paths of different lengths");
    }
    std::string_view suffix_bytes;
    CAIRN_RETURN_IF_ERROR(reader.Bytes(suffix[i], &suffix_bytes, "data file path suffix"));
    std::string full = prev_full.substr(0, prefix[i]);
    full.append(suffix_bytes);
    (*files)[i].base_path = transitive_path + full.substr(0, base[i]);
    (*files)[i].relative_path = full.substr(base[i]);
    prev_full = std::move(full);
  }
  return OkStatus();
}

Status CheckFileIndex(const ByteReader& reader, uint64_t index, uint64_t num_files) {
  if (index >= num_files) {
    return reader.Error("data file id " + std::to_string(index) + " outside the table of " +
                        std::to_string(num_files) + " files");
  }
  return OkStatus();
}

Status ReadIndirectRefs(ByteReader& reader, uint64_t num_files, bool allow_missing,
                        std::vector<IndirectRef>& refs) {
  for (auto& ref : refs) {
    CAIRN_RETURN_IF_ERROR(reader.Varint(&ref.file, "data_file_id"));
    CAIRN_RETURN_IF_ERROR(CheckFileIndex(reader, ref.file, num_files));
  }
  for (auto& ref : refs) CAIRN_RETURN_IF_ERROR(reader.Varint(&ref.offset, "offset"));
  for (auto& ref : refs) CAIRN_RETURN_IF_ERROR(reader.Varint(&ref.length, "length"));
  for (const auto& ref : refs) {
    if (allow_missing && ref.IsMissing()) continue;
    if (ref.offset > UINT64_MAX - ref.length) {
      return reader.Error("offset " + std::to_string(ref.offset) + " + length " +
                          std::to_string(ref.length) + " overflows");
    }
  }
  return OkStatus();
}

Status ReadBtreeStats(ByteReader& reader, std::vector<BtreeStats>& stats) {
  for (auto& s : stats) CAIRN_RETURN_IF_ERROR(reader.Varint(&s.num_keys, "num_keys"));
  for (auto& s : stats) CAIRN_RETURN_IF_ERROR(reader.Varint(&s.num_tree_bytes, "num_tree_bytes"));
  for (auto& s : stats) {
    CAIRN_RETURN_IF_ERROR(reader.Varint(&s.num_indirect_value_bytes, "num_indirect_value_bytes"));
  }
  return OkStatus();
}

}  // namespace cairn::ocdbt
