#pragma once
// XXH3-64 checksums of stored pieces (xxhash library).

#include <cstddef>
#include <cstdint>
#include <string>

namespace cairn::base {

uint64_t Xxh3(const void* data, size_t size);
/// "0x0123456789abcdef" (as stored in _METADATA) and back.
std::string ChecksumToHex(uint64_t v);
bool ChecksumFromHex(const std::string& s, uint64_t* out);

}  // namespace cairn::base
