#pragma once
// Most mutations break the length or the CRC, which would stop every input at the envelope.
// For two thirds of the inputs (by size) the fuzzers rewrite both so the bodies get explored.

#include <cstdint>
#include <string>

#include "format/ocdbt/byte_reader.h"

namespace cairn::ocdbt {

inline std::string FixEnvelope(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  if (size < 16 || size % 3 == 0) return s;
  for (int i = 0; i < 8; ++i) s[4 + i] = static_cast<char>(static_cast<uint64_t>(size) >> (8 * i));
  const uint32_t crc = Crc32c(std::string_view(s).substr(0, size - 4));
  for (int i = 0; i < 4; ++i) s[size - 4 + i] = static_cast<char>(crc >> (8 * i));
  return s;
}

}  // namespace cairn::ocdbt
