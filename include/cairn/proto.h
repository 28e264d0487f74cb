#pragma once
/// Protocol buffer messages as checkpoint items (Orbax `ProtoSave` / `ProtoRestore`,
/// `ProtoCheckpointHandler`). Available when cairn is built with protobuf (the meson feature
/// `protobuf`, on by default when libprotobuf is found; `CAIRN_HAVE_PROTOBUF` in cairn_config.h).
///
///   trainer::Config config = ...;
///   checkpointer.Save(dir, cairn::Composite{{"state", cairn::StandardSave{tree}},
///                                           {"config", cairn::ProtoSave{&config}}});
///   checkpointer.Restore(dir, cairn::Composite{{"config", cairn::ProtoRestore{&config}}});
///
/// The message is stored, as Orbax stores it, in text format: `<item>/proto.pbtxt`, whose first
/// line `# proto-message: <full message type name>` records the type (the usual text-proto
/// header, a comment to the parser).

#include <google/protobuf/message.h>

#include "cairn/handler.h"

namespace cairn {

/// Orbax `ProtoSave`: the primary rank's message is saved. Handler:
/// "cairn.ProtoCheckpointHandler". `item` must stay valid until the save returns; it must be
/// non-null on every rank (InvalidArgument otherwise).
struct ProtoSave {
  const google::protobuf::Message* item = nullptr;
};

/// Orbax `ProtoRestore`: every rank's `item` receives the stored message. FailedPrecondition if
/// the stored message type differs from `item`'s (both named); DataLoss naming the file if the
/// file does not parse as that type. `item` is left unchanged on error.
struct ProtoRestore {
  google::protobuf::Message* item = nullptr;
};

}  // namespace cairn
