#pragma once
/// The envelope shared by OCDBT manifests, version-tree nodes and B+tree nodes (spec 1.3):
///   uint32be magic | uint64le length | varint version (0) | varint compression (0 raw, 1 zstd)
///   | body (raw, or one zstd frame) | uint32le CRC-32C of everything before it.

#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/status.h"
#include "format/ocdbt/byte_reader.h"

namespace cairn::ocdbt {

inline constexpr uint32_t kManifestMagic = 0x0CDB3A2A;
inline constexpr uint32_t kVersionTreeNodeMagic = 0x0CDB1234;
inline constexpr uint32_t kBtreeNodeMagic = 0x0CDB20DE;

/// Limits that keep hostile input from allocating without bound. Defaults suit real databases
/// (Orbax's max_decoded_node_bytes is 100 MB); the fuzzers lower them.
struct DecodeOptions {
  /// Largest decompressed body accepted (default 1 GiB); larger gives DataLoss.
  uint64_t max_decoded_bytes = uint64_t{1} << 30;
  /// Largest total of materialized key bytes in one B+tree node (default 1 GiB): prefix
  /// compression lets a small node describe huge keys.
  uint64_t max_key_bytes = uint64_t{1} << 30;
};

/// Checks magic, length (must equal encoded.size()), version (0), CRC-32C, decompresses a zstd
/// body (exactly one frame, no trailing bytes) and returns the body. DataLoss naming `source`
/// on any mismatch.
Result<std::string> DecodeEnvelope(std::string_view encoded, uint32_t magic, const Source& source,
                                   const DecodeOptions& options = {});

}  // namespace cairn::ocdbt
