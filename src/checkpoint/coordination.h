#pragma once
// How a checkpointer or manager talks to the other ranks (MultiprocessingOptions): which ranks take
// part (active_processes), over which communicator (its own duplicate, every collective bounded
// by timeout_secs and named after barrier_sync_key_prefix), and who writes shared files
// (primary_host, or every rank for its own copy when primary_host is none).

#include <memory>
#include <string>
#include <string_view>

#include "cairn/checkpointer.h"
#include "cairn/communicator.h"
#include "cairn/options.h"

namespace cairn::checkpoint {

struct Coordination {
  /// Over the active ranks (all ranks by default): a duplicate of the caller's communicator
  /// owned by this checkpointer or manager, with every collective bounded by timeout_secs.
  std::shared_ptr<Communicator> comm;
  /// What saves and restores run over: `comm`, or a single-rank communicator when every rank is
  /// the primary of its own copy (primary_host none).
  std::shared_ptr<Communicator> storage;
  /// Rank of `comm` that decides for everyone (the primary host; 0 when every rank is primary).
  int root = 0;
  /// primary_host is none: every rank writes and commits its own copy.
  bool every_rank_primary = false;
  /// MultiprocessingOptions.barrier_sync_key_prefix, or empty.
  std::string key_prefix;

  /// `what` prefixed to a barrier/collective name: "<prefix>cairn.<what>".
  std::string Key(std::string_view what) const;
  /// For saves and restores run over `storage` when every rank is primary: every rank returns
  /// the same outcome (collective over `comm`); otherwise `local` unchanged.
  Status Agree(const Status& local) const;
};

/// Collective over the active ranks only (the others do not call it): checks the options
/// (InvalidArgument naming the field; a rank outside active_processes gets it at once, without
/// any collective), builds the communicator of the active ranks and duplicates it.
/// `who` names the caller in messages ("CheckpointManager::Create").
Result<Coordination> Coordinate(const std::shared_ptr<Communicator>& comm,
                                const MultiprocessingOptions& options, int timeout_secs,
                                std::string_view who);

/// The options the save and restore internals see: primary_host is the rank of
/// `coordination.storage` that writes shared files (never none).
CheckpointerOptions InternalOptions(CheckpointerOptions options, const Coordination& coordination);

/// Names the collectives of one operation in timeout errors; restores the previous name.
class PhaseLabel {
 public:
  PhaseLabel(Communicator& comm, std::string phase);
  ~PhaseLabel();
  PhaseLabel(const PhaseLabel&) = delete;
  PhaseLabel& operator=(const PhaseLabel&) = delete;

 private:
  Communicator& comm_;
  std::string previous_;
};

}  // namespace cairn::checkpoint
