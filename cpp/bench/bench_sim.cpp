// Simulated requests per second of wall time: one server, Poisson arrivals, geometric output
// lengths. bench_sim [rate_rps] [duration_s] [max_batch] [out_tokens].
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "inferno/sim/simulator.hpp"

using namespace inferno::sim;

int main(int argc, char** argv) {
  const double rate = argc > 1 ? std::atof(argv[1]) : 100;
  const double duration = argc > 2 ? std::atof(argv[2]) : 3600;
  const int max_batch = argc > 3 ? std::atoi(argv[3]) : 1024;
  const double out = argc > 4 ? std::atof(argv[4]) : 512;
  if (!(rate > 0 && duration > 0 && max_batch > 0 && out >= 1)) {
    std::fprintf(stderr, "usage: bench_sim [rate_rps > 0] [duration_s > 0] [max_batch >= 1] [out_tokens >= 1]\n");
    return 1;
  }
  SimulatedReplica s;
  s.queue.params = {{"alpha", 5.0}, {"beta", 0.005}, {"gamma", 3e-6}};
  s.queue.shape = inferno::queue::RequestShape{128, out, 8192};
  s.queue.max_batch = max_batch;
  s.queue.max_queue = 4LL * max_batch;
  WorkloadSpec w;
  w.rate_rps = rate;
  w.in_tokens = TokenDist::constant(128);
  w.out_tokens.kind = TokenDist::Kind::geometric;
  w.out_tokens.value = out;
  SimOptions o;
  o.duration_s = duration;
  o.warmup_s = duration / 10;
  o.keep_requests = false;
  const auto start = std::chrono::steady_clock::now();
  const SimResult r = simulate(s, w, FleetSpec{}, o);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%ld requests, %ld iterations in %.3f s wall: %.0f requests/s, %.0f iterations/s "
              "(mean batch %.0f, TTFT %.1f ms, ITL %.2f ms, blocked %ld)\n",
              r.summary.total_arrivals, r.summary.iterations, wall, static_cast<double>(r.summary.total_arrivals) / wall,
              static_cast<double>(r.summary.iterations) / wall, r.summary.mean_num_in_service, r.summary.ttft_ms.mean, r.summary.itl_ms.mean,
              r.summary.total_blocked);
  return 0;
}
