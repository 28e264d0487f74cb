// CheckImplemented: default options pass, every not-yet-implemented field set to a non-default
// value is Unimplemented naming the field and the issue that will implement it.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "cairn/options.h"

namespace cairn {
namespace {

// One field set away from its default, and what the error must mention.
template <typename Options>
struct Case {
  std::string field;  // must appear in the message
  std::string issue;  // "issue N"
  std::function<void(Options&)> set;
};

template <typename Options>
void ExpectEachIsUnimplemented(const std::vector<Case<Options>>& cases) {
  for (const auto& c : cases) {
    Options o;
    c.set(o);
    Status st = CheckImplemented(o);
    EXPECT_EQ(st.code(), StatusCode::kUnimplemented) << c.field << ": " << st.ToString();
    EXPECT_NE(st.message().find(c.field), std::string::npos) << st.ToString();
    EXPECT_NE(st.message().find(c.issue), std::string::npos) << st.ToString();
  }
}

TEST(OptionsCheckTest, DefaultsAreImplemented) {
  EXPECT_TRUE(CheckImplemented(SaveOptions{}).ok()) << CheckImplemented(SaveOptions{}).ToString();
  EXPECT_TRUE(CheckImplemented(RestoreOptions{}).ok());
  EXPECT_TRUE(CheckImplemented(MultiprocessingOptions{}).ok());
  EXPECT_TRUE(CheckImplemented(StorageOptions{}).ok());
  EXPECT_TRUE(ValidateMemoryOptions(MemoryOptions{}).ok());
}

TEST(OptionsCheckTest, DefaultsFollowOrbaxExceptTheFormatSwitches) {
  const ArrayOptions a;
  EXPECT_FALSE(a.saving.use_ocdbt);  // Orbax: true (deviation, see the header)
  EXPECT_TRUE(a.saving.use_zarr3);
  EXPECT_TRUE(a.saving.use_compression);
  EXPECT_FALSE(a.saving.ocdbt_target_data_file_size.has_value());
  EXPECT_FALSE(a.saving.enable_pinned_host_transfer.has_value());
  EXPECT_TRUE(a.saving.enable_post_merge_validation);
  EXPECT_FALSE(a.saving.use_replica_parallel.has_value());
  EXPECT_FALSE(a.saving.min_slice_bytes_for_replica_parallel.has_value());
  EXPECT_FALSE(a.saving.max_replicas_for_replica_parallel.has_value());
  EXPECT_FALSE(a.saving.enable_replica_parallel_separate_folder);
  EXPECT_TRUE(a.saving.enable_write_sharding_file);
  EXPECT_TRUE(a.saving.storage_options.shard_axes.empty());
  EXPECT_FALSE(a.loading.enable_padding_and_truncation);
  EXPECT_TRUE(a.loading.raise_array_data_missing_error);
  EXPECT_FALSE(a.loading.use_load_and_broadcast);
  EXPECT_EQ(a.loading.load_and_broadcast_options.replica_axis_index, 0);
  EXPECT_EQ(a.loading.load_and_broadcast_options.primary_replica_id, 0);
  EXPECT_FALSE(a.loading.load_and_broadcast_options.broadcast_memory_limit_bytes.has_value());
  EXPECT_EQ(a.loading.load_and_broadcast_options.broadcast_memory_scaling_factor, 0.75);
  const MultiprocessingOptions m;
  EXPECT_EQ(m.primary_host, 0);
  EXPECT_FALSE(m.active_processes.has_value());
  EXPECT_FALSE(m.barrier_sync_key_prefix.has_value());
  EXPECT_FALSE(PyTreeOptions{}.loading.partial_load);
}

TEST(OptionsCheckTest, ImplementedNonDefaultsPass) {
  SaveOptions s{.backend = "reference",
                .array = {.storage_options = {.dtype = DType::kFloat32, .chunk_byte_size = 4096},
                          .use_compression = false,
                          .compression_level = 9,
                          .enable_pinned_host_transfer = false,
                          .use_replica_parallel = true,
                          .min_slice_bytes_for_replica_parallel = 1 << 20,
                          .max_replicas_for_replica_parallel = 2}};
  EXPECT_TRUE(CheckImplemented(s).ok()) << CheckImplemented(s).ToString();
  RestoreOptions r{
      .array = {.enable_padding_and_truncation = true,
                .raise_array_data_missing_error = false,
                .use_load_and_broadcast = true,
                .load_and_broadcast_options = {.replica_axis_index = 1,
                                               .primary_replica_id = 1,
                                               .broadcast_memory_limit_bytes = 1 << 20,
                                               .broadcast_memory_scaling_factor = 0.5,
                                               .mesh = RankMesh{{2, 2}, {0, 1, 2, 3}}}},
      .partial_load = true,
      .strict = false,
      .allow_lossy_cast = true,
      .verify_checksums = false};
  EXPECT_TRUE(CheckImplemented(r).ok()) << CheckImplemented(r).ToString();
  EXPECT_TRUE(CheckImplemented(MultiprocessingOptions{.primary_host = 3}).ok());
  EXPECT_TRUE(CheckImplemented(MultiprocessingOptions{.primary_host = std::nullopt}).ok());
  EXPECT_TRUE(CheckImplemented(MultiprocessingOptions{.primary_host = 1,
                                                      .active_processes = std::set<int>{1, 3},
                                                      .barrier_sync_key_prefix = "model_a_"})
                  .ok());
}

TEST(OptionsCheckTest, UnimplementedSaveFieldsAreNamed) {
  ExpectEachIsUnimplemented<SaveOptions>({
      {"SaveOptions.array.storage_options.shard_axes", "issue 5",
       [](SaveOptions& o) {
         o.array.storage_options.shard_axes = {1, 0};
       }},
      {"SaveOptions.array.use_zarr3", "issue 5",
       [](SaveOptions& o) {
         o.array.use_ocdbt = true;
         o.array.use_zarr3 = false;
       }},
      {"SaveOptions.array.enable_replica_parallel_separate_folder", "issue 5",
       [](SaveOptions& o) { o.array.enable_replica_parallel_separate_folder = true; }},
  });
}

TEST(OptionsCheckTest, OcdbtOptionsSelectAndCheck) {
  // use_ocdbt selects the ocdbt backend over the default "hdf5"; a third backend contradicts it.
  EXPECT_EQ(*ResolveBackendName(SaveOptions{}), "hdf5");
  EXPECT_EQ(*ResolveBackendName(SaveOptions{.array = {.use_ocdbt = true}}), "ocdbt");
  EXPECT_EQ(*ResolveBackendName(SaveOptions{.backend = "ocdbt"}), "ocdbt");
  auto bad = ResolveBackendName(SaveOptions{.backend = "reference", .array = {.use_ocdbt = true}});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("reference"), std::string::npos);
  // zarr v2 is not written; the other backends ignore use_zarr3.
  EXPECT_EQ(ResolveBackendName(SaveOptions{.backend = "ocdbt", .array = {.use_zarr3 = false}})
                .status()
                .code(),
            StatusCode::kUnimplemented);
  EXPECT_TRUE(CheckImplemented(SaveOptions{.array = {.use_zarr3 = false}}).ok());
  SaveOptions ok{.backend = "ocdbt",
                 .array = {.ocdbt_target_data_file_size = 0,
                           .enable_post_merge_validation = false,
                           .enable_write_sharding_file = false}};
  EXPECT_TRUE(CheckImplemented(ok).ok()) << CheckImplemented(ok).ToString();
  SaveOptions negative{.array = {.ocdbt_target_data_file_size = -1}};
  EXPECT_EQ(CheckImplemented(negative).code(), StatusCode::kInvalidArgument);
  EXPECT_NE(CheckImplemented(negative).message().find("ocdbt_target_data_file_size"),
            std::string::npos);
}

// Values out of range are InvalidArgument naming the field and the value.
void ExpectInvalid(const Status& st, const std::string& needle) {
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.ToString();
}

TEST(OptionsCheckTest, OutOfRangeValuesAreInvalid) {
  using LB = ArrayOptions::Loading::LoadAndBroadcastOptions;
  auto restore = [](LB lb) {
    RestoreOptions o;
    o.array.use_load_and_broadcast = true;
    o.array.load_and_broadcast_options = std::move(lb);
    return CheckImplemented(o);
  };
  ExpectInvalid(restore(LB{.replica_axis_index = -1}),
                "RestoreOptions.array.load_and_broadcast_options.replica_axis_index = -1");
  ExpectInvalid(restore(LB{.primary_replica_id = -2}), "primary_replica_id = -2");
  ExpectInvalid(restore(LB{.broadcast_memory_limit_bytes = 0}), "broadcast_memory_limit_bytes = 0");
  ExpectInvalid(restore(LB{.broadcast_memory_scaling_factor = 1.5}),
                "broadcast_memory_scaling_factor = 1.5");
  ExpectInvalid(restore(LB{.mesh = RankMesh{{2, 2}, {0, 1, 2}}}), "4 positions but 3 ranks");
  ExpectInvalid(restore(LB{.replica_axis_index = 2, .mesh = RankMesh{{2, 2}, {0, 1, 2, 3}}}),
                "the mesh has 2 axes");
  SaveOptions s;
  s.array.max_replicas_for_replica_parallel = 0;
  ExpectInvalid(CheckImplemented(s), "max_replicas_for_replica_parallel = 0");
  s = {};
  s.array.min_slice_bytes_for_replica_parallel = -1;
  ExpectInvalid(CheckImplemented(s), "min_slice_bytes_for_replica_parallel = -1");
  ExpectInvalid(CheckImplemented(MultiprocessingOptions{.primary_host = -1}), "primary_host = -1");
  ExpectInvalid(CheckImplemented(MultiprocessingOptions{.active_processes = std::set<int>{}}),
                "active_processes is empty");
  ExpectInvalid(CheckImplemented(MultiprocessingOptions{.primary_host = 0,
                                                        .active_processes = std::set<int>{1, 2, 3}}),
                "primary_host 0 is not in active_processes {1, 2, 3}");
}

TEST(OptionsCheckTest, MemoryLimitsMustBePositive) {
  EXPECT_TRUE(ValidateMemoryOptions(MemoryOptions{.write_concurrent_bytes = 1,
                                                  .read_concurrent_bytes = 1 << 20,
                                                  .transfer_concurrent_bytes = int64_t{1} << 40})
                  .ok());
  Status st = ValidateMemoryOptions(MemoryOptions{.read_concurrent_bytes = 0});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("MemoryOptions.read_concurrent_bytes = 0"), std::string::npos)
      << st.ToString();
  st = ValidateMemoryOptions(MemoryOptions{.transfer_concurrent_bytes = -5});
  EXPECT_NE(st.message().find("transfer_concurrent_bytes = -5"), std::string::npos)
      << st.ToString();
}

TEST(OptionsCheckTest, ScopedStorageOptionsAreCheckedWithTheirOwnName) {
  Status st = CheckImplemented(StorageOptions{.shard_axes = {2}}, "params.w");
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented) << st.ToString();
  EXPECT_NE(st.message().find("params.w.shard_axes = {2}"), std::string::npos) << st.ToString();
  EXPECT_TRUE(CheckImplemented(StorageOptions{.dtype = DType::kBfloat16}, "params.w").ok());
}

TEST(OptionsCheckTest, FirstUnimplementedFieldIsReported) {
  SaveOptions s;
  s.array.storage_options.shard_axes = {0};
  s.array.enable_replica_parallel_separate_folder = true;
  Status st = CheckImplemented(s);
  EXPECT_NE(st.message().find("shard_axes"), std::string::npos) << st.ToString();
  EXPECT_EQ(st.message().find("separate_folder"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace cairn
