#pragma once
/// The writing half of byte_reader.h: varints (minimal unsigned LEB128), fixed-width
/// little/big-endian integers, and the envelope of manifests and nodes (spec 1.2, 1.3).
/// Pure: builds byte strings, does no I/O.

#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::ocdbt {

/// Appends to a byte string. Never fails (out of memory terminates).
class ByteWriter {
 public:
  /// Minimal unsigned LEB128: at most 10 bytes; UINT64_MAX is ff*9 01.
  void Varint(uint64_t v);
  void Byte(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32Be(uint32_t v);
  void U32Le(uint32_t v);
  void U64Le(uint64_t v);
  void Bytes(std::string_view bytes) { out_.append(bytes); }

  size_t size() const { return out_.size(); }
  const std::string& data() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  std::string out_;
};

/// How an envelope body is stored (the config's compression, spec 1.4).
struct EnvelopeCompression {
  bool zstd = false;  ///< Default false: raw body (format 0). True: one zstd frame (format 1).
  int32_t level = 0;  ///< zstd level; default 0 is libzstd's default (3).
};

/// magic (uint32be) | length (uint64le) | version 0 | compression format | body (raw or one
/// zstd frame) | CRC-32C (uint32le) of everything before it. Internal if zstd fails (libzstd
/// clamps levels, so only out of memory).
Result<std::string> EncodeEnvelope(uint32_t magic, std::string_view body,
                                   const EnvelopeCompression& compression);

/// One zstd frame of `data` at `level` (0: the default), with the content size in the header;
/// `checksum` adds the 4-byte XXH64 frame checksum. Internal on a zstd error.
Result<std::string> ZstdCompress(std::string_view data, int level, bool checksum = false);

}  // namespace cairn::ocdbt
