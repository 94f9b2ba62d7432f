// libFuzzer target: the queue core's analyze and max-rate entry points on fuzzed parameters,
// extreme finite values included. A configuration is either rejected with InvalidArgument or
// gives finite metrics: a NaN or an infinity in a result is a finding.
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include <fuzzer/FuzzedDataProvider.h>

#include "inferno/error.hpp"
#include "inferno/queue/analyzer.hpp"

namespace {
double any_double(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0: return in.ConsumeFloatingPoint<double>();             // anything, ±1e308 and NaN-free
    case 1: return in.ConsumeFloatingPointInRange(0.0, 1e-300);    // subnormals and tiny values
    case 2: return in.ConsumeFloatingPointInRange(0.0, 1e9);
    default: return static_cast<double>(in.ConsumeIntegralInRange(0, 1000));
  }
}

void require_finite(double value) {
  if (!std::isfinite(value)) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace inferno::queue;
  FuzzedDataProvider in(data, size);
  QueueConfig config;
  config.params = {{"alpha", any_double(in)}, {"beta", any_double(in)}, {"gamma", any_double(in)}};
  config.shape.in_tokens = any_double(in);
  config.shape.out_tokens = any_double(in);
  config.shape.max_num_tokens = in.ConsumeIntegralInRange<int>(1, 1 << 20);
  config.max_batch = in.ConsumeIntegralInRange(1, 512);
  // Any waiting room up to 2^63 - 1: a survival evaluation costs at most ~4,096 terms.
  config.max_queue = in.ConsumeIntegral<std::int64_t>() & INT64_MAX;
  config.options.arrival_cov = in.ConsumeFloatingPointInRange(0.0, 150.0);
  const double rate = any_double(in);
  const double ttft = any_double(in), itl = any_double(in), percentile = in.ConsumeFloatingPointInRange(0.0, 100.0);
  try {
    const QueueAnalyzer analyzer(config);
    const Metrics m = analyzer.analyze(rate);
    for (double v : {m.ttft_ms, m.itl_ms, m.wait_time_ms, m.throughput_rps, m.num_in_service, m.loss_prob})
      require_finite(v);
    Evaluation ev;
    analyzer.evaluate(rate, ev);
    const auto pct = analyzer.percentiles(ev, {percentile > 0 && percentile < 100 ? percentile : 50.0});
    require_finite(pct.ttft_ms.front());
    require_finite(pct.itl_ms.front());
    Targets targets;
    targets.constraints = {{TargetMetric::ttft, 0, ttft}, {TargetMetric::itl, 0, itl}};
    const SizeResult r = analyzer.max_rate(targets);
    require_finite(r.rate_rps);
  } catch (const inferno::InvalidArgument&) {
  }
  return 0;
}
