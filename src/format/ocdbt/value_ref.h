#pragma once
/// Locating a value in an OCDBT database without reading it, and reading part of it: for large
/// values (zarr shards) whose caller needs a few byte ranges (the shard index at the end, some
/// rows of an uncompressed chunk) rather than the whole value. Built on ReadView::Locate; I/O
/// (POSIX pread) like read_view.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "cairn/status.h"
#include "format/ocdbt/btree_builder.h"
#include "format/ocdbt/read_view.h"

namespace cairn::ocdbt {

/// A value as a leaf holds it: inline bytes, or a range of a data file (path relative to the
/// database root).
using ValueRef = std::variant<std::string, FileRange>;

/// Where the value of `key` is, or nullopt if the key is absent (ReadView::Locate: the same
/// walk and checks as Get).
Result<std::optional<ValueRef>> GetValueRef(const ReadView& view, std::string_view key);

/// Reads bytes [offset, offset + length) of the value at `range` into `dest`. DataLoss if that
/// passes the end of the value or of the file, or the path leaves the root.
Status ReadValueBytes(const ReadView& view, const FileRange& range, uint64_t offset,
                      uint64_t length, char* dest);

}  // namespace cairn::ocdbt
