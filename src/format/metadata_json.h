#pragma once
// Encoding and decoding of `_METADATA` and `_CHECKPOINT_METADATA` (pure, no I/O).

#include <string>
#include <string_view>

#include "cairn/metadata.h"

namespace cairn::format {

std::string EncodeItemMetadata(const ItemMetadata& m);
/// DataLoss (naming `source`) for malformed JSON or fields; FailedPrecondition for a newer
/// format version.
Result<ItemMetadata> DecodeItemMetadata(std::string_view text, std::string_view source);

std::string EncodeCheckpointMetadata(const CheckpointMetadata& m);
Result<CheckpointMetadata> DecodeCheckpointMetadata(std::string_view text,
                                                    std::string_view source);

/// Scalar bit patterns: "0x..." hex of the little-endian value.
std::string ScalarBitsHex(uint64_t bits);

}  // namespace cairn::format
