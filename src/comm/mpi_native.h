#pragma once
// For the few foreign libraries that need the raw MPI communicator (parallel HDF5's MPI-IO
// driver). Everything else talks through cairn::Communicator.

#include <mpi.h>

#include "cairn/communicator.h"

namespace cairn::comm {

/// The MPI communicator behind `comm` (cairn's private duplicate), or MPI_COMM_NULL when `comm`
/// is not an MPI communicator (e.g. the single-process one).
MPI_Comm NativeMpiComm(const Communicator& comm);

}  // namespace cairn::comm
