#pragma once
/// The asynchronous checkpointer (Orbax `AsyncCheckpointer`): Save returns as soon as the state
/// is copied into staging buffers; writing, metadata and the atomic commit run on a background
/// thread, over a duplicate of the communicator, so they never mix with the application's MPI
/// traffic. A new Save waits for the previous one. A background failure is returned on every
/// rank by WaitUntilFinished and CheckForErrors, and by the next Save or Restore; no failure is
/// dropped. The checkpoint directory appears only after its commit.
///
/// MPI threads: background saves need MPI initialised with MPI_THREAD_MULTIPLE. Below that
/// (MPI_Init, or MPI_Init_thread giving FUNNELED/SERIALIZED) cairn starts no thread: Save still
/// copies the state and returns, and the write runs on the calling thread at the next collective
/// call (Save, WaitUntilFinished, Restore, Close); a one-line notice says so on rank 0.
/// HDF5 (not thread-safe in its parallel builds): while a save is in flight the application must
/// not call HDF5 itself; cairn's own HDF5 calls are serialised.
///
///   auto ckpt = AsyncCheckpointer::Create(comm).value();
///   ckpt->Save(dir / "step_100", StandardSave{state});  // returns after the copy
///   Train();                                            // overwriting state is fine
///   ckpt->WaitUntilFinished();                          // committed (or the failure)

#include <filesystem>
#include <map>
#include <memory>

#include "cairn/checkpointer.h"
#include "cairn/communicator.h"
#include "cairn/handler.h"
#include "cairn/options.h"

namespace cairn {

namespace checkpoint {
class AsyncSaver;
struct Coordination;
}

class AsyncCheckpointer {
 public:
  /// Collective over the active ranks (see Checkpointer::Create). InvalidArgument for bad
  /// options (primary_host outside the communicator or the active ranks, a non-positive timeout
  /// or memory limit).
  static Result<std::unique_ptr<AsyncCheckpointer>> Create(std::shared_ptr<Communicator> comm,
                                                           CheckpointerOptions options = {});
  /// Waits for the save in flight (as Close, ignoring its outcome).
  ~AsyncCheckpointer();
  AsyncCheckpointer(const AsyncCheckpointer&) = delete;
  AsyncCheckpointer& operator=(const AsyncCheckpointer&) = delete;

  /// Collective. Stages `args` (a Composite, or one argument struct saved as item "default")
  /// and starts writing `directory` in the background. Returns once the caller may change its
  /// data (see MemoryOptions for limits and prioritized keys). Returns the previous save's
  /// failure instead of saving if it failed. Otherwise as Checkpointer::Save.
  Status Save(const std::filesystem::path& directory, const CheckpointArgs& args,
              const SaveOptions& options = {});
  /// Collective. Waits for the save in flight, then restores (as Checkpointer::Restore); the
  /// save's failure, if any, is returned instead.
  Status Restore(const std::filesystem::path& directory, const CheckpointArgs& args,
                 const RestoreOptions& options = {});
  /// Blocks until no save is in flight; the last save's outcome (the same on every rank).
  Status WaitUntilFinished();
  /// Non-blocking: the failure of a finished background save, else OK.
  Status CheckForErrors() const;
  /// Waits for the save in flight and returns its failure, if not reported yet. Idempotent.
  Status Close();

  /// Every item's metadata (dtypes and shapes, no array data), read on this rank only.
  Result<std::map<std::string, Tree>> ItemMetadata(const std::filesystem::path& directory) const;

 private:
  AsyncCheckpointer(std::shared_ptr<const checkpoint::Coordination> coordination,
                    CheckpointerOptions options, std::unique_ptr<checkpoint::AsyncSaver> saver);
  std::shared_ptr<const checkpoint::Coordination> coord_;
  CheckpointerOptions options_;
  CheckpointerOptions internal_;
  std::unique_ptr<checkpoint::AsyncSaver> saver_;
};

}  // namespace cairn
