#pragma once
/// The MPI communicator. The only public header that includes <mpi.h>.

#include <mpi.h>

#include <memory>

#include "cairn/communicator.h"
#include "cairn/options.h"

namespace cairn {

/// Wraps a duplicate of `comm` (cairn's traffic never mixes with the application's), with
/// MPI_ERRORS_RETURN so MPI errors become Status. FailedPrecondition if MPI is not initialised.
/// The duplicate is freed when the last reference goes (before MPI_Finalize).
Result<std::shared_ptr<Communicator>> MpiCommunicator(MPI_Comm comm);

/// The rank mesh of a Cartesian communicator (MPI_Cart_create): its dims as the mesh shape and
/// the rank at each position, in that communicator's numbering (give cairn that communicator,
/// or create it with reorder = 0). For LoadAndBroadcastOptions::mesh, e.g. with replicas along
/// axis 0 of a {replicas, shards} grid. InvalidArgument if `comm` has no Cartesian topology.
Result<RankMesh> RankMeshFromCartesian(MPI_Comm comm);

}  // namespace cairn
