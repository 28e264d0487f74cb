// libFuzzer: DecodeShardIndex; the first byte is the number of inner chunks, the rest the shard.
#include <cstdlib>

#include "format/ocdbt/shard_index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::ocdbt;
  if (size == 0) return 0;
  const Source src{"fuzz/c/0"};
  std::string_view shard(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto r = DecodeShardIndex(shard, data[0], src);
  if (!r.ok() && r.status().code() != cairn::StatusCode::kDataLoss) std::abort();
  if (r.ok()) {
    for (const auto& c : *r) {  // every present chunk must lie inside the shard
      if (!c.IsMissing() && (c.offset > shard.size() || c.nbytes > shard.size() - c.offset)) {
        std::abort();
      }
    }
  }
  return 0;
}
