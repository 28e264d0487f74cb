#pragma once
// Helpers shared by the multi-rank suites.

#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "cairn/cairn.hpp"
#include "cairn/mpi.h"

namespace cairn::testing {

inline std::shared_ptr<Communicator> World() {
  auto c = MpiCommunicator(MPI_COMM_WORLD);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

inline int WorldRank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
inline int WorldSize() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

/// A fresh directory shared by all ranks (rank 0 creates it, name broadcast), removed at the end.
class SharedTempDir {
 public:
  SharedTempDir() {
    char name[256] = {};
    if (WorldRank() == 0) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-test-XXXXXX").string();
      std::vector<char> buf(tmpl.begin(), tmpl.end());
      buf.push_back('\0');
      if (mkdtemp(buf.data()) == nullptr) std::abort();
      snprintf(name, sizeof(name), "%s", buf.data());
    }
    MPI_Bcast(name, sizeof(name), MPI_CHAR, 0, MPI_COMM_WORLD);
    path_ = name;
  }
  ~SharedTempDir() {
    MPI_Barrier(MPI_COMM_WORLD);
    if (WorldRank() == 0) std::filesystem::remove_all(path_);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Every rank's status text, to check that all ranks returned the same Status.
inline std::vector<std::string> AllStatuses(const Status& s) {
  std::string mine = s.ToString();
  int n = static_cast<int>(mine.size());
  int size = WorldSize();
  std::vector<int> counts(size), displs(size);
  MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < size; ++r) displs[r] = total, total += counts[r];
  std::string all(total, '\0');
  MPI_Allgatherv(mine.data(), n, MPI_CHAR, all.data(), counts.data(), displs.data(), MPI_CHAR,
                 MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (int r = 0; r < size; ++r) out.push_back(all.substr(displs[r], counts[r]));
  return out;
}

/// Asserts that every rank got the same non-OK status with `code` and a message containing
/// `needle`.
#define EXPECT_SAME_ERROR_ON_ALL_RANKS(status, expected_code, needle)                   \
  do {                                                                                  \
    ::cairn::Status s_ = (status);                                                      \
    EXPECT_EQ(s_.code(), expected_code) << s_.ToString();                               \
    EXPECT_NE(s_.message().find(needle), std::string::npos) << s_.ToString();           \
    auto all_ = ::cairn::testing::AllStatuses(s_);                                      \
    for (size_t r_ = 1; r_ < all_.size(); ++r_) EXPECT_EQ(all_[r_], all_[0]) << "rank " << r_; \
  } while (0)

/// Row-block decomposition of dimension 0 of `shape` over `size` ranks (uneven allowed).
inline Box RowBlock(const Shape& shape, int rank, int size) {
  Box b{std::vector<int64_t>(shape.size(), 0), shape};
  if (shape.empty()) return b;
  int64_t n = shape[0], base = n / size, extra = n % size;
  b.origin[0] = rank * base + std::min<int64_t>(rank, extra);
  b.shape[0] = base + (rank < extra ? 1 : 0);
  return b;
}

/// Column-block decomposition of the last dimension.
inline Box ColBlock(const Shape& shape, int rank, int size) {
  Box b{std::vector<int64_t>(shape.size(), 0), shape};
  if (shape.empty()) return b;
  size_t d = shape.size() - 1;
  int64_t n = shape[d], base = n / size, extra = n % size;
  b.origin[d] = rank * base + std::min<int64_t>(rank, extra);
  b.shape[d] = base + (rank < extra ? 1 : 0);
  return b;
}

/// A deterministic byte pattern for element `flat` of an array of `dtype`, for any dtype (bool
/// gets 0/1, floats get finite values).
inline void FillElement(DType dtype, int64_t flat, unsigned char* out) {
  const size_t n = DTypeSize(dtype);
  uint64_t h = static_cast<uint64_t>(flat) * 0x9E3779B97F4A7C15ull + 0x1234567;
  h ^= h >> 29;
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(h >> (8 * (i % 8)));
  if (dtype == DType::kBool) out[0] &= 1;
  // Keep floats finite and non-NaN so that equal values mean equal bits.
  if (dtype == DType::kFloat16) out[1] &= 0x3b;
  if (dtype == DType::kBfloat16) out[1] &= 0x3f;
  if (dtype == DType::kFloat32 || dtype == DType::kComplex64) out[3] &= 0x3f, out[n > 4 ? 7 : 3] &= 0x3f;
  if (dtype == DType::kFloat64 || dtype == DType::kComplex128) out[7] &= 0x3f, out[n > 8 ? 15 : 7] &= 0x3f;
}

/// A dense buffer for `box` of a global `shape`, filled with the pattern (or zeros).
inline std::vector<unsigned char> MakeBuffer(DType dtype, const Shape& shape, const Box& box,
                                             bool fill = true) {
  const size_t elem = DTypeSize(dtype);
  std::vector<unsigned char> buf(static_cast<size_t>(box.NumElements()) * elem + 1, 0);
  if (!fill) return buf;
  std::vector<int64_t> idx(box.shape.size(), 0);
  for (int64_t i = 0; i < box.NumElements(); ++i) {
    int64_t flat = 0, rem = i;
    for (size_t d = box.shape.size(); d-- > 0;) {
      idx[d] = rem % box.shape[d];
      rem /= box.shape[d];
    }
    for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + box.origin[d] + idx[d];
    FillElement(dtype, flat, buf.data() + i * elem);
  }
  return buf;
}

}  // namespace cairn::testing
