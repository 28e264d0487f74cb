// Single-process tests of the HDF5 backend (the multi-rank behaviour is covered by the shared
// backend conformance suite under mpi_tests/). Interop checks run h5py and h5dump when present.
#include "storage/hdf5/hdf5_backend.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "base/box_ops.h"
#include "storage/hdf5/zstd_filter.h"

namespace cairn::storage {
namespace {

namespace fs = std::filesystem;

class Hdf5BackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tmpl = (fs::path(base ? base : "/tmp") / "cairn_hdf5_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ctx_.comm = comm_.get();
    ctx_.item_dir = dir_;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path file() const { return dir_ / "data.h5"; }

  std::shared_ptr<Communicator> comm_ = SelfCommunicator();
  std::unique_ptr<Backend> backend_ = MakeHdf5Backend();
  fs::path dir_;
  BackendContext ctx_;
};

// Deterministic bytes that are valid for `dtype` (bool must be 0 or 1).
std::vector<unsigned char> Bytes(DType dtype, int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<unsigned char> v(static_cast<size_t>(n) * DTypeSize(dtype));
  for (auto& b : v) b = static_cast<unsigned char>(gen());
  if (dtype == DType::kBool) {
    for (auto& b : v) b &= 1;
  }
  return v;
}

// A leaf holding `data` (C order, whole array) written as one piece per row band of `bands`.
WriteLeaf MakeLeaf(std::vector<std::string> segments, DType dtype, Shape shape,
                   const std::vector<unsigned char>& data, int bands,
                   std::vector<std::vector<unsigned char>>& storage) {
  WriteLeaf leaf;
  for (size_t i = 0; i < segments.size(); ++i) leaf.key_path += (i ? "." : "") + segments[i];
  leaf.segments = std::move(segments);
  leaf.dtype = dtype;
  leaf.global_shape = shape;
  const Box whole = base::WholeBox(shape);
  if (shape.empty()) {
    storage.push_back(data);
    leaf.pieces.push_back({whole, storage.back().data()});
  } else {
    const int64_t rows = shape[0];
    for (int b = 0; b < bands; ++b) {
      Box box = whole;
      box.origin[0] = rows * b / bands;
      box.shape[0] = rows * (b + 1) / bands - box.origin[0];
      std::vector<unsigned char> piece(box.NumElements() * DTypeSize(dtype));
      base::CopyRegion(data.data(), whole, piece.data(), box, box, DTypeSize(dtype));
      storage.push_back(std::move(piece));
      leaf.pieces.push_back({box, storage.back().data()});
    }
  }
  leaf.max_pieces_per_rank = static_cast<int>(leaf.pieces.size());
  return leaf;
}

ReadLeaf ReadOf(const WriteLeaf& w) {
  return ReadLeaf{.key_path = w.key_path,
                  .segments = w.segments,
                  .dtype = w.dtype,
                  .global_shape = w.global_shape,
                  .requests = {}};
}

// Reads `box` of a written leaf and compares it with the same region of `data`.
void ExpectReads(Backend& backend, const BackendContext& ctx, const WriteLeaf& w,
                 const std::vector<unsigned char>& data, const Box& box) {
  const size_t elem = DTypeSize(w.dtype);
  std::vector<unsigned char> got(box.NumElements() * elem, 0xAB);
  ReadLeaf r = ReadOf(w);
  r.requests.push_back({.box = box, .dest = got.data(), .stored_box = box, .location = nullptr});
  ASSERT_TRUE(backend.Read(ctx, std::span(&r, 1)).ok()) << w.key_path;
  std::vector<unsigned char> want(got.size());
  base::CopyRegion(data.data(), base::WholeBox(w.global_shape), want.data(), box, box, elem);
  EXPECT_EQ(got, want) << w.key_path << " " << box.ToString();
}

TEST_F(Hdf5BackendTest, RoundTripsEveryDtype) {
  std::vector<std::vector<unsigned char>> storage, datas;
  std::vector<WriteLeaf> leaves;
  const Shape shape = {5, 7};
  for (DType d : kAllDTypes) {
    datas.push_back(Bytes(d, base::NumElements(shape), static_cast<unsigned>(d)));
    leaves.push_back(
        MakeLeaf({"dtypes", std::string(DTypeName(d))}, d, shape, datas.back(), 2, storage));
  }
  auto locations = backend_->Write(ctx_, leaves);
  ASSERT_TRUE(locations.ok()) << locations.status().ToString();
  ASSERT_EQ(locations->size(), leaves.size());
  EXPECT_EQ((*locations)[0].size(), 2u);
  EXPECT_TRUE((*locations)[0][0].is_null());
  for (size_t i = 0; i < leaves.size(); ++i) {
    ExpectReads(*backend_, ctx_, leaves[i], datas[i], base::WholeBox(shape));
    ExpectReads(*backend_, ctx_, leaves[i], datas[i], Box{{1, 2}, {3, 4}});
  }
}

TEST_F(Hdf5BackendTest, ScalarEmptyOddShapesAndNestedGroups) {
  std::vector<std::vector<unsigned char>> storage;
  struct Case {
    std::vector<std::string> segments;
    DType dtype;
    Shape shape;
    std::optional<Shape> chunk;
    bool compress;
  };
  const std::vector<Case> cases = {
      {{"step"}, DType::kInt64, {}, std::nullopt, false},
      {{"a", "scalar_chunked"}, DType::kFloat64, {}, Shape{}, true},
      {{"a", "b", "empty"}, DType::kFloat32, {0, 3}, std::nullopt, false},
      {{"a", "b", "empty_chunked"}, DType::kFloat32, {4, 0}, Shape{2, 2}, true},
      {{"a", "b", "odd"}, DType::kInt16, {13, 17, 3}, Shape{4, 5, 2}, false},
      {{"a", "odd_zstd"}, DType::kBfloat16, {13, 17, 3}, Shape{4, 5, 2}, true},
      {{"a", "big_chunk"}, DType::kComplex64, {3, 5}, Shape{100, 100}, true},
      {{"c", "d", "e", "f"}, DType::kUint8, {1}, std::nullopt, false},
  };
  std::vector<WriteLeaf> leaves;
  std::vector<std::vector<unsigned char>> datas;
  for (const Case& c : cases) {
    datas.push_back(Bytes(c.dtype, base::NumElements(c.shape), 7));
    leaves.push_back(MakeLeaf(c.segments, c.dtype, c.shape, datas.back(), 3, storage));
    leaves.back().chunk_shape = c.chunk;
    leaves.back().compress = c.compress;
  }
  auto locations = backend_->Write(ctx_, leaves);
  ASSERT_TRUE(locations.ok()) << locations.status().ToString();
  for (size_t i = 0; i < leaves.size(); ++i) {
    ExpectReads(*backend_, ctx_, leaves[i], datas[i], base::WholeBox(leaves[i].global_shape));
  }
  ExpectReads(*backend_, ctx_, leaves[5], datas[5], Box{{3, 4, 1}, {7, 9, 2}});
}

TEST_F(Hdf5BackendTest, CompressionLevelsAndManyPiecesPerRank) {
  std::vector<std::vector<unsigned char>> storage;
  const Shape shape = {640, 33};
  // Compressible content so that the filter's output is really smaller.
  std::vector<unsigned char> data(base::NumElements(shape) * 4);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>((i / 64) % 7);
  std::vector<WriteLeaf> leaves;
  for (int level : {-5, 1, 3, 19, 100}) {
    leaves.push_back(MakeLeaf({"levels", "l" + std::to_string(level)}, DType::kFloat32, shape, data,
                              7, storage));
    leaves.back().chunk_shape = Shape{100, 33};
    leaves.back().compress = true;
    leaves.back().compression_level = level;
  }
  ASSERT_TRUE(backend_->Write(ctx_, leaves).ok());
  for (const WriteLeaf& leaf : leaves) {
    ExpectReads(*backend_, ctx_, leaf, data, base::WholeBox(shape));
  }
  EXPECT_LT(fs::file_size(file()), data.size() * leaves.size() / 4);
}

TEST_F(Hdf5BackendTest, AppliesFileMode) {
  std::vector<std::vector<unsigned char>> storage;
  auto data = Bytes(DType::kInt32, 4, 1);
  std::vector<WriteLeaf> leaves = {MakeLeaf({"x"}, DType::kInt32, {4}, data, 1, storage)};
  ctx_.file_mode = 0640;
  ASSERT_TRUE(backend_->Write(ctx_, leaves).ok());
  struct stat st;
  ASSERT_EQ(::stat(file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(Hdf5BackendTest, RejectsBadPiecesBeforeCreatingTheFile) {
  std::vector<std::vector<unsigned char>> storage;
  auto data = Bytes(DType::kInt32, 4, 1);
  std::vector<WriteLeaf> leaves = {MakeLeaf({"x"}, DType::kInt32, {4}, data, 1, storage)};
  leaves[0].pieces[0].box.shape[0] = 5;
  auto r = backend_->Write(ctx_, leaves);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("x"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(file()));
  leaves[0].pieces[0].box.shape[0] = 4;
  leaves[0].segments = {"a/b"};
  EXPECT_EQ(backend_->Write(ctx_, leaves).status().code(), StatusCode::kInvalidArgument);
}

class Hdf5BackendErrorTest : public Hdf5BackendTest {
 protected:
  void SetUp() override {
    Hdf5BackendTest::SetUp();
    data_ = Bytes(DType::kFloat32, 6 * 1000, 3);
    leaves_ = {MakeLeaf({"p", "w"}, DType::kFloat32, {6, 1000}, data_, 2, storage_)};
    ASSERT_TRUE(backend_->Write(ctx_, leaves_).ok());
  }
  Status ReadWith(ReadLeaf r) {
    std::vector<unsigned char> got(base::NumElements(leaves_[0].global_shape) * 4);
    const Box box = base::WholeBox(leaves_[0].global_shape);
    if (r.global_shape == leaves_[0].global_shape) r.requests.push_back({box, got.data(), box});
    return backend_->Read(ctx_, std::span(&r, 1));
  }
  std::vector<std::vector<unsigned char>> storage_;
  std::vector<unsigned char> data_;
  std::vector<WriteLeaf> leaves_;
};

TEST_F(Hdf5BackendErrorTest, TruncatedFileIsDataLoss) {
  fs::resize_file(file(), fs::file_size(file()) / 2);
  Status s = ReadWith(ReadOf(leaves_[0]));
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find(file().string()), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("HDF5"), std::string::npos) << s.message();
}

TEST_F(Hdf5BackendErrorTest, MissingFileIsDataLoss) {
  fs::remove(file());
  Status s = ReadWith(ReadOf(leaves_[0]));
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find(file().string()), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("p.w"), std::string::npos) << s.message();
}

TEST_F(Hdf5BackendErrorTest, MissingDatasetIsDataLoss) {
  ReadLeaf r = ReadOf(leaves_[0]);
  r.key_path = "p.v";
  r.segments = {"p", "v"};
  Status s = ReadWith(r);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("p.v"), std::string::npos) << s.message();
}

TEST_F(Hdf5BackendErrorTest, ShapeOrDtypeMismatchIsDataLoss) {
  ReadLeaf r = ReadOf(leaves_[0]);
  r.global_shape = {6, 999};
  Status s = ReadWith(r);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("[6, 999]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("[6, 1000]"), std::string::npos) << s.message();
  r = ReadOf(leaves_[0]);
  r.dtype = DType::kFloat64;
  s = ReadWith(r);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("float64"), std::string::npos) << s.message();
}

TEST_F(Hdf5BackendErrorTest, CorruptCompressedChunkIsDataLoss) {
  std::vector<unsigned char> data(4000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i % 3);
  std::vector<WriteLeaf> leaves = {MakeLeaf({"z"}, DType::kUint8, {4000}, data, 1, storage_)};
  leaves[0].chunk_shape = Shape{4000};
  leaves[0].compress = true;
  ASSERT_TRUE(backend_->Write(ctx_, leaves).ok());
  // The chunk is the only zstd frame in the file: damage the bytes after its magic number.
  std::fstream f(file(), std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  const size_t at = bytes.find("\x28\xB5\x2F\xFD");
  ASSERT_NE(at, std::string::npos);
  f.seekp(static_cast<std::streamoff>(at + 6));
  f.write("\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 8);
  f.close();
  std::vector<unsigned char> got(4000);
  ReadLeaf r = ReadOf(leaves[0]);
  const Box box = base::WholeBox({4000});
  r.requests.push_back({box, got.data(), box});
  Status s = backend_->Read(ctx_, std::span(&r, 1));
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("key z"), std::string::npos) << s.message();
}

TEST(ZstdFilterTest, RoundTripsAndRejectsCorruptInput) {
  std::vector<unsigned char> in(10000);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<unsigned char>(i % 11);
  size_t size = in.size();
  void* buf = std::malloc(size);
  std::memcpy(buf, in.data(), size);
  const unsigned level[1] = {5};
  const size_t n = ZstdFilter(0, 1, level, in.size(), &size, &buf);
  ASSERT_GT(n, 0u);
  ASSERT_LT(n, in.size());
  const std::vector<unsigned char> frame(static_cast<unsigned char*>(buf),
                                         static_cast<unsigned char*>(buf) + n);
  ASSERT_EQ(ZstdFilter(H5Z_FLAG_REVERSE, 0, nullptr, n, &size, &buf), in.size());
  EXPECT_EQ(std::memcmp(buf, in.data(), in.size()), 0);
  std::free(buf);
  // Truncations and garbage fail with 0 instead of crashing.
  for (size_t cut : {size_t{1}, size_t{4}, size_t{9}, n / 2, n - 1}) {
    size = cut;
    buf = std::malloc(cut);
    std::memcpy(buf, frame.data(), cut);
    EXPECT_EQ(ZstdFilter(H5Z_FLAG_REVERSE, 0, nullptr, cut, &size, &buf), 0u) << cut;
    std::free(buf);
  }
  // A frame header claiming 64 GiB of content (8-byte content size field, single segment).
  std::vector<unsigned char> huge = {0x28, 0xB5, 0x2F, 0xFD, 0xE0, 0, 0, 0, 0, 0x10, 0, 0, 0};
  huge.insert(huge.end(), frame.begin() + 6, frame.end());
  size = huge.size();
  buf = std::malloc(size);
  std::memcpy(buf, huge.data(), size);
  EXPECT_EQ(ZstdFilter(H5Z_FLAG_REVERSE, 0, nullptr, size, &size, &buf), 0u);
  std::free(buf);
}

// Interop: h5py (Debian's python3-h5py) reads every dtype's values and the attributes, and
// h5dump with the plugin module prints a compressed dataset. Skipped where the tools are absent.
TEST_F(Hdf5BackendTest, ReadableByH5pyAndH5dump) {
  if (std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no /usr/bin/python3 with h5py";
  }
  std::vector<std::vector<unsigned char>> storage;
  const bool b[6] = {true, false, false, true, true, false};
  const uint16_t half[6] = {0x3C00, 0xC000, 0x3800, 0x0000, 0x7BFF, 0x3555};  // 1 -2 .5 0 65504
  const uint16_t bf16[6] = {0x3F80, 0xC000, 0x3F00,
                            0x0000, 0x4049, 0x4780};  // 1 -2 .5 0 3.14 65536
  const float c64[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const double scalar = 2.5;
  std::vector<int32_t> big(1000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<int32_t>(i * 3);
  auto bytes = [](const void* p, size_t n) {
    auto* c = static_cast<const unsigned char*>(p);
    return std::vector<unsigned char>(c, c + n);
  };
  std::vector<WriteLeaf> leaves = {
      MakeLeaf({"b"}, DType::kBool, {2, 3}, bytes(b, 6), 2, storage),
      MakeLeaf({"h"}, DType::kFloat16, {6}, bytes(half, 12), 2, storage),
      MakeLeaf({"g", "bf"}, DType::kBfloat16, {6}, bytes(bf16, 12), 3, storage),
      MakeLeaf({"g", "c"}, DType::kComplex64, {2, 3}, bytes(c64, 48), 1, storage),
      MakeLeaf({"s"}, DType::kFloat64, {}, bytes(&scalar, 8), 1, storage),
      MakeLeaf({"z"}, DType::kInt32, {1000}, bytes(big.data(), 4000), 3, storage),
  };
  leaves.back().chunk_shape = Shape{256};
  leaves.back().compress = true;
  ASSERT_TRUE(backend_->Write(ctx_, leaves).ok());
  const std::string script = R"PY(
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f["b"].dtype == np.bool_, f["b"].dtype
assert f["b"][()].tolist() == [[True, False, False], [True, True, False]]
assert f["h"].dtype == np.float16, f["h"].dtype
assert f["h"][()].tolist()[:5] == [1.0, -2.0, 0.5, 0.0, 65504.0], f["h"][()]
assert f["g/c"].dtype == np.complex64, f["g/c"].dtype
assert f["g/c"][1, 2] == 11 + 12j, f["g/c"][()]
assert f["g/bf"].attrs["cairn_dtype"] == "bfloat16", f["g/bf"].attrs["cairn_dtype"]
# numpy has no bfloat16: h5py reads it through HDF5's float conversion as float32.
assert f["g/bf"][()].tolist() == [1.0, -2.0, 0.5, 0.0, 3.140625, 65536.0], f["g/bf"][()]
assert tuple(f["g/c"].attrs["global_shape"]) == (2, 3)
assert f["s"][()] == 2.5 and tuple(f["s"].attrs["global_shape"]) == ()
assert f["s"].attrs["cairn_dtype"] == "float64"
if len(sys.argv) > 2:  # HDF5_PLUGIN_PATH points at libh5zstd.so
    assert f["z"][()].tolist() == list(range(0, 3000, 3))
    assert "32015" in f["z"]._filters
print("h5py ok")
)PY";
  const fs::path py = dir_ / "check.py";
  std::ofstream(py) << script;
  const char* plugins = std::getenv("CAIRN_H5ZSTD_PLUGIN_DIR");
  const std::string env = plugins ? "HDF5_PLUGIN_PATH=" + std::string(plugins) + " " : "";
  const std::string args = file().string() + (plugins ? " zstd" : "");
  EXPECT_EQ(std::system((env + "/usr/bin/python3 " + py.string() + " " + args).c_str()), 0);

  if (plugins == nullptr || std::system("command -v h5dump >/dev/null") != 0) {
    GTEST_SKIP() << "set CAIRN_H5ZSTD_PLUGIN_DIR to the directory of libh5zstd.so for h5dump";
  }
  const fs::path out = dir_ / "dump.txt";
  const std::string cmd =
      env + "h5dump -p -d /z -d /g/bf " + file().string() + " > " + out.string() + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(out);
  const std::string dump((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(dump.find("2991, 2994, 2997"), std::string::npos) << dump;
  EXPECT_NE(dump.find("32015"), std::string::npos) << dump;
  EXPECT_NE(dump.find("3.14"), std::string::npos) << dump;  // bfloat16 printed as a number
}

}  // namespace
}  // namespace cairn::storage
