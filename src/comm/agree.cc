#include <functional>
#include <string>

#include "cairn/communicator.h"

namespace cairn {
namespace {

// A missed deadline or a broken communicator is what every rank saw (the deadline verdict is
// itself agreed), so it wins over the local error: every rank then returns the same kind.
Status Failed(const Status& comm_error, const Status& local) {
  const StatusCode c = comm_error.code();
  if (c == StatusCode::kDeadlineExceeded || c == StatusCode::kFailedPrecondition) {
    return comm_error;
  }
  return local.ok() ? comm_error : local;
}

}  // namespace

Status AgreeOnStatus(Communicator& comm, const Status& local) {
  const int64_t size = comm.size();
  // Min over ranks of: [lowest failing rank, hash, -hash, ok]. When every rank failed with the
  // very same status (an inner phase already agreed), it is returned unchanged.
  const int64_t h = static_cast<int64_t>(std::hash<std::string>{}(local.ToString()) >> 1);
  std::vector<int64_t> v = {local.ok() ? size : comm.rank(), h, -h, local.ok() ? 1 : 0};
  std::vector<int64_t> count = {local.ok() ? 0 : 1};
  Status st = comm.AllReduceMin(v);
  if (st.ok()) st = comm.AllReduceSum(count);
  if (!st.ok()) return Failed(st, local);
  if (v[0] == size) return OkStatus();
  if (v[3] == 0 && v[1] == -v[2]) return local;
  const int root = static_cast<int>(v[0]);
  std::string payload;
  if (comm.rank() == root) {
    payload = std::to_string(static_cast<int>(local.code())) + ":" + local.message();
  }
  st = comm.Broadcast(payload, root);
  if (!st.ok()) return Failed(st, local);
  size_t colon = payload.find(':');
  auto code = static_cast<StatusCode>(std::stoi(payload.substr(0, colon)));
  std::string message = payload.substr(colon + 1);
  if (comm.size() > 1) message = "rank " + std::to_string(root) + ": " + message;
  if (count[0] > 1) {
    message += " (also failed on " + std::to_string(count[0] - 1) + " other rank" +
               (count[0] > 2 ? "s" : "") + ")";
  }
  return Status(code, std::move(message));
}

}  // namespace cairn
