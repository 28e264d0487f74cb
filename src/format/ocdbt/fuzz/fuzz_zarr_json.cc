// libFuzzer: ParseZarrMetadata on arbitrary text must return OK, DataLoss or Unimplemented.
#include <cstdlib>

#include "format/ocdbt/zarr_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::ocdbt;
  const Source src{"fuzz/zarr.json"};
  auto r = ParseZarrMetadata({reinterpret_cast<const char*>(data), size}, src);
  if (!r.ok() && r.status().code() != cairn::StatusCode::kDataLoss &&
      r.status().code() != cairn::StatusCode::kUnimplemented) {
    std::abort();
  }
  if (r.ok() && r->fill_value.size() != cairn::DTypeSize(r->dtype)) std::abort();
  return 0;
}
