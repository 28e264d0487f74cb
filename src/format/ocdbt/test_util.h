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

// ocdbt-format.md 1.12, byte for byte (TensorStore reads it back): a B+tree leaf and the manifest
// that points at it.
inline const std::string kSpecFile = "d/0123456789abcdef0123456789abcdef";
inline std::string SpecLeaf() {
  return Hex("0cdb20de52000000000000000000"
             "00"
             "012200") +
         kSpecFile +
         Hex("02"
             "02"
             "0509") +
         "x/c/0" + "zarr.json" +
         Hex("1002"
             "0100"
             "00"
             "00") +
         "{}" + Hex("427c5d2e");
}
inline std::string SpecManifest() {
  std::string uuid;
  for (int i = 0; i < 16; ++i) uuid.push_back(static_cast<char>(i));
  return Hex("0cdb3a2a62000000000000000000") + uuid +
         Hex("00"
             "8008"
             "80c2d72f"
             "04"
             "00"
             "012200") +
         kSpecFile +
         Hex("01"
             "01"
             "00"
             "00"
             "10"
             "52"
             "02"
             "52"
             "10") +
         Le(1700000000000000000ull, 8) +
         Hex("00"
             "98ec7fd4");
}

}  // namespace cairn::ocdbt::testing
