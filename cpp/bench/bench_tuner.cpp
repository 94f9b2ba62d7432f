// EKF updates per second of the parameter filter (one step = 7 queue-model evaluations for three
// parameters), on synthetic observations: bench_tuner [N] [updates] [repeats].
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "inferno/tuner/filter.hpp"

using namespace inferno::tuner;

int main(int argc, char** argv) {
  const int n_batch = argc > 1 ? std::atoi(argv[1]) : 64;
  const int updates = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 5;
  if (n_batch < 1 || updates < 1 || repeats < 1) {
    std::fprintf(stderr, "usage: bench_tuner [N >= 1] [updates >= 1] [repeats >= 1]\n");
    return 1;
  }
  const ObservationModel model(ModelSpec::named("prefill-decode"));
  Vector truth(3);
  truth << 8.0, 0.016, 0.0005;
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(0.0, 0.05);
  std::vector<Observation> obs;
  for (int k = 0; k < updates; ++k) {
    Observation o;
    o.point = {30.0 + 20 * (k % 5), 500.0 + 300 * (k % 7), 300.0 + 100 * (k % 3), n_batch, 4LL * n_batch};
    Vector h;
    if (model.evaluate(truth, o.point, h) != ModelError::none) return 2;
    o.ttft_ms = h[0] * (1 + noise(rng));
    o.itl_ms = h[1] * (1 + noise(rng));
    obs.push_back(o);
  }
  double best = 1e300;
  long accepted = 0;
  for (int r = 0; r < repeats; ++r) {
    FilterConfig config = FilterConfig::profile("inferno");
    config.init_state = truth;
    ParameterFilter filter(config);
    accepted = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const auto& o : obs) accepted += is_accepted(filter.step(o).outcome);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, s);
  }
  std::printf("N = %d: %.0f updates/s (%.1f us per update, best of %d; %ld of %d accepted)\n", n_batch,
              updates / best, 1e6 * best / updates, repeats, accepted, updates);
  return 0;
}
