// The one table of storage backends. A backend compiled out stays listed and answers
// "not built with X" instead of "unknown backend".
#include <algorithm>
#include <map>
#include <mutex>

#include "cairn/backend.h"
#include "cairn_config.h"
#include "storage/ocdbt/ocdbt_backend.h"
#include "storage/reference/reference_backend.h"
#if CAIRN_HAVE_HDF5
#include "storage/hdf5/hdf5_backend.h"
#endif

namespace cairn {
namespace {

struct Entry {
  BackendMaker maker;           // empty when compiled out
  std::string missing_feature;  // e.g. "parallel HDF5"
};

std::mutex& RegistryMutex() {
  static std::mutex m;
  return m;
}

std::map<std::string, Entry>& Registry() {
  static std::map<std::string, Entry> table = [] {
    std::map<std::string, Entry> t;
    t["ocdbt"] = {[] { return storage::MakeOcdbtBackend(); }, ""};
    t["reference"] = {[] { return storage::MakeReferenceBackend(); }, ""};
#if CAIRN_HAVE_HDF5
    t["hdf5"] = {[] { return storage::MakeHdf5Backend(); }, ""};
#else
    t["hdf5"] = {nullptr, "parallel HDF5 (reconfigure with -Dhdf5=enabled)"};
#endif
    return t;
  }();
  return table;
}

}  // namespace

Result<std::unique_ptr<Backend>> MakeBackend(std::string_view name) {
  std::lock_guard lock(RegistryMutex());
  auto& table = Registry();
  auto it = table.find(std::string(name));
  if (it == table.end()) {
    std::string known;
    for (const auto& [k, v] : table) known += (known.empty() ? "" : ", ") + k;
    return NotFoundError("unknown storage backend '" + std::string(name) + "' (known: " + known +
                         ")");
  }
  if (!it->second.maker) {
    return UnimplementedError("storage backend '" + std::string(name) +
                              "': cairn was not built with " + it->second.missing_feature);
  }
  return it->second.maker();
}

Status RegisterBackend(std::string name, BackendMaker maker) {
  std::lock_guard lock(RegistryMutex());
  auto& table = Registry();
  if (table.count(name)) return AlreadyExistsError("storage backend '" + name + "' already registered");
  table[name] = {std::move(maker), ""};
  return OkStatus();
}

std::vector<std::string> BackendNames() {
  std::lock_guard lock(RegistryMutex());
  std::vector<std::string> names;
  for (const auto& [k, v] : Registry()) {
    if (v.maker) names.push_back(k);
  }
  return names;
}

}  // namespace cairn
