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
  if (o.ocdbt_target_data_file_size && *o.ocdbt_target_data_file_size < 0) {
    return InvalidArgumentError(Field(p, "ocdbt_target_data_file_size") + " = " +
                                std::to_string(*o.ocdbt_target_data_file_size) +
                                " must not be negative (0: no limit)");
  }
  if (o.min_slice_bytes_for_replica_parallel && *o.min_slice_bytes_for_replica_parallel < 0) {
    return InvalidArgumentError(Field(p, "min_slice_bytes_for_replica_parallel") + " = " +
                                std::to_string(*o.min_slice_bytes_for_replica_parallel) +
                                " must not be negative");
  }
  if (o.max_replicas_for_replica_parallel && *o.max_replicas_for_replica_parallel < 1) {
    return InvalidArgumentError(Field(p, "max_replicas_for_replica_parallel") + " = " +
                                std::to_string(*o.max_replicas_for_replica_parallel) +
                                " must be at least 1");
  }
  if (o.enable_replica_parallel_separate_folder) {
    return NotYet(Field(p, "enable_replica_parallel_separate_folder"), "true", kOcdbt,
                  "the hdf5 backend writes one shared file per item");
  }
  return OkStatus();
}

Status CheckLoading(const ArrayOptions::Loading& o, std::string_view p) {
  const auto& lb = o.load_and_broadcast_options;
  const std::string q = Field(p, "load_and_broadcast_options");
  if (lb.replica_axis_index < 0) {
    return InvalidArgumentError(Field(q, "replica_axis_index") + " = " +
                                std::to_string(lb.replica_axis_index) + " must not be negative");
  }
  if (lb.primary_replica_id < 0) {
    return InvalidArgumentError(Field(q, "primary_replica_id") + " = " +
                                std::to_string(lb.primary_replica_id) + " must not be negative");
  }
  if (lb.broadcast_memory_limit_bytes && *lb.broadcast_memory_limit_bytes <= 0) {
    return InvalidArgumentError(Field(q, "broadcast_memory_limit_bytes") + " = " +
                                std::to_string(*lb.broadcast_memory_limit_bytes) +
                                " must be positive");
  }
  if (!(lb.broadcast_memory_scaling_factor > 0 && lb.broadcast_memory_scaling_factor <= 1)) {
    std::ostringstream value;
    value << lb.broadcast_memory_scaling_factor;
    return InvalidArgumentError(Field(q, "broadcast_memory_scaling_factor") + " = " +
                                value.str() + " must be in (0, 1]");
  }
  if (lb.mesh) {
    const RankMesh& m = *lb.mesh;
    int64_t n = m.shape.empty() ? 0 : 1;
    for (int d : m.shape) n = d > 0 ? n * d : -1;
    if (n <= 0 || static_cast<size_t>(n) != m.ranks.size()) {
      return InvalidArgumentError(Field(q, "mesh") + ": shape " + Braced(m.shape) + " holds " +
                                  std::to_string(std::max<int64_t>(n, 0)) + " positions but " +
                                  std::to_string(m.ranks.size()) + " ranks are listed");
    }
    if (lb.replica_axis_index >= static_cast<int>(m.shape.size())) {
      return InvalidArgumentError(Field(q, "replica_axis_index") + " = " +
                                  std::to_string(lb.replica_axis_index) + " but the mesh has " +
                                  std::to_string(m.shape.size()) + " axes");
    }
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
  CAIRN_RETURN_IF_ERROR(CheckSaving(options.array, "SaveOptions.array"));
  return ResolveBackendName(options).status();
}

Result<std::string> ResolveBackendName(const SaveOptions& options) {
  const auto& a = options.array;
  std::string name = options.backend;
  if (a.use_ocdbt) {
    if (name != "hdf5" && name != "ocdbt") {
      return InvalidArgumentError("SaveOptions.array.use_ocdbt = true asks for the ocdbt backend, "
                                  "but SaveOptions.backend = \"" + name + "\"");
    }
    name = "ocdbt";
  }
  if (name == "ocdbt" && !a.use_zarr3) {
    return NotYet("SaveOptions.array.use_zarr3", "false", kOcdbt,
                  "the ocdbt backend writes zarr v3 arrays (Orbax's default); zarr v2 is not "
                  "written");
  }
  return name;
}

Status CheckImplemented(const RestoreOptions& options) {
  return CheckLoading(options.array, "RestoreOptions.array");
}

Status CheckImplemented(const MultiprocessingOptions& options) {
  if (options.primary_host && *options.primary_host < 0) {
    return InvalidArgumentError("MultiprocessingOptions.primary_host = " +
                                std::to_string(*options.primary_host) + " must not be negative");
  }
  if (options.active_processes) {
    const auto& a = *options.active_processes;
    if (a.empty()) return InvalidArgumentError("MultiprocessingOptions.active_processes is empty");
    if (*a.begin() < 0) {
      return InvalidArgumentError("MultiprocessingOptions.active_processes " + Braced(a) +
                                  " holds a negative rank");
    }
    if (options.primary_host && !a.count(*options.primary_host)) {
      return InvalidArgumentError("MultiprocessingOptions.primary_host " +
                                  std::to_string(*options.primary_host) +
                                  " is not in active_processes " + Braced(a));
    }
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
