// Refuses option values whose feature is not built yet, so that a user porting Orbax settings
// gets a clear Unimplemented instead of a save that silently ignores them. Each check names the
// field as the caller spells it and the issue that will implement it; the list must stay in step
// with docs/orbax-mapping.md.
#include <sstream>
#include <string>
#include <string_view>

#include "cairn/options.h"

namespace cairn {
namespace {

constexpr std::string_view kOcdbt = "issue 5: OCDBT + zarr3 backend";
constexpr std::string_view kMultiHost = "issue 6: multi-host coordination";

Status NotYet(std::string_view field, std::string_view value, std::string_view issue,
              std::string_view hint = {}) {
  std::string m = std::string(field) + " = " + std::string(value) + " is not implemented yet (" +
                  std::string(issue) + ")";
  if (!hint.empty()) m += "; " + std::string(hint);
  return UnimplementedError(std::move(m));
}

template <typename Ints>
std::string Braced(const Ints& ints) {
  std::string out = "{";
  for (int v : ints) out += (out.size() > 1 ? ", " : "") + std::to_string(v);
  return out + "}";
}

std::string Field(std::string_view prefix, std::string_view name) {
  return std::string(prefix) + "." + std::string(name);
}

Status CheckSaving(const ArrayOptions::Saving& o, std::string_view p) {
  CAIRN_RETURN_IF_ERROR(CheckImplemented(o.storage_options, Field(p, "storage_options")));
  if (o.use_ocdbt) {
    return NotYet(Field(p, "use_ocdbt"), "true", kOcdbt,
                  "the storage format is chosen by SaveOptions.backend (\"hdf5\", \"reference\")");
  }
  if (o.use_zarr3) {
    return NotYet(Field(p, "use_zarr3"), "true", kOcdbt,
                  "the storage format is chosen by SaveOptions.backend (\"hdf5\", \"reference\")");
  }
  if (o.ocdbt_target_data_file_size) {
    return NotYet(Field(p, "ocdbt_target_data_file_size"),
                  std::to_string(*o.ocdbt_target_data_file_size), kOcdbt);
  }
  // false is what cairn does (device arrays are refused, host arrays are not staged).
  if (!o.enable_post_merge_validation) {
    return NotYet(Field(p, "enable_post_merge_validation"), "false", kOcdbt);
  }
  // false is what cairn does: a replicated region is written once, by the lowest rank holding it.
  if (o.use_replica_parallel.value_or(false)) {
    return NotYet(Field(p, "use_replica_parallel"), "true", kMultiHost);
  }
  if (o.min_slice_bytes_for_replica_parallel) {
    return NotYet(Field(p, "min_slice_bytes_for_replica_parallel"),
                  std::to_string(*o.min_slice_bytes_for_replica_parallel), kMultiHost);
  }
  if (o.max_replicas_for_replica_parallel) {
    return NotYet(Field(p, "max_replicas_for_replica_parallel"),
                  std::to_string(*o.max_replicas_for_replica_parallel), kMultiHost);
  }
  if (o.enable_replica_parallel_separate_folder) {
    return NotYet(Field(p, "enable_replica_parallel_separate_folder"), "true", kMultiHost);
  }
  if (!o.enable_write_sharding_file) {
    return NotYet(Field(p, "enable_write_sharding_file"), "false", kOcdbt,
                  "cairn always records each stored piece in _METADATA");
  }
  return OkStatus();
}

Status CheckLoading(const ArrayOptions::Loading& o, std::string_view p) {
  if (o.use_load_and_broadcast) {
    return NotYet(Field(p, "use_load_and_broadcast"), "true", kMultiHost);
  }
  const auto& lb = o.load_and_broadcast_options;
  const std::string q = Field(p, "load_and_broadcast_options");
  const ArrayOptions::Loading::LoadAndBroadcastOptions d;
  if (lb.replica_axis_index != d.replica_axis_index) {
    return NotYet(Field(q, "replica_axis_index"), std::to_string(lb.replica_axis_index),
                  kMultiHost);
  }
  if (lb.primary_replica_id != d.primary_replica_id) {
    return NotYet(Field(q, "primary_replica_id"), std::to_string(lb.primary_replica_id),
                  kMultiHost);
  }
  if (lb.broadcast_memory_limit_bytes) {
    return NotYet(Field(q, "broadcast_memory_limit_bytes"),
                  std::to_string(*lb.broadcast_memory_limit_bytes), kMultiHost);
  }
  // Exact comparison on purpose: only the untouched default is accepted.
  if (lb.broadcast_memory_scaling_factor != d.broadcast_memory_scaling_factor) {
    std::ostringstream value;
    value << lb.broadcast_memory_scaling_factor;
    return NotYet(Field(q, "broadcast_memory_scaling_factor"), value.str(), kMultiHost);
  }
  return OkStatus();
}

}  // namespace

Status CheckImplemented(const StorageOptions& options, std::string_view where) {
  if (!options.shard_axes.empty()) {
    return NotYet(Field(where, "shard_axes"), Braced(options.shard_axes), kOcdbt);
  }
  return OkStatus();
}

Status CheckImplemented(const SaveOptions& options) {
  return CheckSaving(options.array, "SaveOptions.array");
}

Status CheckImplemented(const RestoreOptions& options) {
  return CheckLoading(options.array, "RestoreOptions.array");
}

Status CheckImplemented(const MultiprocessingOptions& options) {
  if (options.active_processes) {
    return NotYet("MultiprocessingOptions.active_processes", Braced(*options.active_processes),
                  kMultiHost, "pass a communicator over just those ranks instead");
  }
  if (options.barrier_sync_key_prefix) {
    return NotYet("MultiprocessingOptions.barrier_sync_key_prefix",
                  "\"" + *options.barrier_sync_key_prefix + "\"", kMultiHost);
  }
  return OkStatus();
}

Status ValidateMemoryOptions(const MemoryOptions& options) {
  const std::pair<const char*, const std::optional<int64_t>*> limits[] = {
      {"write_concurrent_bytes", &options.write_concurrent_bytes},
      {"read_concurrent_bytes", &options.read_concurrent_bytes},
      {"transfer_concurrent_bytes", &options.transfer_concurrent_bytes}};
  for (const auto& [name, value] : limits) {
    if (*value && **value <= 0) {
      return InvalidArgumentError("MemoryOptions." + std::string(name) + " = " +
                                  std::to_string(**value) + " must be positive (or none)");
    }
  }
  return OkStatus();
}

}  // namespace cairn
