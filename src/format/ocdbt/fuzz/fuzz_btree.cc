// libFuzzer: DecodeBtreeNode on arbitrary bytes must return OK or DataLoss, never crash.
#include <cstdlib>

#include "format/ocdbt/btree.h"
#include "format/ocdbt/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::ocdbt;
  const Source src{"fuzz/d/node", 16};
  auto r = DecodeBtreeNode(FixEnvelope(data, size), src, "base/",
                           DecodeOptions{.max_decoded_bytes = 1 << 20, .max_key_bytes = 1 << 22});
  if (!r.ok() && r.status().code() != cairn::StatusCode::kDataLoss) std::abort();
  return 0;
}
