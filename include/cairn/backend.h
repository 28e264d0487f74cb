#pragma once
/// The storage backend interface, for backend authors. A backend stores the array leaves of one
/// item of one checkpoint in the item's directory. Everything else (planning who writes what,
/// checksums, metadata, casts, the atomic commit, agreement between ranks) is shared machinery
/// above it, so a backend only moves boxes of contiguous bytes.

#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/array.h"
#include "cairn/communicator.h"
#include "cairn/metadata.h"
#include "cairn/options.h"

namespace cairn {

/// A box this rank writes: densely packed C-order elements of the stored dtype.
struct WritePiece {
  Box box;
  /// The bytes, ready. When null, `acquire` produces them.
  const void* data = nullptr;
  /// Produces the bytes just before the backend writes them (staging buffers are filled and
  /// freed as the write goes, which bounds memory). A backend calls acquire() once per piece, in
  /// leaf order and piece order, and release() once after each successful acquire() as soon as it
  /// no longer reads the bytes, before acquiring the next piece. acquire() may block.
  std::function<Result<const void*>()> acquire;
  std::function<void()> release;
};

/// For backend authors: a WritePiece's bytes, acquired on creation (when lazy) and released when
/// this goes away.
class PieceBytes {
 public:
  static Result<PieceBytes> Acquire(const WritePiece& piece) {
    if (piece.data != nullptr || !piece.acquire) return PieceBytes(piece.data, nullptr);
    Result<const void*> r = piece.acquire();
    if (!r.ok()) return r.status();
    return PieceBytes(*r, &piece.release);
  }
  PieceBytes(PieceBytes&& o) noexcept : data_(o.data_), release_(o.release_) { o.release_ = nullptr; }
  PieceBytes& operator=(PieceBytes&&) = delete;
  PieceBytes(const PieceBytes&) = delete;
  ~PieceBytes() {
    if (release_ != nullptr && *release_) (*release_)();
  }
  const void* data() const { return data_; }

 private:
  PieceBytes(const void* data, const std::function<void()>* release)
      : data_(data), release_(release) {}
  const void* data_;
  const std::function<void()>* release_;
};

/// One array leaf to write. Every rank passes the same leaves in the same order; only `pieces`
/// differ. Pieces of different ranks never overlap.
struct WriteLeaf {
  std::string key_path;                   ///< "params.dense.kernel"
  std::vector<std::string> segments;      ///< {"params","dense","kernel"}: groups + dataset
  DType dtype = DType::kFloat32;          ///< stored dtype
  Shape global_shape;
  std::optional<Shape> chunk_shape;       ///< none: contiguous layout
  bool compress = false;                  ///< zstd
  int compression_level = 3;
  std::vector<WritePiece> pieces;         ///< this rank's
  int max_pieces_per_rank = 0;            ///< max over ranks of pieces.size()
};

/// The 0-d leaf a scalar becomes for a backend that writes_scalars(): one piece, on the primary
/// only (pass `bits`, the value's little-endian bytes, there; null elsewhere).
inline WriteLeaf ScalarWriteLeaf(const KeyPath& key_path, DType dtype, bool compress,
                                 int compression_level, const uint64_t* bits) {
  WriteLeaf w;
  w.key_path = KeyPathString(key_path);
  for (const auto& seg : key_path) w.segments.push_back(seg.key);
  w.dtype = dtype;
  w.compress = compress;
  w.compression_level = compression_level;
  w.max_pieces_per_rank = 1;
  if (bits != nullptr) {
    WritePiece p;
    p.data = bits;
    w.pieces.push_back(std::move(p));
  }
  return w;
}

/// A box to read into `dest` (dense, C order, stored dtype). `stored_box` is the stored piece
/// that contains it and `location` that piece's backend location (as Write returned it).
struct ReadRequest {
  Box box;
  void* dest = nullptr;
  Box stored_box;
  const nlohmann::json* location = nullptr;
  /// If set, called as soon as this request's bytes are in `dest` (while they are still in the
  /// CPU caches: checksums are computed there). Backends fill a leaf's requests in order, and
  /// call on_filled before filling the next request (whose `dest` may be the same buffer).
  std::function<void()> on_filled;
};

/// One array leaf to read (only this rank's requests; reads are independent across ranks).
struct ReadLeaf {
  std::string key_path;
  std::vector<std::string> segments;
  DType dtype = DType::kFloat32;
  Shape global_shape;
  std::vector<ReadRequest> requests;
};

/// What a backend is given for one item.
struct BackendContext {
  Communicator* comm = nullptr;
  std::filesystem::path item_dir;  ///< exists on entry to Write and Read
  int primary = 0;
  std::optional<uint32_t> file_mode;  ///< FileOptions.path_permission_mode
  /// The item's array saving options (Write only; null on Read): backend-specific fields such
  /// as ocdbt_target_data_file_size.
  const ArrayOptions::Saving* save_options = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  /// Collective. Writes this rank's pieces of every leaf and makes them durable (fsync) before
  /// returning. Returns, per leaf and per piece of this rank, a location (any JSON, stored in
  /// `_METADATA` and handed back on read; null when the backend needs none). The returned Status
  /// may differ between ranks: the caller agrees on it.
  virtual Result<std::vector<std::vector<nlohmann::json>>> Write(const BackendContext& ctx,
                                                                 std::span<const WriteLeaf> leaves) = 0;
  /// Collective (every rank calls it, possibly with no requests). Fills every request.
  /// DataLoss naming the file and key path for unreadable data.
  virtual Status Read(const BackendContext& ctx, std::span<const ReadLeaf> leaves) = 0;

  /// Optional, for formats with their own description of an item (ocdbt: Orbax's metadata
  /// files). The file cairn's item metadata goes to; "_METADATA" unless the format takes that
  /// name. Readers look for `_CAIRN_METADATA` first, then `_METADATA`.
  virtual std::string_view item_metadata_file() const { return "_METADATA"; }
  /// True if scalar leaves are also passed to Write, as 0-d leaves of their dtype whose one
  /// piece the primary holds (their values stay in cairn's metadata as well).
  virtual bool writes_scalars() const { return false; }
  /// Primary only, after Write succeeded on every rank and before cairn's item metadata `m` is
  /// written: the format's own description of the item. It may also record in `m` what the
  /// backend chose (the ocdbt backend: each array's chunk shape).
  virtual Status DescribeItem(const BackendContext& ctx, ItemMetadata& m) {
    (void)ctx;
    (void)m;
    return OkStatus();
  }
};

using BackendMaker = std::function<std::unique_ptr<Backend>()>;

/// A backend by registry name. NotFound for an unknown name (listing the known ones);
/// Unimplemented "cairn was not built with X" for a backend compiled out.
Result<std::unique_ptr<Backend>> MakeBackend(std::string_view name);
/// Registers a user backend under `name`. AlreadyExists if taken.
Status RegisterBackend(std::string name, BackendMaker maker);
/// Names of the usable backends, sorted.
std::vector<std::string> BackendNames();

}  // namespace cairn
