#pragma once
// The fixture and helpers of the handler suites (handlers_test.cc, generator_handlers_test.cc).

#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cairn/args.h"
#include "mpi_tests/test_util.h"

namespace cairn::testing {

namespace fs = std::filesystem;
using nlohmann::json;

class HandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    comm_ = World();
    auto c = Checkpointer::Create(comm_);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ckpt_ = std::make_unique<Checkpointer>(std::move(*c));
    rank_ = comm_->rank();
    size_ = comm_->size();
  }
  // Once every rank is done with it, rank 0 rewrites a file; then every rank proceeds.
  void RewriteFile(const fs::path& path, const std::string& text) {
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank_ == 0) {
      std::ofstream out(path, std::ios::trunc);
      out << text;
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  std::string ReadAll(const fs::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Every entry of the shared directory (read on rank 0, broadcast).
  std::vector<std::string> Entries(const fs::path& dir) {
    std::string all;
    if (rank_ == 0) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(dir, ec))
        all += e.path().filename().string() + "\n";
    }
    EXPECT_TRUE(comm_->Broadcast(all, 0).ok());
    std::vector<std::string> out;
    std::istringstream in(all);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  std::shared_ptr<Communicator> comm_;
  std::unique_ptr<Checkpointer> ckpt_;
  SharedTempDir dir_;
  int rank_ = 0, size_ = 1;
};

inline const Tree* FindPath(const Tree& t, std::initializer_list<const char*> keys) {
  KeyPath path;
  for (const char* k : keys) path.push_back({k, false});
  return t.Find(path);
}

// Checks of what one rank reads alone never use fatal assertions: the other ranks would go on
// into the next collective and hang.
using MetaMap = std::map<std::string, Tree>;
inline MetaMap AllMeta(const Checkpointer& c, const fs::path& path) {
  auto m = c.ItemMetadata(path);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : MetaMap{};
}
// The leaf of kind T at `keys` inside item `item`, or nullopt (and a failure).
template <typename T>
std::optional<T> LeafAt(const MetaMap& meta, const std::string& item,
                        std::initializer_list<const char*> keys) {
  auto it = meta.find(item);
  const Tree* t = it == meta.end() ? nullptr : FindPath(it->second, keys);
  if (t == nullptr || !t->is_leaf() || !std::holds_alternative<T>(t->leaf())) {
    ADD_FAILURE() << "item '" << item << "' has no such leaf";
    return std::nullopt;
  }
  return std::get<T>(t->leaf());
}
template <typename T>
std::optional<T> ScalarAt(const MetaMap& meta, const std::string& item,
                          std::initializer_list<const char*> keys) {
  auto s = LeafAt<Scalar>(meta, item, keys);
  if (!s) return std::nullopt;
  if (s->dtype() != DTypeOf<T>()) {
    ADD_FAILURE() << "item '" << item << "': scalar of dtype " << DTypeName(s->dtype());
    return std::nullopt;
  }
  return s->as<T>();
}

// A std::mt19937_64 seeded by rank and advanced a rank-dependent number of draws.
inline std::mt19937_64 RankEngine(int rank) {
  std::mt19937_64 e(1000 + rank);
  e.discard(17 + 3 * rank);
  return e;
}
inline std::vector<uint64_t> Draws(std::mt19937_64& e, int n = 8) {
  std::vector<uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(e());
  return out;
}

}  // namespace cairn::testing
