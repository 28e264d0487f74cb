// libFuzzer: DecodeVersionTreeNode on arbitrary bytes must return OK or DataLoss.
#include <cstdlib>

#include "format/ocdbt/fuzz/fuzz_util.h"
#include "format/ocdbt/version_tree.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::ocdbt;
  const Source src{"fuzz/d/versions", 16};
  auto r = DecodeVersionTreeNode(FixEnvelope(data, size), src, "",
                                 DecodeOptions{.max_decoded_bytes = 1 << 20});
  if (!r.ok() && r.status().code() != cairn::StatusCode::kDataLoss) std::abort();
  return 0;
}
