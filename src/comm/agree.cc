#include <string>

#include "cairn/communicator.h"

namespace cairn {

Status AgreeOnStatus(Communicator& comm, const Status& local) {
  const int64_t size = comm.size();
  // [lowest failing rank, number of failing ranks]
  std::vector<int64_t> first = {local.ok() ? size : comm.rank()};
  std::vector<int64_t> count = {local.ok() ? 0 : 1};
  Status st = comm.AllReduceMin(first);
  if (st.ok()) st = comm.AllReduceSum(count);
  if (!st.ok()) return local.ok() ? st : local;
  if (first[0] == size) return OkStatus();
  const int root = static_cast<int>(first[0]);
  std::string payload;
  if (comm.rank() == root) {
    payload = std::to_string(static_cast<int>(local.code())) + ":" + local.message();
  }
  st = comm.Broadcast(payload, root);
  if (!st.ok()) return local.ok() ? st : local;
  size_t colon = payload.find(':');
  auto code = static_cast<StatusCode>(std::stoi(payload.substr(0, colon)));
  std::string message = payload.substr(colon + 1);
  // Messages already attributed to a rank by an inner agreement keep their attribution.
  if (comm.size() > 1 && message.rfind("rank ", 0) != 0) {
    message = "rank " + std::to_string(root) + ": " + message;
  }
  if (count[0] > 1) {
    message += " (also failed on " + std::to_string(count[0] - 1) + " other rank" +
               (count[0] > 2 ? "s" : "") + ")";
  }
  return Status(code, std::move(message));
}

}  // namespace cairn
