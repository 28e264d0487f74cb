// In-process registration of the zstd filter; kept apart from zstd_filter.cc, which is also
// built into the plugin module and so must not call into HDF5.
#include <mutex>

#include "storage/hdf5/h5_util.h"
#include "storage/hdf5/zstd_filter.h"

namespace cairn::storage {

Status RegisterZstdFilter() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] { status = h5::RegisterFilter(ZstdFilterClass()); });
  return status;
}

}  // namespace cairn::storage
