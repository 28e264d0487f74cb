#include "storage/hdf5/h5_util.h"

#include <mutex>
#include <string>
#include <utility>

namespace cairn::storage::h5 {
namespace {

// One "func(): description (minor message)" per frame of an HDF5 error stack, outermost first.
herr_t AppendFrame(unsigned, const H5E_error2_t* err, void* client) {
  auto* frames = static_cast<std::vector<std::string>*>(client);
  char minor[128] = "";
  if (H5Eget_msg(err->min_num, nullptr, minor, sizeof(minor)) < 0) minor[0] = '\0';
  std::string frame = std::string(err->func_name ? err->func_name : "?") + "(): ";
  frame += err->desc ? err->desc : "";
  if (minor[0] != '\0') frame += std::string(" (") + minor + ")";
  frames->push_back(std::move(frame));
  return 0;
}

// Wraps a returned identifier: an owning handle, or the error stack.
Result<Handle> Own(hid_t id, Kind kind, std::string_view what) {
  if (id < 0) return ErrorFromStack(StatusCode::kInternal, what);
  return Handle(id, kind);
}

Status Check(herr_t rc, std::string_view what) {
  if (rc < 0) return ErrorFromStack(StatusCode::kInternal, what);
  return OkStatus();
}

herr_t CloseId(hid_t id, Kind kind) {
  switch (kind) {
    case Kind::kFile:
      return H5Fclose(id);
    case Kind::kGroup:
      return H5Gclose(id);
    case Kind::kDataset:
      return H5Dclose(id);
    case Kind::kDataspace:
      return H5Sclose(id);
    case Kind::kDatatype:
      return H5Tclose(id);
    case Kind::kAttribute:
      return H5Aclose(id);
    case Kind::kPropList:
      return H5Pclose(id);
  }
  return -1;
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

Handle::~Handle() {
  if (valid()) CloseId(id_, kind_);
}

Handle::Handle(Handle&& other) noexcept
    : id_(std::exchange(other.id_, H5I_INVALID_HID)), kind_(other.kind_) {}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    if (valid()) CloseId(id_, kind_);
    id_ = std::exchange(other.id_, H5I_INVALID_HID);
    kind_ = other.kind_;
  }
  return *this;
}

Status Handle::Close() {
  if (!valid()) return OkStatus();
  const herr_t rc = CloseId(std::exchange(id_, H5I_INVALID_HID), kind_);
  return Check(rc, kind_ == Kind::kFile ? "H5Fclose (final flush)" : "H5*close");
}

void Initialize() {
  static std::once_flag once;
  std::call_once(once, [] {
    H5open();
    // cairn reports errors as Status; HDF5 must not print to stderr by itself.
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  });
}

std::string TakeErrorStack() {
  std::vector<std::string> frames;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, &AppendFrame, &frames);
  H5Eclear2(H5E_DEFAULT);
  // The API call says what failed and the innermost frame why; the frames between mostly
  // repeat them.
  if (frames.empty()) return "";
  if (frames.size() == 1) return frames[0];
  return frames.front() + (frames.size() > 2 ? "; ...; " : "; ") + frames.back();
}

Status ErrorFromStack(StatusCode code, std::string_view what) {
  std::string stack = TakeErrorStack();
  std::string msg(what);
  msg += stack.empty() ? " failed" : " failed: HDF5: " + stack;
  return Status(code, std::move(msg));
}

Result<Handle> CreatePropList(hid_t cls) {
  Initialize();
  return Own(H5Pcreate(cls), Kind::kPropList, "H5Pcreate");
}

Status SetFaplMpio(hid_t fapl, MPI_Comm comm) {
  return Check(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL), "H5Pset_fapl_mpio");
}

Status SetCollectiveMetadataOps(hid_t plist, bool ops) {
  return Check(H5Pset_all_coll_metadata_ops(plist, ops), "H5Pset_all_coll_metadata_ops");
}

Status SetCollectiveMetadataWrite(hid_t fapl, bool write) {
  return Check(H5Pset_coll_metadata_write(fapl, write), "H5Pset_coll_metadata_write");
}

Status SetAlignment(hid_t fapl, hsize_t threshold, hsize_t alignment) {
  return Check(H5Pset_alignment(fapl, threshold, alignment), "H5Pset_alignment");
}

Status SetIndividualIo(hid_t dxpl) {
  return Check(H5Pset_dxpl_mpio_collective_opt(dxpl, H5FD_MPIO_INDIVIDUAL_IO),
               "H5Pset_dxpl_mpio_collective_opt");
}

Status SetTransferMode(hid_t dxpl, bool collective) {
  return Check(H5Pset_dxpl_mpio(dxpl, collective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT),
               "H5Pset_dxpl_mpio");
}

Status SetChunk(hid_t dcpl, std::span<const hsize_t> dims) {
  return Check(H5Pset_chunk(dcpl, static_cast<int>(dims.size()), dims.data()), "H5Pset_chunk");
}

Status SetFilter(hid_t dcpl, H5Z_filter_t filter, unsigned flags, std::span<const unsigned> cd) {
  return Check(H5Pset_filter(dcpl, filter, flags, cd.size(), cd.data()),
               "H5Pset_filter(" + std::to_string(filter) + ")");
}

Status SetFillTimeNever(hid_t dcpl) {
  return Check(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "H5Pset_fill_time");
}

Result<Handle> CreateFile(const std::filesystem::path& path, hid_t fapl) {
  Initialize();
  return Own(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), Kind::kFile,
             "H5Fcreate(" + Quoted(path.string()) + ")");
}

Result<Handle> OpenFileReadOnly(const std::filesystem::path& path, hid_t fapl) {
  Initialize();
  return Own(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl), Kind::kFile,
             "H5Fopen(" + Quoted(path.string()) + ")");
}

Result<bool> LinkExists(hid_t loc, const std::string& name) {
  const htri_t rc = H5Lexists(loc, name.c_str(), H5P_DEFAULT);
  if (rc < 0) return ErrorFromStack(StatusCode::kInternal, "H5Lexists(" + Quoted(name) + ")");
  return rc > 0;
}

Result<Handle> CreateGroup(hid_t loc, const std::string& name) {
  return Own(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), Kind::kGroup,
             "H5Gcreate2(" + Quoted(name) + ")");
}

Result<Handle> OpenGroup(hid_t loc, const std::string& name) {
  return Own(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), Kind::kGroup,
             "H5Gopen2(" + Quoted(name) + ")");
}

Result<Handle> CreateSpace(std::span<const hsize_t> dims) {
  Initialize();
  if (dims.empty()) return Own(H5Screate(H5S_SCALAR), Kind::kDataspace, "H5Screate(SCALAR)");
  return Own(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
             Kind::kDataspace, "H5Screate_simple");
}

Result<Handle> CreateNullSpace() {
  Initialize();
  return Own(H5Screate(H5S_NULL), Kind::kDataspace, "H5Screate(NULL)");
}

Status SelectBox(hid_t space, std::span<const hsize_t> start, std::span<const hsize_t> count) {
  if (start.empty()) return Check(H5Sselect_all(space), "H5Sselect_all");
  return Check(
      H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
      "H5Sselect_hyperslab");
}

Status SelectNone(hid_t space) { return Check(H5Sselect_none(space), "H5Sselect_none"); }

Result<std::vector<hsize_t>> SpaceExtent(hid_t space) {
  const H5S_class_t cls = H5Sget_simple_extent_type(space);
  if (cls == H5S_NO_CLASS) {
    return ErrorFromStack(StatusCode::kInternal, "H5Sget_simple_extent_type");
  }
  if (cls == H5S_NULL) return InvalidArgumentError("dataspace is null (no elements, no shape)");
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) return ErrorFromStack(StatusCode::kInternal, "H5Sget_simple_extent_ndims");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0) {
    return ErrorFromStack(StatusCode::kInternal, "H5Sget_simple_extent_dims");
  }
  return dims;
}

Result<Handle> CopyType(hid_t type) {
  Initialize();
  return Own(H5Tcopy(type), Kind::kDatatype, "H5Tcopy");
}

Status SetFloatLayout(hid_t type, const FloatLayout& l) {
  // Fields first (they must fit the current, larger size), then shrink, then the bias.
  Status s = Check(H5Tset_fields(type, l.sign_pos, l.exp_pos, l.exp_size, l.mant_pos, l.mant_size),
                   "H5Tset_fields");
  if (s.ok()) s = Check(H5Tset_size(type, l.size), "H5Tset_size");
  if (s.ok()) s = Check(H5Tset_ebias(type, l.exp_bias), "H5Tset_ebias");
  return s;
}

Result<Handle> CreateEnum(hid_t base) {
  Initialize();
  return Own(H5Tenum_create(base), Kind::kDatatype, "H5Tenum_create");
}

Status EnumInsert(hid_t type, const char* name, const void* value) {
  return Check(H5Tenum_insert(type, name, value), "H5Tenum_insert");
}

Result<Handle> CreateCompound(size_t size) {
  Initialize();
  return Own(H5Tcreate(H5T_COMPOUND, size), Kind::kDatatype, "H5Tcreate(COMPOUND)");
}

Status CompoundInsert(hid_t type, const char* name, size_t offset, hid_t member) {
  return Check(H5Tinsert(type, name, offset, member), "H5Tinsert");
}

Result<Handle> CreateVlenUtf8String() {
  CAIRN_ASSIGN_OR_RETURN(Handle t, CopyType(H5T_C_S1));
  CAIRN_RETURN_IF_ERROR(Check(H5Tset_size(t.id(), H5T_VARIABLE), "H5Tset_size(VARIABLE)"));
  CAIRN_RETURN_IF_ERROR(Check(H5Tset_cset(t.id(), H5T_CSET_UTF8), "H5Tset_cset"));
  return t;
}

Result<size_t> TypeSize(hid_t type) {
  const size_t size = H5Tget_size(type);
  if (size == 0) return ErrorFromStack(StatusCode::kInternal, "H5Tget_size");
  return size;
}

Result<H5T_class_t> TypeClass(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_NO_CLASS) return ErrorFromStack(StatusCode::kInternal, "H5Tget_class");
  return cls;
}

Result<Handle> CreateDataset(hid_t loc, const std::string& name, hid_t type, hid_t space,
                             hid_t dcpl) {
  return Own(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
             Kind::kDataset, "H5Dcreate2(" + Quoted(name) + ")");
}

Result<Handle> OpenDataset(hid_t loc, const std::string& path, hid_t dapl) {
  const hid_t id = H5Dopen2(loc, path.c_str(), dapl);
  if (id < 0) {
    return ErrorFromStack(StatusCode::kInternal, "H5Dopen2(" + Quoted(path) + ")");
  }
  return Handle(id, Kind::kDataset);
}

Result<Handle> DatasetSpace(hid_t dataset) {
  return Own(H5Dget_space(dataset), Kind::kDataspace, "H5Dget_space");
}

Result<Handle> DatasetType(hid_t dataset) {
  return Own(H5Dget_type(dataset), Kind::kDatatype, "H5Dget_type");
}

Status WriteDataset(hid_t dataset, hid_t mem_type, hid_t mem_space, hid_t file_space, hid_t dxpl,
                    const void* data) {
  return Check(H5Dwrite(dataset, mem_type, mem_space, file_space, dxpl, data), "H5Dwrite");
}

Status ReadDataset(hid_t dataset, hid_t mem_type, hid_t mem_space, hid_t file_space, hid_t dxpl,
                   void* data) {
  return Check(H5Dread(dataset, mem_type, mem_space, file_space, dxpl, data), "H5Dread");
}

Status WriteAttribute(hid_t obj, const char* name, hid_t type, hid_t space, const void* data) {
  CAIRN_ASSIGN_OR_RETURN(Handle attr,
                         Own(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT),
                             Kind::kAttribute, "H5Acreate2(" + Quoted(name) + ")"));
  CAIRN_RETURN_IF_ERROR(Check(H5Awrite(attr.id(), type, data), "H5Awrite(" + Quoted(name) + ")"));
  return attr.Close();
}

Status RegisterFilter(const H5Z_class2_t* cls) {
  Initialize();
  return Check(H5Zregister(cls), "H5Zregister(" + std::to_string(cls->id) + ")");
}

}  // namespace cairn::storage::h5
