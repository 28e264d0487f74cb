// DatabaseBuilder (streaming values, then the tree) and GetValueRef / ReadValueBytes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "format/ocdbt/read_view.h"
#include "format/ocdbt/value_ref.h"
#include "format/ocdbt/writer.h"

namespace cairn::ocdbt {
namespace {

namespace fs = std::filesystem;

fs::path TempDir(const std::string& name) {
  fs::path p =
      fs::temp_directory_path() / ("cairn_db_builder_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

TEST(DatabaseBuilderTest, StreamsValuesInAnyOrderAndSplitsDataFiles) {
  const fs::path root = TempDir("stream");
  auto builder = DatabaseBuilder::Create(root, {.target_data_file_size = 10000});
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  std::vector<NewLeafEntry> entries;
  // Appended in reverse key order; some inline, some large (one larger than the 8 MiB buffer).
  std::vector<std::pair<std::string, std::string>> kv;
  for (int i = 9; i >= 0; --i) {
    const size_t n = i == 3 ? (size_t{9} << 20) : (i % 2 ? 100 : 6000 + i);
    std::string v(n, static_cast<char>('a' + i));
    const std::string_view parts[2] = {std::string_view(v).substr(0, n / 2),
                                       std::string_view(v).substr(n / 2)};
    auto stored = builder->AppendValue(parts);
    ASSERT_TRUE(stored.ok()) << stored.status().message();
    EXPECT_EQ(stored->index(), n <= 1024 ? 0u : 1u);
    entries.push_back({.key = "k" + std::to_string(i), .value = std::move(*stored)});
    kv.emplace_back("k" + std::to_string(i), std::move(v));
  }
  std::reverse(entries.begin(), entries.end());
  auto written = builder->Finish(std::move(entries));
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_GT(written->data_files.size(), 2u);
  EXPECT_EQ(builder->Finish({}).status().code(), StatusCode::kFailedPrecondition);

  auto view = ReadView::Open(root);
  ASSERT_TRUE(view.ok()) << view.status().message();
  for (const auto& [key, value] : kv) {
    auto got = view->Get(key);
    ASSERT_TRUE(got.ok() && got->has_value()) << key;
    EXPECT_EQ(**got, value) << key;
    auto ref = GetValueRef(*view, key);
    ASSERT_TRUE(ref.ok() && ref->has_value()) << key;
    if (value.size() <= 1024) {
      EXPECT_EQ(std::get<std::string>(**ref), value);
      continue;
    }
    const FileRange& range = std::get<FileRange>(**ref);
    ASSERT_EQ(range.length, value.size());
    std::string part(10, '\0');
    ASSERT_TRUE(ReadValueBytes(*view, range, value.size() - 10, 10, part.data()).ok());
    EXPECT_EQ(part, value.substr(value.size() - 10));
    EXPECT_EQ(ReadValueBytes(*view, range, value.size() - 5, 10, part.data()).code(),
              StatusCode::kDataLoss);
  }
  auto absent = GetValueRef(*view, "nope");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
  fs::remove_all(root);
}

TEST(DatabaseBuilderTest, FinishRejectsUnsortedKeys) {
  const fs::path root = TempDir("unsorted");
  auto builder = DatabaseBuilder::Create(root);
  ASSERT_TRUE(builder.ok());
  std::vector<NewLeafEntry> entries = {{.key = "b", .value = std::string("1")},
                                       {.key = "a", .value = std::string("2")}};
  EXPECT_EQ(builder->Finish(std::move(entries)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(root / "manifest.ocdbt"));
  fs::remove_all(root);
}

}  // namespace
}  // namespace cairn::ocdbt
