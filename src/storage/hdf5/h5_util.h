#pragma once
// The one place that wraps the HDF5 C API (besides the filter callbacks): RAII handles with
// no-fail destructors, and one function per HDF5 call that turns a failure into a Status carrying
// HDF5's own error stack as text. Messages name the call and its object; callers add the file
// and key path.

#include <hdf5.h>
#include <mpi.h>

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn::storage::h5 {

/// Which H5*close releases a handle.
enum class Kind { kFile, kGroup, kDataset, kDataspace, kDatatype, kAttribute, kPropList };

/// Owns one HDF5 identifier and closes it with the matching H5*close. Move-only. The destructor
/// ignores close errors (use Close() where a failure matters, e.g. a file's final flush).
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, Kind kind) : id_(id), kind_(kind) {}
  ~Handle();
  Handle(Handle&& other) noexcept;
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  /// The identifier, H5I_INVALID_HID when empty.
  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  /// Closes now. Internal with HDF5's error text if the close fails (for a file: the final
  /// metadata flush). OK on an empty handle.
  Status Close();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Kind kind_ = Kind::kPropList;
};

/// Initialises the library once per process and turns off HDF5's automatic error printing (cairn
/// reports errors through Status). Called by every entry point below that creates an object.
void Initialize();
/// The current HDF5 error stack as one line, innermost cause last ("" when empty); clears it.
std::string TakeErrorStack();
/// Status `code` with message "<what>: <HDF5 error stack>".
Status ErrorFromStack(StatusCode code, std::string_view what);

// Property lists.
/// H5Pcreate(cls), e.g. H5P_FILE_ACCESS.
Result<Handle> CreatePropList(hid_t cls);
/// H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL): the MPI-IO file driver.
Status SetFaplMpio(hid_t fapl, MPI_Comm comm);
/// H5Pset_all_coll_metadata_ops(plist, ops) and, for a file access list,
/// H5Pset_coll_metadata_write.
Status SetCollectiveMetadataOps(hid_t plist, bool ops);
Status SetCollectiveMetadataWrite(hid_t fapl, bool write);
/// H5Pset_alignment: objects of at least `threshold` bytes start at multiples of `alignment`.
Status SetAlignment(hid_t fapl, hsize_t threshold, hsize_t alignment);
/// H5Pset_dxpl_mpio: collective or independent MPI-IO for a transfer.
Status SetTransferMode(hid_t dxpl, bool collective);
/// Collective H5Dwrite/H5Dread calls whose data moves with independent MPI-IO (each rank writes
/// its own selection: no two-phase aggregation through other ranks).
Status SetIndividualIo(hid_t dxpl);
/// H5Pset_chunk.
Status SetChunk(hid_t dcpl, std::span<const hsize_t> dims);
/// H5Pset_filter(dcpl, filter, flags, cd_values).
Status SetFilter(hid_t dcpl, H5Z_filter_t filter, unsigned flags, std::span<const unsigned> cd);
/// H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER): no fill writes at allocation.
Status SetFillTimeNever(hid_t dcpl);

// Files, groups and links.
/// H5Fcreate(path, H5F_ACC_TRUNC, default fcpl, fapl).
Result<Handle> CreateFile(const std::filesystem::path& path, hid_t fapl);
/// H5Fopen(path, H5F_ACC_RDONLY, fapl).
Result<Handle> OpenFileReadOnly(const std::filesystem::path& path, hid_t fapl);
/// H5Lexists(loc, name) for one path component.
Result<bool> LinkExists(hid_t loc, const std::string& name);
/// H5Gcreate2 / H5Gopen2 of one path component.
Result<Handle> CreateGroup(hid_t loc, const std::string& name);
Result<Handle> OpenGroup(hid_t loc, const std::string& name);

// Dataspaces.
/// H5Screate_simple with `dims` (zero extents allowed); H5Screate(H5S_SCALAR) when empty.
Result<Handle> CreateSpace(std::span<const hsize_t> dims);
/// H5Screate(H5S_NULL): a dataspace with no elements (an attribute that is "empty").
Result<Handle> CreateNullSpace();
/// H5Sselect_hyperslab(SET, start, count); H5Sselect_all for a scalar space (empty spans).
Status SelectBox(hid_t space, std::span<const hsize_t> start, std::span<const hsize_t> count);
/// H5Sselect_none.
Status SelectNone(hid_t space);
/// Extent of a simple or scalar space ({} for scalar); InvalidArgument for a null space.
Result<std::vector<hsize_t>> SpaceExtent(hid_t space);

// Datatypes.
/// H5Tcopy.
Result<Handle> CopyType(hid_t type);
/// Bit layout of a floating-point type (H5Tset_fields, H5Tset_size, H5Tset_ebias).
struct FloatLayout {
  size_t sign_pos, exp_pos, exp_size, mant_pos, mant_size, size, exp_bias;
};
Status SetFloatLayout(hid_t type, const FloatLayout& layout);
/// H5Tenum_create(base) / H5Tenum_insert.
Result<Handle> CreateEnum(hid_t base);
Status EnumInsert(hid_t type, const char* name, const void* value);
/// H5Tcreate(H5T_COMPOUND, size) / H5Tinsert.
Result<Handle> CreateCompound(size_t size);
Status CompoundInsert(hid_t type, const char* name, size_t offset, hid_t member);
/// A variable-length UTF-8 string type (what h5py writes for `str`).
Result<Handle> CreateVlenUtf8String();
/// H5Tget_size / H5Tget_class.
Result<size_t> TypeSize(hid_t type);
Result<H5T_class_t> TypeClass(hid_t type);

// Datasets and attributes.
/// H5Dcreate2(loc, name, type, space, default lcpl, dcpl, default dapl).
Result<Handle> CreateDataset(hid_t loc, const std::string& name, hid_t type, hid_t space,
                             hid_t dcpl);
/// H5Dopen2(loc, path, dapl) (a missing link fails like any other error).
Result<Handle> OpenDataset(hid_t loc, const std::string& path, hid_t dapl);
/// H5Dget_space / H5Dget_type.
Result<Handle> DatasetSpace(hid_t dataset);
Result<Handle> DatasetType(hid_t dataset);
/// H5Dwrite / H5Dread.
Status WriteDataset(hid_t dataset, hid_t mem_type, hid_t mem_space, hid_t file_space, hid_t dxpl,
                    const void* data);
Status ReadDataset(hid_t dataset, hid_t mem_type, hid_t mem_space, hid_t file_space, hid_t dxpl,
                   void* data);
/// H5Acreate2 + H5Awrite.
Status WriteAttribute(hid_t obj, const char* name, hid_t type, hid_t space, const void* data);

// Filters.
/// H5Zregister.
Status RegisterFilter(const H5Z_class2_t* cls);

}  // namespace cairn::storage::h5
