// The filter itself calls no HDF5 function, so the same object file also builds the plugin
// module, which must not link a second HDF5 library into the process that loads it (h5dump and
// h5py use the serial libhdf5; cairn uses the MPI one).
#include "storage/hdf5/zstd_filter.h"

#include <zstd.h>

#include <algorithm>
#include <cstdlib>

namespace cairn::storage {
namespace {

// HDF5 chunks are at most 4 GiB; a frame header claiming more is corrupt, and trusting it could
// make us allocate an absurd buffer.
constexpr unsigned long long kMaxChunkBytes = 0xFFFFFFFFull;

size_t Compress(size_t cd_nelmts, const unsigned cd_values[], size_t nbytes, size_t* buf_size,
                void** buf) {
  // Writers store the level as an int in an unsigned slot (negative levels are zstd's fast modes).
  int level = cd_nelmts > 0 ? static_cast<int>(cd_values[0]) : kZstdDefaultLevel;
  level = std::clamp(level, ZSTD_minCLevel(), ZSTD_maxCLevel());
  const size_t bound = ZSTD_compressBound(nbytes);
  if (ZSTD_isError(bound)) return 0;
  void* out = std::malloc(std::max<size_t>(bound, 1));
  if (out == nullptr) return 0;
  const size_t n = ZSTD_compress(out, bound, *buf, nbytes, level);
  if (ZSTD_isError(n) || n == 0) {
    std::free(out);
    return 0;
  }
  std::free(*buf);
  *buf = out;
  *buf_size = bound;
  return n;
}

size_t Decompress(size_t nbytes, size_t* buf_size, void** buf) {
  if (*buf == nullptr || nbytes == 0 || nbytes > *buf_size) return 0;
  const unsigned long long content = ZSTD_getFrameContentSize(*buf, nbytes);
  if (content == ZSTD_CONTENTSIZE_UNKNOWN || content == ZSTD_CONTENTSIZE_ERROR || content == 0 ||
      content > kMaxChunkBytes) {
    return 0;
  }
  const size_t size = static_cast<size_t>(content);
  void* out = std::malloc(size);
  if (out == nullptr) return 0;
  // ZSTD_decompress bounds every read by nbytes and every write by size, and fails on truncated,
  // corrupt or oversized input; the frame checksum (if any) is verified too.
  const size_t n = ZSTD_decompress(out, size, *buf, nbytes);
  if (ZSTD_isError(n) || n != size) {
    std::free(out);
    return 0;
  }
  std::free(*buf);
  *buf = out;
  *buf_size = size;
  return n;
}

const H5Z_class2_t kZstdClass = {
    H5Z_CLASS_T_VERS,  // version
    kZstdFilterId,     // id
    1,                 // encoder present
    1,                 // decoder present
    "zstd",            // name, as hdf5plugin names it
    nullptr,           // can_apply
    nullptr,           // set_local
    &ZstdFilter,       // filter
};

}  // namespace

size_t ZstdFilter(unsigned flags, size_t cd_nelmts, const unsigned cd_values[], size_t nbytes,
                  size_t* buf_size, void** buf) {
  if (buf == nullptr || buf_size == nullptr) return 0;
  if (flags & H5Z_FLAG_REVERSE) return Decompress(nbytes, buf_size, buf);
  if (*buf == nullptr && nbytes > 0) return 0;
  return Compress(cd_nelmts, cd_values, nbytes, buf_size, buf);
}

const H5Z_class2_t* ZstdFilterClass() { return &kZstdClass; }

}  // namespace cairn::storage
