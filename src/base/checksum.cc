#include "base/checksum.h"

#include <xxhash.h>

#include <cstdio>
#include <cstdlib>

namespace cairn::base {

uint64_t Xxh3(const void* data, size_t size) { return XXH3_64bits(data, size); }

Xxh3Stream::Xxh3Stream() : state_(XXH3_createState()) {
  if (state_ == nullptr) std::abort();  // out of memory
  XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_));
}
Xxh3Stream::~Xxh3Stream() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void Xxh3Stream::Update(const void* data, size_t size) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data, size);
}
uint64_t Xxh3Stream::Digest() const {
  return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state_));
}

std::string ChecksumToHex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool ChecksumFromHex(const std::string& s, uint64_t* out) {
  if (s.size() != 18 || s[0] != '0' || s[1] != 'x') return false;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str() + 2, &end, 16);
  if (end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

}  // namespace cairn::base
