#pragma once
// Helpers for the OCDBT unit tests: building envelopes and varints by hand.

#include <zstd.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "format/ocdbt/byte_reader.h"

namespace cairn::ocdbt::testing {

inline std::string Varint(uint64_t v) {
  std::string out;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (v);
  return out;
}

inline std::string Le(uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
  return out;
}

inline std::string Hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

inline std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

/// magic | length | version | format | body (zstd-compressed when format == 1) | crc.
inline std::string Wrap(uint32_t magic, std::string_view body, int format = 0,
                        uint64_t version = 0) {
  std::string payload(body);
  if (format == 1) {
    payload.resize(ZSTD_compressBound(body.size()));
    payload.resize(ZSTD_compress(payload.data(), payload.size(), body.data(), body.size(), 3));
  }
  std::string out;
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(magic >> (8 * i)));
  const std::string head = Varint(version) + Varint(static_cast<uint64_t>(format));
  out += Le(4 + 8 + head.size() + payload.size() + 4, 8);
  out += head;
  out += payload;
  out += Le(Crc32c(out), 4);
  return out;
}

}  // namespace cairn::ocdbt::testing
