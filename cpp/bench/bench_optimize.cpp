// Timing of candidate generation and the solvers on a system directory (not a test).
// Usage: bench_optimize DIR [repeats] [threads]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "inferno/optimizer/solution.hpp"

using namespace inferno::optimizer;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_optimize DIR [repeats] [threads]\n");
    return 1;
  }
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 20;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  SystemBuilder b;
  b.add_directory(argv[1]);
  const System sys = b.build();
  double best_candidates = 1e300, best_solve = 1e300;
  double total = 0;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    const auto candidates = generate_candidates(sys, threads);
    const auto t1 = Clock::now();
    const Solution s = optimize(sys, candidates);
    const auto t2 = Clock::now();
    best_candidates = std::min(best_candidates, std::chrono::duration<double, std::milli>(t1 - t0).count());
    best_solve = std::min(best_solve, std::chrono::duration<double, std::milli>(t2 - t1).count());
    total = s.total_value;
  }
  std::printf("%s: candidates %.2f ms, solve (%s) %.2f ms, J = %.6g (best of %d, %d threads)\n", argv[1],
              best_candidates, inferno::enum_name(inferno::optimizer::kSolvers, sys.options().solver), best_solve, total, repeats, threads);
  return 0;
}
