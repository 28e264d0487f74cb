#pragma once
/// The MPI communicator. The only public header that includes <mpi.h>.

#include <mpi.h>

#include <memory>

#include "cairn/communicator.h"

namespace cairn {

/// Wraps a duplicate of `comm` (cairn's traffic never mixes with the application's), with
/// MPI_ERRORS_RETURN so MPI errors become Status. FailedPrecondition if MPI is not initialised.
/// The duplicate is freed when the last reference goes (before MPI_Finalize).
Result<std::shared_ptr<Communicator>> MpiCommunicator(MPI_Comm comm);

}  // namespace cairn
