// The C API (include/cairn/cairn.h): thin wrappers over CheckpointManager and Tree. Every entry
// point catches what C++ may throw, because an exception unwinding into C is undefined behaviour.

#include "cairn/cairn.h"

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "cairn/args.h"
#include "cairn/checkpoint_manager.h"
#include "cairn/mpi.h"
#include "cairn/preservation_policy.h"
#include "cairn/status.h"
#include "cairn/tree.h"

struct cairn_manager {
  std::unique_ptr<cairn::CheckpointManager> manager;
};

// A scalar of the tree bound to the caller's variable: read at each save, written after each
// restore.
struct ScalarBinding {
  cairn::KeyPath path;
  cairn::DType dtype;
  void* value;  // int64_t* or double*
};

struct cairn_tree {
  cairn::Tree tree;
  std::vector<ScalarBinding> scalars;
};

namespace {

using cairn::Status;
using cairn::StatusCode;

thread_local std::string last_error;

int Fail(const Status& status) {
  last_error = status.ToString();
  return static_cast<int>(status.code());
}

int Report(const Status& status) { return status.ok() ? CAIRN_OK : Fail(status); }

// Runs `fn` (returning a Status), turning any exception into an Internal error.
template <typename Fn>
int Guard(const char* function, Fn&& fn) {
  try {
    return Report(fn());
  } catch (const std::bad_alloc&) {
    return Fail(cairn::ResourceExhaustedError(std::string(function) + ": out of memory"));
  } catch (const std::exception& e) {
    return Fail(cairn::InternalError(std::string(function) + ": " + e.what()));
  } catch (...) {
    return Fail(cairn::InternalError(std::string(function) + ": unknown exception"));
  }
}

Status NullArgument(const char* function, const char* name) {
  return cairn::InvalidArgumentError(std::string(function) + ": " + name + " is NULL");
}

// "params/w" -> {params, w}; every segment is a map key.
cairn::Result<cairn::KeyPath> ParseKeyPath(const char* key_path) {
  if (key_path == nullptr) return cairn::InvalidArgumentError("key path is NULL");
  const std::string s(key_path);
  cairn::KeyPath path;
  size_t start = 0;
  while (true) {
    const size_t end = s.find('/', start);
    std::string seg = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (seg.empty()) {
      return cairn::InvalidArgumentError("key path '" + s +
                                         "': empty segment (keys are separated by one '/')");
    }
    path.push_back({.key = std::move(seg), .is_index = false});
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return path;
}

Status InsertLeaf(cairn_tree* tree, const char* key_path, const cairn::KeyPath& path,
                  cairn::Tree leaf) {
  if (tree->tree.Find(path) != nullptr) {
    return cairn::InvalidArgumentError("key path '" + std::string(key_path) +
                                       "' was already added to the tree");
  }
  // A leaf on the way ("a" when adding "a/b") is not a map: Insert names the conflict.
  return tree->tree.Insert(path, std::move(leaf));
}

template <typename T>
int AddScalar(const char* function, cairn_tree* tree, const char* key_path, T* value) {
  return Guard(function, [&]() -> Status {
    if (tree == nullptr) return NullArgument(function, "tree");
    if (value == nullptr) return NullArgument(function, "value");
    CAIRN_ASSIGN_OR_RETURN(cairn::KeyPath path, ParseKeyPath(key_path));
    CAIRN_RETURN_IF_ERROR(InsertLeaf(tree, key_path, path, cairn::Scalar(*value)));
    tree->scalars.push_back({std::move(path), cairn::DTypeOf<T>(), value});
    return cairn::OkStatus();
  });
}

// Copies the bound variables into the tree's scalar leaves.
void LoadScalars(cairn::Tree& tree, const std::vector<ScalarBinding>& scalars) {
  for (const ScalarBinding& b : scalars) {
    cairn::Tree* node = tree.Find(b.path);
    if (b.dtype == cairn::DType::kInt64) {
      *node = cairn::Scalar(*static_cast<int64_t*>(b.value));
    } else {
      *node = cairn::Scalar(*static_cast<double*>(b.value));
    }
  }
}

// Copies the tree's scalar leaves (as restored) back into the bound variables.
void StoreScalars(const cairn::Tree& tree, const std::vector<ScalarBinding>& scalars) {
  for (const ScalarBinding& b : scalars) {
    const auto& s = std::get<cairn::Scalar>(tree.Find(b.path)->leaf());
    if (b.dtype == cairn::DType::kInt64) {
      *static_cast<int64_t*>(b.value) = s.as<int64_t>();
    } else {
      *static_cast<double*>(b.value) = s.as<double>();
    }
  }
}

int Open(std::shared_ptr<cairn::Communicator> comm, const char* directory,
         const cairn_manager_options* opts, cairn_manager** out) {
  constexpr const char* kFn = "cairn_manager_open";
  cairn_manager_options o;
  cairn_manager_options_init(&o);
  if (opts != nullptr) o = *opts;
  if (o.max_to_keep < 0) {
    return Fail(cairn::InvalidArgumentError(std::string(kFn) + ": max_to_keep is " +
                                            std::to_string(o.max_to_keep) +
                                            ", must be >= 0 (0 keeps every step)"));
  }
  if (o.save_interval_steps < 0) {
    return Fail(cairn::InvalidArgumentError(std::string(kFn) + ": save_interval_steps is " +
                                            std::to_string(o.save_interval_steps) +
                                            ", must be >= 0"));
  }
  if (o.primary_host < -1) {
    return Fail(cairn::InvalidArgumentError(std::string(kFn) + ": primary_host is " +
                                            std::to_string(o.primary_host) +
                                            ", must be a rank or -1"));
  }
  cairn::CheckpointManagerOptions options;
  options.save_interval_steps = o.save_interval_steps;
  if (o.max_to_keep > 0) options.max_to_keep = o.max_to_keep;
  options.enable_async_checkpointing = o.enable_async != 0;
  options.save_options.array.use_compression = o.use_compression != 0;
  options.async_options.timeout_secs = o.timeout_secs;
  options.multiprocessing_options.primary_host =
      o.primary_host < 0 ? std::nullopt : std::optional<int>(o.primary_host);
  options.create = o.create != 0;
  if (o.backend != nullptr) options.save_options.backend = o.backend;
  auto mgr = cairn::CheckpointManager::Create(std::move(comm), directory, std::move(options));
  if (!mgr.ok()) return Fail(mgr.status());
  *out = new cairn_manager{std::move(mgr).value()};
  return CAIRN_OK;
}

}  // namespace

extern "C" {

void cairn_manager_options_init(cairn_manager_options* opts) {
  if (opts == nullptr) return;
  const cairn::CheckpointManagerOptions d;
  opts->max_to_keep = 0;
  opts->save_interval_steps = static_cast<int>(d.save_interval_steps);
  opts->enable_async = d.enable_async_checkpointing ? 1 : 0;
  opts->use_compression = d.save_options.array.use_compression ? 1 : 0;
  opts->timeout_secs = d.async_options.timeout_secs;
  opts->primary_host = d.multiprocessing_options.primary_host.value_or(-1);
  opts->create = d.create ? 1 : 0;
  opts->backend = nullptr;
}

int cairn_manager_open(MPI_Comm comm, const char* directory, const cairn_manager_options* opts,
                       cairn_manager** out) {
  constexpr const char* kFn = "cairn_manager_open";
  if (out == nullptr) return Fail(NullArgument(kFn, "out"));
  *out = nullptr;
  if (directory == nullptr) return Fail(NullArgument(kFn, "directory"));
  int code = CAIRN_OK;
  const int guarded = Guard(kFn, [&]() -> Status {
    CAIRN_ASSIGN_OR_RETURN(auto c, cairn::MpiCommunicator(comm));
    code = Open(std::move(c), directory, opts, out);
    return cairn::OkStatus();
  });
  return guarded != CAIRN_OK ? guarded : code;
}

int cairn_manager_open_f(MPI_Fint comm, const char* directory, const cairn_manager_options* opts,
                         cairn_manager** out) {
  return cairn_manager_open(MPI_Comm_f2c(comm), directory, opts, out);
}

int cairn_tree_create(cairn_tree** out) {
  constexpr const char* kFn = "cairn_tree_create";
  if (out == nullptr) return Fail(NullArgument(kFn, "out"));
  *out = nullptr;
  return Guard(kFn, [&]() -> Status {
    *out = new cairn_tree();
    return cairn::OkStatus();
  });
}

int cairn_tree_add_array(cairn_tree* tree, const char* key_path, cairn_dtype dtype, int ndim,
                         const int64_t* global_shape, int npieces, const int64_t* origins,
                         const int64_t* shapes, void* const* data) {
  constexpr const char* kFn = "cairn_tree_add_array";
  return Guard(kFn, [&]() -> Status {
    if (tree == nullptr) return NullArgument(kFn, "tree");
    CAIRN_ASSIGN_OR_RETURN(cairn::KeyPath path, ParseKeyPath(key_path));
    const std::string where = std::string(kFn) + ": key path '" + key_path + "': ";
    if (static_cast<int>(dtype) < CAIRN_BOOL || static_cast<int>(dtype) > CAIRN_COMPLEX128) {
      return cairn::InvalidArgumentError(where + "unknown dtype " +
                                         std::to_string(static_cast<int>(dtype)));
    }
    if (ndim < 0) {
      return cairn::InvalidArgumentError(where + "ndim is " + std::to_string(ndim));
    }
    if (npieces < 0) {
      return cairn::InvalidArgumentError(where + "npieces is " + std::to_string(npieces));
    }
    if (ndim > 0 && global_shape == nullptr) return NullArgument(kFn, "global_shape");
    if (npieces > 0 && ndim > 0 && (origins == nullptr || shapes == nullptr)) {
      return NullArgument(kFn, origins == nullptr ? "origins" : "shapes");
    }
    if (npieces > 0 && data == nullptr) return NullArgument(kFn, "data");
    cairn::DistributedArray array;
    array.dtype = static_cast<cairn::DType>(dtype);
    array.global_shape.assign(global_shape, global_shape + ndim);
    for (int d = 0; d < ndim; ++d) {
      if (global_shape[d] < 0) {
        return cairn::InvalidArgumentError(where + "global_shape[" + std::to_string(d) +
                                           "] is " + std::to_string(global_shape[d]));
      }
    }
    for (int i = 0; i < npieces; ++i) {
      cairn::Piece piece;
      piece.box.origin.assign(origins + i * ndim, origins + (i + 1) * ndim);
      piece.box.shape.assign(shapes + i * ndim, shapes + (i + 1) * ndim);
      piece.data = data[i];
      for (int d = 0; d < ndim; ++d) {
        const int64_t o = piece.box.origin[d], s = piece.box.shape[d];
        if (o < 0 || s < 0 || o + s > global_shape[d]) {
          return cairn::InvalidArgumentError(
              where + "piece " + std::to_string(i) + " " + piece.box.ToString() +
              " lies outside the global shape along dimension " + std::to_string(d) + " (extent " +
              std::to_string(global_shape[d]) + ")");
        }
      }
      if (piece.data == nullptr && piece.box.NumElements() > 0) {
        return cairn::InvalidArgumentError(where + "data[" + std::to_string(i) + "] is NULL");
      }
      array.pieces.push_back(std::move(piece));
    }
    return InsertLeaf(tree, key_path, path, cairn::Tree(std::move(array)));
  });
}

int cairn_tree_add_scalar_int64(cairn_tree* tree, const char* key_path, int64_t* value) {
  return AddScalar("cairn_tree_add_scalar_int64", tree, key_path, value);
}

int cairn_tree_add_scalar_double(cairn_tree* tree, const char* key_path, double* value) {
  return AddScalar("cairn_tree_add_scalar_double", tree, key_path, value);
}

void cairn_tree_free(cairn_tree* tree) { delete tree; }

int cairn_manager_save(cairn_manager* mgr, int64_t step, const cairn_tree* tree, int force,
                       int* saved) {
  constexpr const char* kFn = "cairn_manager_save";
  if (saved != nullptr) *saved = 0;
  return Guard(kFn, [&]() -> Status {
    if (mgr == nullptr) return NullArgument(kFn, "mgr");
    if (tree == nullptr) return NullArgument(kFn, "tree");
    // StandardSave holds the tree by value; the arrays still point at the caller's buffers.
    cairn::Tree item = tree->tree;
    LoadScalars(item, tree->scalars);
    CAIRN_ASSIGN_OR_RETURN(
        bool did, mgr->manager->Save(step, cairn::StandardSave{std::move(item)},
                                     cairn::StepSaveParams{.force = force != 0}));
    if (saved != nullptr) *saved = did ? 1 : 0;
    return cairn::OkStatus();
  });
}

int cairn_manager_restore(cairn_manager* mgr, int64_t step, cairn_tree* tree) {
  constexpr const char* kFn = "cairn_manager_restore";
  return Guard(kFn, [&]() -> Status {
    if (mgr == nullptr) return NullArgument(kFn, "mgr");
    if (tree == nullptr) return NullArgument(kFn, "tree");
    if (step < -1) {
      return cairn::InvalidArgumentError(std::string(kFn) + ": step is " + std::to_string(step) +
                                         ", must be >= 0 or -1 (the latest)");
    }
    // The scalar leaves carry the target dtypes; restore replaces their values.
    LoadScalars(tree->tree, tree->scalars);
    CAIRN_RETURN_IF_ERROR(mgr->manager->Restore(step < 0 ? std::nullopt : std::optional(step),
                                                cairn::StandardRestore{.item = &tree->tree}));
    StoreScalars(tree->tree, tree->scalars);
    return cairn::OkStatus();
  });
}

int cairn_manager_latest_step(cairn_manager* mgr, int64_t* step, int* found) {
  constexpr const char* kFn = "cairn_manager_latest_step";
  if (found != nullptr) *found = 0;
  return Guard(kFn, [&]() -> Status {
    if (mgr == nullptr) return NullArgument(kFn, "mgr");
    if (step == nullptr) return NullArgument(kFn, "step");
    if (found == nullptr) return NullArgument(kFn, "found");
    const std::optional<int64_t> latest = mgr->manager->LatestStep();
    if (latest) *step = *latest;
    *found = latest ? 1 : 0;
    return cairn::OkStatus();
  });
}

int cairn_manager_wait(cairn_manager* mgr) {
  constexpr const char* kFn = "cairn_manager_wait";
  return Guard(kFn, [&]() -> Status {
    if (mgr == nullptr) return NullArgument(kFn, "mgr");
    return mgr->manager->WaitUntilFinished();
  });
}

int cairn_manager_close(cairn_manager* mgr) {
  if (mgr == nullptr) return CAIRN_OK;
  const int code = Guard("cairn_manager_close", [&]() -> Status { return mgr->manager->Close(); });
  try {
    delete mgr;
  } catch (...) {
  }
  return code;
}

const char* cairn_last_error(void) { return last_error.c_str(); }

const char* cairn_status_name(int code) {
  static const char* const kNames[] = {
      "OK",       "Cancelled",         "Unknown",           "InvalidArgument",
      "DeadlineExceeded", "NotFound",  "AlreadyExists",     "PermissionDenied",
      "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
      "Unimplemented", "Internal",     "Unavailable",       "DataLoss"};
  if (code < 0 || code >= static_cast<int>(sizeof(kNames) / sizeof(kNames[0]))) return "Unknown";
  return kNames[code];
}

}  // extern "C"
