// Shared main for the multi-rank suites: MPI_Init_thread, only rank 0 prints unless a rank fails,
// and every rank exits with the same code.
#include <gtest/gtest.h>
#include <mpi.h>

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
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
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
