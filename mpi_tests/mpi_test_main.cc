// Shared main for the multi-rank suites: MPI_Init_thread, only rank 0 prints unless a rank fails,
// and every rank exits with the same code.
// Built a second time with CAIRN_TEST_FUNNELED: MPI initialised with MPI_THREAD_FUNNELED, for the
// asynchronous checkpointer's fallback mode; exits 77 (skipped) if MPI still provides
// MPI_THREAD_MULTIPLE, since the fallback would then not be exercised.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#ifdef CAIRN_TEST_FUNNELED
constexpr int kThreadLevel = MPI_THREAD_FUNNELED;
#else
constexpr int kThreadLevel = MPI_THREAD_MULTIPLE;
#endif

namespace {

class QuietUnlessFailing : public testing::EmptyTestEventListener {
 public:
  QuietUnlessFailing(testing::TestEventListener* inner, int rank) : inner_(inner), rank_(rank) {}
  ~QuietUnlessFailing() override { delete inner_; }
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (r.failed()) {
      fprintf(stderr, "[rank %d] %s:%d: %s\n", rank_, r.file_name() ? r.file_name() : "?",
              r.line_number(), r.message());
    }
  }

 private:
  testing::TestEventListener* inner_;
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, kThreadLevel, &provided);
  testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (kThreadLevel != MPI_THREAD_MULTIPLE && provided >= MPI_THREAD_MULTIPLE) {
    if (rank == 0) std::printf("SKIP: MPI provides MPI_THREAD_MULTIPLE when asked for less\n");
    MPI_Finalize();
    return 77;
  }
  if (rank != 0) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    auto* printer = listeners.Release(listeners.default_result_printer());
    listeners.Append(new QuietUnlessFailing(printer, rank));
  }
  int local = RUN_ALL_TESTS();
  int global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return global;
}
