// libFuzzer: DecodeManifest on arbitrary bytes must return OK or DataLoss, never crash.
#include <cstdlib>

#include "format/ocdbt/fuzz/fuzz_util.h"
#include "format/ocdbt/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::ocdbt;
  const Source src{"fuzz/manifest.ocdbt"};
  auto r = DecodeManifest(FixEnvelope(data, size), src,
                          DecodeOptions{.max_decoded_bytes = 1 << 20, .max_key_bytes = 1 << 20});
  if (!r.ok() && r.status().code() != cairn::StatusCode::kDataLoss) std::abort();
  return 0;
}
