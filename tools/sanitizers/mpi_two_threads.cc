// No cairn code: the evidence for tsan.supp. Two threads inside Open MPI at once, as during an
// asynchronous save: a "background" thread on a duplicated communicator (collectives,
// Isend/Iprobe/Recv/Test as in the timed agreements, a duplicate of a duplicate, MPI-IO as HDF5
// does it) while the "caller" runs the same traffic on MPI_COMM_WORLD. Every ThreadSanitizer
// report this program gets is Open MPI's; with tsan.supp it gets none, and a race of its own
// (tsan_canary below) is still reported.
//
//   mpicxx -std=c++20 -O1 -g -fsanitize=thread tools/sanitizers/mpi_two_threads.cc -o /tmp/m2t
//   export TSAN_OPTIONS=suppressions=tools/sanitizers/tsan.supp:halt_on_error=1
//   mpirun -n 4 /tmp/m2t /tmp/m2t.bin                  no report (without the suppressions:
//                                                      hundreds)
//   mpirun -n 2 /tmp/m2t /tmp/m2t.bin --tsan-canary    reports tsan_canary's race
#include <mpi.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

void Traffic(MPI_Comm comm, int round, const char* io_path) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  for (int n : {8, 1000, 40000}) {  // eager, larger eager, rendezvous
    std::vector<long> v(n, rank + round);
    MPI_Allreduce(MPI_IN_PLACE, v.data(), n, MPI_LONG, MPI_SUM, comm);
    MPI_Bcast(v.data(), n, MPI_LONG, 0, comm);
    std::vector<long> all(static_cast<size_t>(n) * size);
    MPI_Allgather(v.data(), n, MPI_LONG, all.data(), n, MPI_LONG, comm);
    std::vector<int> counts(size, n), displs(size);
    for (int r = 0; r < size; ++r) displs[r] = r * n;
    MPI_Allgatherv(v.data(), n, MPI_LONG, all.data(), counts.data(), displs.data(), MPI_LONG, comm);
    MPI_Comm dup;
    MPI_Comm_dup(comm, &dup);
    MPI_Comm_free(&dup);
    MPI_Barrier(comm);
    // The timed agreement: Isend to the root, which polls Iprobe and receives; Test until done.
    std::string msg(static_cast<size_t>(n), 'x');
    MPI_Request req = MPI_REQUEST_NULL;
    if (rank != 0) {
      MPI_Isend(msg.data(), n, MPI_BYTE, 0, 7, comm, &req);
    } else {
      for (int got = 1; got < size;) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, 7, comm, &flag, &st);
        if (!flag) continue;
        int count = 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        std::string in(static_cast<size_t>(count), '\0');
        MPI_Recv(in.data(), count, MPI_BYTE, st.MPI_SOURCE, 7, comm, MPI_STATUS_IGNORE);
        ++got;
      }
    }
    for (int done = 0; !done;) MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    MPI_Barrier(comm);
  }
  if (io_path != nullptr) {  // a collective write, as HDF5's MPI-IO driver makes
    MPI_File fh;
    MPI_File_open(comm, io_path, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
    std::vector<double> d(5000, rank);
    MPI_File_write_at_all(fh, static_cast<MPI_Offset>(rank) * 5000 * 8, d.data(), 5000, MPI_DOUBLE,
                          MPI_STATUS_IGNORE);
    MPI_File_close(&fh);
  }
}

int tsan_canary = 0;

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  const char* io_path = argc > 1 ? argv[1] : "mpi_two_threads.bin";
  const bool canary = argc > 2 && std::strcmp(argv[2], "--tsan-canary") == 0;
  MPI_Comm background;
  MPI_Comm_dup(MPI_COMM_WORLD, &background);
  for (int round = 0; round < 12; ++round) {
    std::thread t([&] {
      Traffic(background, round, io_path);
      if (canary && round == 0) ++tsan_canary;
    });
    Traffic(MPI_COMM_WORLD, round, nullptr);
    if (canary && round == 0) ++tsan_canary;  // unsynchronised with the thread: a real race
    t.join();
  }
  MPI_Comm_free(&background);
  MPI_Finalize();
  return 0;
}
