#pragma once
/// Bounds-checked reading of OCDBT / zarr3 byte strings: varints (unsigned LEB128), fixed-width
/// little/big-endian integers, byte runs. Every failure is a DataLoss Status that names the source
/// (a file path, or a path plus the location of an object inside a data file) and the offset.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::ocdbt {

/// CRC-32C (Castagnoli, reflected, init and xorout 0xFFFFFFFF), via Boost.CRC.
uint32_t Crc32c(std::string_view data);

/// Where a byte string came from, for error messages: "<path>" or "<path> [offset, +length)".
struct Source {
  std::string name;          ///< The file path (or a test name).
  uint64_t file_offset = 0;  ///< Offset of the object inside the file (0 for a whole file).
  bool decoded = false;      ///< True when positions refer to an envelope body (maybe unzstd-ed).
};

/// A cursor over `data`; never reads outside it.
class ByteReader {
 public:
  ByteReader(std::string_view data, const Source& source) : data_(data), source_(&source) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool at_end() const { return pos_ == data_.size(); }

  /// DataLoss "<source>: <what> (at byte N ...)".
  Status Error(std::string_view what) const;

  /// An unsigned LEB128 varint of at most 10 bytes whose value fits in 64 bits.
  Status Varint(uint64_t* out, std::string_view field);
  /// A varint whose value must be at most `max`.
  Status VarintMax(uint64_t* out, uint64_t max, std::string_view field);
  Status Byte(uint8_t* out, std::string_view field);
  Status U32Be(uint32_t* out, std::string_view field);
  Status U32Le(uint32_t* out, std::string_view field);
  Status U64Le(uint64_t* out, std::string_view field);
  /// The next `n` bytes (a view into the input).
  Status Bytes(uint64_t n, std::string_view* out, std::string_view field);
  /// DataLoss unless every byte has been consumed.
  Status ExpectEnd(std::string_view what);

 private:
  Status Truncated(std::string_view field, uint64_t need) const;

  std::string_view data_;
  size_t pos_ = 0;
  const Source* source_;
};

/// DataLoss naming the source: "<source>: <what>".
Status SourceError(const Source& source, std::string_view what);
/// "<name>" or "<name> [offset ...]" as used in messages.
std::string DescribeSource(const Source& source);

}  // namespace cairn::ocdbt
