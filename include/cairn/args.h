#pragma once
/// The built-in argument types (Orbax `ocp.args`): each names the handler that saves or restores
/// it through the global HandlerRegistry. Save arguments hold the data by value (arrays hold
/// pointers to the caller's memory, which must stay valid until the save returns); restore
/// arguments point at the targets they fill.

#include <functional>
#include <locale>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "cairn/array.h"
#include "cairn/handler.h"
#include "cairn/options.h"
#include "cairn/tree.h"

namespace cairn {

/// Orbax `StandardSave`: a tree, saved with the caller's default SaveOptions.
/// Handler: "cairn.StandardCheckpointHandler".
struct StandardSave {
  Tree item;
};
/// Orbax `StandardRestore`: fills `item` (any decomposition; see Checkpointer::Restore).
struct StandardRestore {
  Tree* item = nullptr;
  /// Missing or unexpected keys are errors. Default: true (as Orbax's `strict`).
  bool strict = true;
  /// If set, receives what was skipped (when not strict).
  RestoreReport* report = nullptr;
};

/// Orbax `PyTreeSave`: a tree with per-call overrides of the storage choices.
/// Handler: "cairn.PyTreeHandler".
struct PyTreeSave {
  Tree item;
  /// Backend name ("hdf5", "reference"). Default: the caller's SaveOptions.backend.
  std::optional<std::string> backend;
  /// Array saving options. Default: the caller's SaveOptions.array.
  std::optional<ArrayOptions::Saving> array;
};
/// Orbax `PyTreeRestore`.
struct PyTreeRestore {
  Tree* item = nullptr;
  /// Restore options (partial_load, strict, casts, checksums). Default: the caller's.
  std::optional<RestoreOptions> options;
  /// If set, receives what was skipped (when not strict).
  RestoreReport* report = nullptr;
};

/// Orbax `ArraySave`: one distributed array. Handler: "cairn.ArrayCheckpointHandler".
struct ArraySave {
  DistributedArray item;
};
/// Orbax `ArrayRestore`: fills the pieces of `item` (its dtype and global shape say what to read).
struct ArrayRestore {
  DistributedArray* item = nullptr;
};

/// Orbax `JsonSave`: a JSON value; the primary rank's value is saved.
/// Handler: "cairn.JsonCheckpointHandler" (file `<item>/metadata`, as Orbax names it).
struct JsonSave {
  nlohmann::json item;
};
/// Orbax `JsonRestore`: every rank receives the stored value.
struct JsonRestore {
  nlohmann::json* item = nullptr;
};

/// A stable name for a random engine type: the standard name for the standard engines
/// ("std::mt19937_64", "std::ranlux48", ...), the same with every standard library; otherwise the
/// demangled C++ type name.
template <typename Engine>
std::string RandomEngineName() {
  if constexpr (std::is_same_v<Engine, std::minstd_rand0>)
    return "std::minstd_rand0";
  else if constexpr (std::is_same_v<Engine, std::minstd_rand>)
    return "std::minstd_rand";
  else if constexpr (std::is_same_v<Engine, std::mt19937>)
    return "std::mt19937";
  else if constexpr (std::is_same_v<Engine, std::mt19937_64>)
    return "std::mt19937_64";
  else if constexpr (std::is_same_v<Engine, std::ranlux24_base>)
    return "std::ranlux24_base";
  else if constexpr (std::is_same_v<Engine, std::ranlux48_base>)
    return "std::ranlux48_base";
  else if constexpr (std::is_same_v<Engine, std::ranlux24>)
    return "std::ranlux24";
  else if constexpr (std::is_same_v<Engine, std::ranlux48>)
    return "std::ranlux48";
  else if constexpr (std::is_same_v<Engine, std::knuth_b>)
    return "std::knuth_b";
  else
    return DemangledTypeName(typeid(Engine));
}

/// The state of a standard random engine (std::mt19937, std::ranlux48, ...): the C++
/// counterpart of Orbax `NumpyRandomKeySave` (a bit generator's state). The state is the engine's
/// standard textual representation (written in the "C" locale), which the C++ standard fixes, so
/// it is portable between standard libraries. Handler: "cairn.RandomEngineHandler".
struct RandomEngineSave {
  /// The engine's type (RandomEngineName), checked on restore.
  std::string engine;
  /// The engine's textual state (`operator<<`).
  std::string state;
  /// Each rank saves its own engine (restoring needs the same number of ranks). When false the
  /// primary rank's state is saved and every rank restores it. Default: true.
  bool per_rank = true;

  template <typename Engine>
  static RandomEngineSave Of(const Engine& engine, bool per_rank = true) {
    std::ostringstream out;
    out.imbue(std::locale::classic());
    out << engine;
    return {RandomEngineName<Engine>(), out.str(), per_rank};
  }
};
/// Orbax `NumpyRandomKeyRestore`: restores into an engine.
struct RandomEngineRestore {
  /// The engine's type; must match the saved one.
  std::string engine;
  /// Parses a state; with `commit` also assigns it to the target engine. Returns false (and
  /// leaves the engine untouched) if the text is not a valid state. The handler calls it without
  /// `commit` on every rank first, so a restore is all-or-nothing.
  std::function<bool(const std::string& text, bool commit)> assign;

  template <typename Engine>
  static RandomEngineRestore Into(Engine* engine) {
    return {RandomEngineName<Engine>(), [engine](const std::string& text, bool commit) {
              std::istringstream in(text);
              in.imbue(std::locale::classic());
              Engine parsed;
              in >> parsed;
              if (in.fail()) return false;
              if (commit) *engine = parsed;
              return true;
            }};
  }
};

/// A raw counter-based random key (Philox, Threefry): the C++ counterpart of Orbax
/// `JaxRandomKeySave`. Handler: "cairn.RandomKeyHandler".
struct RandomKeySave {
  /// The key's words.
  std::vector<uint32_t> key_data;
  /// The generator implementation, as JAX names it ("threefry2x32", "rbg", "unsafe_rbg") or any
  /// name of the application's. Default: "threefry2x32" (JAX's default).
  std::string impl = "threefry2x32";
  /// Each rank saves its own key. Default: false (one key, the primary's, like a JAX key).
  bool per_rank = false;
};
/// Orbax `JaxRandomKeyRestore`.
struct RandomKeyRestore {
  std::vector<uint32_t>* key_data = nullptr;
  /// If set, receives the stored implementation name.
  std::string* impl = nullptr;
};

}  // namespace cairn
