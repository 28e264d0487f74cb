#pragma once
// The primary's merge of the per-process OCDBT databases into the item's top-level database
// (ocdbt-format.md 1.13, as Orbax lays it out): every leaf entry of `<item>/ocdbt.process_<p>/`
// is re-inserted under the same key, inline values copied, indirect values referenced in place
// (base path "ocdbt.process_<p>/"); only new B+tree nodes are written, to `<item>/d/`.

#include <filesystem>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "format/ocdbt/writer.h"

namespace cairn::storage {

/// "ocdbt.process_<p>", Orbax's per-process database folder.
std::string ProcessDatabaseName(int process);

/// Writes `<item_dir>/manifest.ocdbt` (+ `d/`) referencing the values of the databases
/// `<item_dir>/ocdbt.process_<p>/` for p in [0, num_processes). DataLoss naming the file if a
/// process database is unreadable; Internal if two hold the same key; AlreadyExists if the
/// top-level manifest exists; I/O errors name the file.
Status MergeProcessDatabases(const std::filesystem::path& item_dir, int num_processes,
                             const ocdbt::WriteOptions& options = {});

/// Enable_post_merge_validation: reopens `<item_dir>/manifest.ocdbt` and checks that it lists
/// exactly the keys of the process databases and that every zarr.json in it parses. DataLoss
/// naming the manifest otherwise.
Status ValidateMergedDatabase(const std::filesystem::path& item_dir, int num_processes);

}  // namespace cairn::storage
