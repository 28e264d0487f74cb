// Rank meshes from MPI Cartesian communicators.
#include <mpi.h>

#include "cairn/mpi.h"

namespace cairn {

Result<RankMesh> RankMeshFromCartesian(MPI_Comm comm) {
  int topo = MPI_UNDEFINED;
  if (MPI_Topo_test(comm, &topo) != MPI_SUCCESS || topo != MPI_CART) {
    return InvalidArgumentError(
        "RankMeshFromCartesian: the communicator has no Cartesian topology (MPI_Cart_create)");
  }
  int ndims = 0;
  MPI_Cartdim_get(comm, &ndims);
  std::vector<int> dims(ndims), periods(ndims), coords(ndims);
  MPI_Cart_get(comm, ndims, dims.data(), periods.data(), coords.data());
  RankMesh mesh;
  mesh.shape = dims;
  int64_t n = 1;
  for (int d : dims) n *= d;
  mesh.ranks.resize(static_cast<size_t>(n));
  std::vector<int> at(ndims, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i;
    for (int d = ndims - 1; d >= 0; --d) {  // row-major position -> coordinates
      at[d] = static_cast<int>(rest % dims[d]);
      rest /= dims[d];
    }
    int rank = -1;
    MPI_Cart_rank(comm, at.data(), &rank);
    mesh.ranks[static_cast<size_t>(i)] = rank;
  }
  return mesh;
}

}  // namespace cairn
