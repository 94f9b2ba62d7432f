// Timing of the queueing core on one core, printed as a table (not a test).
// Usage: bench_queue [seconds_per_case]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "inferno/queue/analyzer.hpp"

using namespace inferno::queue;
using Clock = std::chrono::steady_clock;

namespace {

QueueConfig config(int max_batch, long max_queue) {
  QueueConfig c;
  c.params = {{"alpha", 12}, {"beta", 0.05}, {"gamma", 0.0005}};
  c.shape = RequestShape{128, 512, 8192};
  c.max_batch = max_batch;
  c.max_queue = max_queue;
  return c;
}

// Calls `body(i)` repeatedly for about `seconds`; returns seconds per call.
template <class Body>
double time_per_call(double seconds, Body&& body) {
  long calls = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  for (long batch = 16; elapsed < seconds; batch *= 2) {
    for (long i = 0; i < batch; ++i) body(calls + i);
    calls += batch;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return elapsed / static_cast<double>(calls);
}

volatile double sink;

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.3;
  std::printf("%6s %7s | %12s %12s | %12s %10s %6s | %12s\n", "N", "Q", "analyze_us", "analyze/s",
              "max_rate_us", "max_rate/s", "evals", "p95_rate_us");
  for (int n : {16, 64, 256, 1024}) {
    for (long q : {0L, 10L * n}) {
      const QueueAnalyzer a(config(n, q));
      // Rates spread over 5 %..100 % of maxRPS, so every regime of the chain is exercised.
      std::vector<double> rates(64);
      for (std::size_t i = 0; i < rates.size(); ++i)
        rates[i] = a.max_rate_rps() * (0.05 + 0.95 * static_cast<double>(i) / 63.0);
      Evaluation ev;
      const double t_analyze = time_per_call(seconds, [&](long i) {
        a.evaluate(rates[static_cast<std::size_t>(i) & 63], ev);
        sink = ev.metrics.ttft_ms;
      });
      // Mean targets that bind inside the range: 1.5x the zero-load TTFT and 1.3x the ITL.
      const Metrics zero = a.analyze(a.min_rate_rps());
      Targets t;
      t.constraints.push_back({TargetMetric::ttft, 0, 1.5 * zero.ttft_ms});
      t.constraints.push_back({TargetMetric::itl, 0, 1.3 * zero.itl_ms});
      int evals = 0;
      const double t_size = time_per_call(seconds, [&](long) {
        const SizeResult r = a.max_rate(t);
        evals = r.evaluations;
        sink = r.rate_rps;
      });
      Targets p95;
      p95.constraints.push_back({TargetMetric::ttft, 95, 1.5 * zero.ttft_ms});
      const double t_p95 = time_per_call(seconds / 2, [&](long) { sink = a.max_rate(p95).rate_rps; });
      std::printf("%6d %7ld | %12.3f %12.0f | %12.2f %10.0f %6d | %12.1f\n", n, q, t_analyze * 1e6,
                  1.0 / t_analyze, t_size * 1e6, 1.0 / t_size, evals, t_p95 * 1e6);
    }
  }
  return 0;
}
