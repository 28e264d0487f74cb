// The zstd filter as an HDF5 dynamically loaded plugin (libh5zstd.so), so that tools outside
// cairn (h5dump, h5py, h5repack) read cairn's compressed datasets:
//   HDF5_PLUGIN_PATH=<dir of libh5zstd.so> h5dump data.h5
// The module links zstd only, never libhdf5: it is loaded into processes with their own HDF5.
#include <H5PLextern.h>

#include "storage/hdf5/zstd_filter.h"

extern "C" {

H5PL_type_t H5PLget_plugin_type(void) { return H5PL_TYPE_FILTER; }

const void* H5PLget_plugin_info(void) { return cairn::storage::ZstdFilterClass(); }

}  // extern "C"
