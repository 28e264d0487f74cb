#pragma once
// XXH3-64 checksums of stored pieces (xxhash library).

#include <cstddef>
#include <cstdint>
#include <string>

namespace cairn::base {

uint64_t Xxh3(const void* data, size_t size);
/// XXH3-64 over data fed in consecutive parts; the digest equals Xxh3 of the concatenation.
class Xxh3Stream {
 public:
  Xxh3Stream();
  ~Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;
  void Update(const void* data, size_t size);
  uint64_t Digest() const;

 private:
  void* state_;  // XXH3_state_t
};

/// "0x0123456789abcdef" (as stored in _METADATA) and back.
std::string ChecksumToHex(uint64_t v);
bool ChecksumFromHex(const std::string& s, uint64_t* out);

}  // namespace cairn::base
