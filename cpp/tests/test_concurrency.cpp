// Optimal concurrency against the reference's published numbers (docs/queueing-model.md §9.3) and
// inferno's fixes (docs/queueing-model.md §7.4).
#include <catch2/catch.hpp>

#include "inferno/queue/concurrency.hpp"
#include "inferno/queue/models/iteration.hpp"
#include "reference_inputs.hpp"

using namespace inferno::queue;
using inferno::test::input_a;

namespace {
Targets ttft_itl(double ttft, double itl) {
  Targets t;
  if (ttft > 0) t.constraints.push_back({TargetMetric::ttft, 0, ttft});
  if (itl > 0) t.constraints.push_back({TargetMetric::itl, 0, itl});
  return t;
}
}  // namespace

TEST_CASE("closed-form brackets (docs/queueing-model.md §9.3)", "[concurrency]") {
  const IterationModel model(8, 0.033, 0.000333, RequestShape{256, 1024, 8192}, 256);
  CHECK(model.itl_ms(1, 256) == Approx(8.2889).epsilon(1e-5));
  CHECK(model.work_per_iteration(1) == Approx(0.29695).margin(5e-6));  // printed to 5 digits
  CHECK(itl_bracket(model, 256, 20) == 40);
  CHECK(ttft_bracket(model, 256, 60) == 147);
}

TEST_CASE("optimize(A), m_max = 48 (docs/queueing-model.md §9.3)", "[concurrency]") {
  const auto r = optimal_concurrency(input_a(48), ttft_itl(60, 20));
  CHECK(r.concurrency == 48);
  CHECK(r.feasible);
  CHECK(r.m_itl == 31);
  CHECK(r.m_tpf == 48);
  CHECK(r.calls == 6);
  CHECK(r.probes == std::vector<int>{48, 39, 44, 46, 47, 48});
  CHECK(r.throughput_rps == Approx(2.9494622).epsilon(5e-4));
  CHECK(r.size.metrics.resp_time_ms == Approx(10231.625).epsilon(5e-4));
  CHECK(r.size.metrics.num_in_service == Approx(30.135853).epsilon(5e-4));
  CHECK(r.size.metrics.itl_ms == Approx(19.90533).epsilon(5e-4));
  CHECK(r.size.metrics.ttft_ms <= 60.0);
  CHECK(r.converged);
}

TEST_CASE("optimize(A), m_max = 256 (README, docs/queueing-model.md §9.3)", "[concurrency]") {
  const auto r = optimal_concurrency(input_a(256), ttft_itl(60, 20));
  CHECK(r.concurrency == 49);
  CHECK(r.m_itl == 31);
  CHECK(r.m_tpf == 164);
  CHECK(r.calls == 8);
  CHECK(r.probes == std::vector<int>{256, 143, 87, 59, 45, 52, 49, 49});
  CHECK(r.anchor_throughput_rps == Approx(2.9704919).epsilon(5e-4));
  CHECK(r.throughput_rps == Approx(2.9715836).epsilon(5e-4));
  CHECK(r.size.metrics.resp_time_ms == Approx(10277.985).epsilon(5e-4));
  CHECK(r.size.metrics.num_in_service == Approx(30.50618).epsilon(5e-4));
  CHECK(r.size.metrics.ttft_ms == Approx(57.9873).epsilon(5e-4));
  CHECK(r.size.metrics.itl_ms <= 20.0);
  // The reference stops with the bracket open at the iteration cap (docs/queueing-model.md §7.4); we report it.
  CHECK_FALSE(r.converged);
  CHECK(r.bracket_lo == 46);
  CHECK(r.bracket_hi == 49);
}

TEST_CASE("onsetConverge closes the bracket at the true onset", "[concurrency]") {
  ConcurrencyOptions opt;
  opt.converge = true;
  const auto r = optimal_concurrency(input_a(256), ttft_itl(60, 20), opt);
  CHECK(r.converged);
  CHECK(r.bracket_lo == r.bracket_hi);
  // f(48) = 2.9494622 >= 0.99·2.9704919, so the smallest qualifying cap is at most 48 (docs/queueing-model.md §7.4).
  CHECK(r.concurrency <= 48);
  const double threshold = 0.99 * r.anchor_throughput_rps;
  CHECK(r.throughput_rps >= threshold);
  const auto below = optimal_concurrency(input_a(r.concurrency - 1), ttft_itl(60, 20));
  CHECK(below.anchor_throughput_rps < threshold);
}

TEST_CASE("unconstrained targets give brackets of 0 and search the whole range", "[concurrency]") {
  const auto r = optimal_concurrency(input_a(64), ttft_itl(0, 0));
  CHECK(r.m_itl == 0);
  CHECK(r.m_tpf == 0);
  CHECK(r.feasible);
  // With no latency target, throughput rises with the cap up to maxRPS: onset near the top.
  CHECK(r.concurrency > 32);
}

TEST_CASE("infeasible anchor: M* = m_min, no calls", "[concurrency]") {
  const auto r = optimal_concurrency(input_a(48), ttft_itl(5, 20));
  CHECK_FALSE(r.feasible);
  CHECK(r.calls == 0);
  CHECK(r.concurrency == 1);
  CHECK(r.throughput_rps == 0);
}
