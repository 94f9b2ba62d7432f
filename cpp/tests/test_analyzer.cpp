// Analyze and Size against the reference's published numbers (docs/queueing-model.md §9.3) and
// identities (docs/queueing-model.md §4, §5.2).
#include <catch2/catch.hpp>
#include <cmath>

#include "inferno/error.hpp"
#include "inferno/queue/analyzer.hpp"
#include "inferno/queue/window.hpp"
#include "reference_inputs.hpp"

using namespace inferno::queue;
using inferno::test::input_a;

namespace {


QueueConfig legacy(int max_batch) {
  QueueConfig c;
  c.service_model = "token";
  c.params = {{"alpha", 19}, {"beta", 1}, {"tokens_per_request", 1024}};
  c.max_batch = max_batch;
  c.max_queue = 200;
  return c;
}

// Tolerance of docs/queueing-model.md §9.3 for quantities containing the reference's float32 T - S.
void check_cancelled(double value, double ref, double ref_response) {
  CHECK(std::fabs(value - ref) <= 5e-4 * std::fabs(ref) + 1e-6 * ref_response);
}

constexpr double kRel = 5e-4;

Targets mean_targets(double ttft, double itl) {
  Targets t;
  if (ttft > 0) t.constraints.push_back({TargetMetric::ttft, 0, ttft});
  if (itl > 0) t.constraints.push_back({TargetMetric::itl, 0, itl});
  return t;
}

}  // namespace

TEST_CASE("solve(A) with the current model (docs/queueing-model.md §9.3)", "[analyzer]") {
  const QueueAnalyzer a(input_a());
  const Metrics m = a.analyze(3.0);
  CHECK(m.throughput_rps == Approx(3).epsilon(kRel));
  CHECK(m.resp_time_ms == Approx(10348.367).epsilon(kRel));
  check_cancelled(m.wait_time_ms, 21.405273, 10348.367);
  CHECK(m.num_in_service == Approx(30.980886).epsilon(kRel));
  check_cancelled(m.ttft_ms, 67.614647, 10348.367);
  CHECK(m.itl_ms == Approx(20.118889).epsilon(kRel));
  CHECK(a.max_rate_rps() == Approx(3.8609295).epsilon(1e-6));
  CHECK(m.prefill_time_ms == Approx(26.090485).epsilon(kRel));
  CHECK(m.rho == Approx(0.6454352).epsilon(kRel));
  // Identity T = TTFT + (m - 1)·ITL to 1e-12, and token throughput.
  CHECK(m.resp_time_ms == Approx(m.ttft_ms + 511 * m.itl_ms).epsilon(1e-12));
  CHECK(m.tokens_per_sec == Approx(512 * m.throughput_rps).epsilon(1e-15));
  CHECK(m.dropped_rps == Approx(3.0 - m.throughput_rps).epsilon(1e-6).margin(1e-12));
  CHECK(m.loss_prob >= 0);
  CHECK(m.loss_prob < 1e-6);
  CHECK(a.peak_batch() == 48);  // no chunking: μ_B increasing
}

TEST_CASE("target(A): mean TTFT and ITL targets (docs/queueing-model.md §9.3)", "[analyzer][size]") {
  const QueueAnalyzer a(input_a());
  const SizeResult r = a.max_rate(mean_targets(60, 20));
  REQUIRE(r.status == SizeStatus::ok);
  CHECK(r.binding == "TTFT");
  CHECK(r.rate_rps == Approx(2.9494622).epsilon(kRel));
  CHECK(r.metrics.throughput_rps == Approx(2.9494622).epsilon(kRel));
  CHECK(r.metrics.resp_time_ms == Approx(10231.625).epsilon(kRel));
  check_cancelled(r.metrics.wait_time_ms, 14.219727, 10231.625);
  CHECK(r.metrics.num_in_service == Approx(30.135853).epsilon(kRel));
  CHECK(r.metrics.itl_ms == Approx(19.90533).epsilon(kRel));
  // The reference overshoots to 60.000584; inferno returns the feasible side.
  CHECK(r.metrics.ttft_ms <= 60.0);
  CHECK(r.metrics.ttft_ms == Approx(60.0).epsilon(1e-6));
  REQUIRE(r.per_constraint.size() == 2);
  CHECK(r.per_constraint[0].rate_rps == Approx(2.9494622).epsilon(kRel));
  CHECK(r.per_constraint[1].rate_rps == Approx(2.971982).epsilon(kRel));
  CHECK(r.achieved[0] == r.metrics.ttft_ms);
  CHECK(r.achieved[1] == r.metrics.itl_ms);
  // A slightly higher rate violates the binding target: the bracket really is tight.
  CHECK(a.analyze(r.rate_rps * (1 + 1e-8)).ttft_ms > 60.0);
}

TEST_CASE("Size statuses: unconstrained, infeasible, TPS headroom, loss", "[analyzer][size]") {
  const QueueAnalyzer a(input_a());
  SECTION("no constraints: unconstrained at maxRPS") {
    const SizeResult r = a.max_rate({});
    CHECK(r.status == SizeStatus::unconstrained);
    CHECK(r.binding == "stability");
    CHECK(r.rate_rps == a.max_rate_rps());
  }
  SECTION("a loose target is met at every stable rate") {
    const SizeResult r = a.max_rate(mean_targets(1e6, 1e6));
    CHECK(r.status == SizeStatus::unconstrained);
    CHECK(r.rate_rps == a.max_rate_rps());
    CHECK(r.per_constraint[0].status == SizeStatus::unconstrained);
  }
  SECTION("a target below the zero-load value is infeasible and says which") {
    const SizeResult r = a.max_rate(mean_targets(5, 20));
    CHECK(r.status == SizeStatus::infeasible);
    CHECK(r.rate_rps == 0);
    CHECK(r.binding == "TTFT");
    REQUIRE(r.violated.size() == 1);
    CHECK(r.per_constraint[0].status == SizeStatus::infeasible);
    CHECK(r.per_constraint[0].rate_rps == 0);
    CHECK(r.per_constraint[1].status == SizeStatus::ok);
  }
  SECTION("TPS is a demand: caps at (1-s)·maxRPS and reports replicas") {
    Targets t;
    t.tps = 10000;
    const SizeResult r = a.max_rate(t);
    CHECK(r.status == SizeStatus::unconstrained);
    CHECK(r.binding == "tpsHeadroom");
    CHECK(r.rate_rps == Approx(0.9 * a.max_rate_rps()).epsilon(1e-15));
    CHECK(r.tps_rate_rps == Approx(0.9 * a.max_rate_rps()).epsilon(1e-15));
    CHECK(r.metrics.tokens_per_sec == Approx(512 * r.metrics.throughput_rps).epsilon(1e-15));
    CHECK(r.replicas_for_tps == std::ceil(10000 / r.metrics.tokens_per_sec));
    CHECK(r.tps_met == (r.metrics.tokens_per_sec >= 10000));
    CHECK_FALSE(r.tps_met);
  }
  SECTION("loss-probability target with no waiting room") {
    QueueConfig c = input_a();
    c.max_queue = 0;
    const QueueAnalyzer lossy(c);
    Targets t;
    t.constraints.push_back({TargetMetric::loss, 0, 0.01});
    const SizeResult r = lossy.max_rate(t);
    REQUIRE(r.status == SizeStatus::ok);
    CHECK(r.metrics.loss_prob <= 0.01);
    CHECK(r.metrics.loss_prob == Approx(0.01).epsilon(1e-6));
    CHECK(r.metrics.wait_time_ms == 0.0);
  }
  SECTION("bad targets are rejected with the field name") {
    Targets negative;
    negative.constraints.push_back({TargetMetric::ttft, 0, -1});
    CHECK_THROWS_WITH(a.max_rate(negative), Catch::Contains("target TTFT must be a finite number > 0"));
    Targets t;
    t.constraints.push_back({TargetMetric::ttft, 100, 50});
    CHECK_THROWS_WITH(a.max_rate(t), Catch::Contains("percentile of target TTFT_p100"));
  }
}

TEST_CASE("N = 1: a satisfiable ITL target is not reported infeasible (reference defect 1)",
          "[analyzer][size]") {
  const QueueAnalyzer a(input_a(1));
  const double itl_zero_load = a.analyze(a.min_rate_rps()).itl_ms;
  const SizeResult r = a.max_rate(mean_targets(0, itl_zero_load * 1.01));
  CHECK(r.status != SizeStatus::infeasible);
  CHECK(r.rate_rps > 0);
  CHECK(r.metrics.itl_ms <= itl_zero_load * 1.01);
}

TEST_CASE("overload: every positive rate is analysed, excess shows as blocking", "[analyzer]") {
  const QueueAnalyzer a(input_a());
  const Metrics m = a.analyze(100.0);
  CHECK(m.throughput_rps == Approx(1000 * a.rates().mu.back()).epsilon(1e-6));
  CHECK(m.loss_prob > 0.9);
  CHECK(m.dropped_rps == Approx(100.0 - m.throughput_rps).epsilon(1e-9));
  CHECK(m.wait_time_ms == Approx(128 / a.rates().mu.back()).epsilon(1e-3));
  CHECK_THROWS_WITH(a.analyze(0.0), Catch::Contains("rate_rps must be a finite number in (0, 1e+09], got 0"));
  CHECK_THROWS_AS(a.analyze(std::nan("")), inferno::InvalidArgument);
}

TEST_CASE("legacy token model: 2024 README (docs/queueing-model.md §9.3)", "[analyzer][legacy]") {
  const QueueAnalyzer a(legacy(48));
  const double per_min = 60.0;  // req/s -> req/min
  SECTION("solve at 30 req/min") {
    const Metrics m = a.analyze(30.0 / per_min);
    CHECK(m.throughput_rps * per_min == Approx(29.999998).epsilon(kRel));
    CHECK(m.resp_time_ms / 1000 == Approx(41.96881).epsilon(kRel));
    CHECK(m.wait_time_ms / 1000 == Approx(0.0027588).epsilon(1e-3));  // exact value, docs/queueing-model.md §9.3
    CHECK(m.num_in_service == Approx(20.983025).epsilon(kRel));
    CHECK(m.itl_ms == Approx(40.98247).epsilon(kRel));
    CHECK(a.max_rate_rps() * per_min == Approx(41.93564).epsilon(1e-6));
    CHECK(m.resp_time_ms == Approx(m.ttft_ms + 1023 * m.itl_ms).epsilon(1e-12));
  }
  SECTION("target wait 1 s and ITL 50 ms") {
    Targets t;
    t.constraints.push_back({TargetMetric::wait, 0, 1000});
    t.constraints.push_back({TargetMetric::itl, 0, 50});
    const SizeResult r = a.max_rate(t);
    REQUIRE(r.status == SizeStatus::ok);
    CHECK(r.binding == "ITL");
    CHECK(r.metrics.throughput_rps * per_min == Approx(35.200314).epsilon(kRel));
    CHECK(r.metrics.resp_time_ms / 1000 == Approx(51.532883).epsilon(kRel));
    check_cancelled(r.metrics.wait_time_ms / 1000, 0.33288673, 51.532883);
    CHECK(r.metrics.num_in_service == Approx(30.037598).epsilon(kRel));
    CHECK(r.metrics.itl_ms == Approx(49.999996).epsilon(kRel));
    CHECK(r.metrics.itl_ms <= 50.0);
    CHECK(r.per_constraint[0].rate_rps * per_min == Approx(36.61307).epsilon(kRel));
    CHECK(r.per_constraint[1].rate_rps * per_min == Approx(35.200314).epsilon(kRel));
  }
}

TEST_CASE("legacy token model: the inferno slides (docs/queueing-model.md §9.3)", "[analyzer][legacy]") {
  const double per_min = 60.0;
  const Metrics a = QueueAnalyzer(legacy(48)).analyze(36.613 / per_min);
  CHECK(a.wait_time_ms == Approx(999.94).epsilon(1e-4));
  CHECK(a.itl_ms == Approx(53.075).epsilon(1e-4));
  CHECK(a.num_in_service == Approx(33.16).epsilon(1e-3));
  CHECK(a.rho == Approx(0.69093).epsilon(1e-4));
  const Metrics b = QueueAnalyzer(legacy(32)).analyze(30.0 / per_min);
  CHECK(b.resp_time_ms == Approx(42481.44).epsilon(1e-6));
  CHECK(b.wait_time_ms == Approx(673.59).epsilon(1e-5));
  CHECK(b.itl_ms == Approx(40.828).epsilon(1e-4));
  const Metrics c = QueueAnalyzer(legacy(48)).analyze(35.2 / per_min);
  CHECK(c.itl_ms == Approx(49.999).epsilon(1e-4));
  CHECK(c.wait_time_ms == Approx(332.80).epsilon(1e-4));
}

TEST_CASE("prefill-decode mean split keeps T = TTFT + (m-1)·ITL when unclamped", "[analyzer]") {
  QueueConfig c;
  c.service_model = "prefill-decode";
  c.params = {{"decode_alpha", 10}, {"decode_beta", 0.3}, {"prefill_gamma", 15},
              {"prefill_delta", 0.002}};
  c.shape = RequestShape{200, 100, 8192};
  c.max_batch = 32;
  c.max_queue = 64;
  const QueueAnalyzer a(c);
  for (double frac : {0.2, 0.6, 0.95}) {
    const Metrics m = a.analyze(frac * a.max_rate_rps());
    CAPTURE(frac);
    CHECK(m.resp_time_ms == Approx(m.ttft_ms + 99 * m.itl_ms).epsilon(1e-12));
    CHECK(m.ttft_ms == Approx(m.wait_time_ms + m.prefill_time_ms).epsilon(1e-14));
  }
}

TEST_CASE("variability correction scales the wait only (docs/queueing-model.md §8)", "[analyzer]") {
  QueueConfig c = input_a();
  const Metrics exact = QueueAnalyzer(c).analyze(3.5);
  c.options.arrival_cov = 2.0;
  c.options.service_cov = 1.0;
  const QueueAnalyzer approx(c);
  CHECK(approx.kappa() == 2.5);
  const Metrics m = approx.analyze(3.5);
  CHECK(m.wait_time_ms == Approx(2.5 * exact.wait_time_ms).epsilon(1e-14));
  CHECK(m.ttft_ms - m.wait_time_ms == Approx(exact.ttft_ms - exact.wait_time_ms).epsilon(1e-12));
  CHECK(m.resp_time_ms == Approx(m.wait_time_ms + exact.service_time_ms).epsilon(1e-14));
  CHECK(m.throughput_rps == exact.throughput_rps);
  CHECK(m.itl_ms == exact.itl_ms);
  CHECK(m.num_in_system == Approx(m.num_in_service + m.throughput_rps / 1000 * m.wait_time_ms).epsilon(1e-14));
  c.options.arrival_cov = -1;
  CHECK_THROWS_WITH(QueueAnalyzer(c), Catch::Contains("arrival_cov"));
}

TEST_CASE("chunked prefill: peak rate can exceed maxRPS's mu_N", "[analyzer]") {
  QueueConfig c;
  c.params = {{"alpha", 8}, {"beta", 0.033}, {"gamma", 0.000333}};
  c.shape = RequestShape{4096, 64, 8192};
  c.max_batch = 200;
  c.max_queue = 400;
  const QueueAnalyzer a(c);
  CHECK(a.peak_rate_rps() >= 1000 * a.rates().mu.back());
  CHECK(a.peak_batch() <= 200);
  const std::vector<double> mu = a.rates().mu;
  CHECK(a.peak_rate_rps() == 1000 * *std::max_element(mu.begin(), mu.end()));
}

TEST_CASE("an analyzer sliced to a smaller cap equals one built for that cap", "[analyzer]") {
  // Chunked prefill makes μ_b peak inside the range, so the sliced peak differs from the full one.
  QueueConfig c;
  c.params = {{"alpha", 8}, {"beta", 0.033}, {"gamma", 0.000333}};
  c.shape = RequestShape{4096, 64, 8192};
  c.max_batch = 200;
  c.max_queue = 400;
  const QueueAnalyzer full(c);
  for (int n : {1, 7, 64, 199, 200}) {
    const QueueAnalyzer sliced(full, n, 3 * n);
    const QueueAnalyzer fresh(full.model_ptr(), n, 3 * n, c.options);
    CHECK(sliced.max_batch() == n);
    CHECK(sliced.rates().mu == fresh.rates().mu);
    CHECK(sliced.rates().cum_log_mu == fresh.rates().cum_log_mu);
    CHECK(sliced.peak_batch() == fresh.peak_batch());
    CHECK(sliced.peak_rate_rps() == fresh.peak_rate_rps());
    CHECK(sliced.max_rate_rps() == fresh.max_rate_rps());
    CHECK(sliced.min_rate_rps() == fresh.min_rate_rps());
    for (double frac : {0.1, 0.6, 0.95, 1.3}) {
      Evaluation a, b;
      sliced.evaluate(frac * fresh.max_rate_rps(), a);
      fresh.evaluate(frac * fresh.max_rate_rps(), b);
      CHECK(a.metrics.ttft_ms == b.metrics.ttft_ms);
      CHECK(a.metrics.itl_ms == b.metrics.itl_ms);
      CHECK(a.metrics.throughput_rps == b.metrics.throughput_rps);
      CHECK(a.metrics.prob_wait == b.metrics.prob_wait);
      CHECK(sliced.wait_quantile(a, 0.9) == fresh.wait_quantile(b, 0.9));
      CHECK(sliced.itl_quantile(a, 0.9) == fresh.itl_quantile(b, 0.9));
    }
  }
  CHECK_THROWS_WITH(QueueAnalyzer(full, 201, 0), Catch::Contains("max_batch"));
  CHECK(QueueAnalyzer(full, 64, 0).peak_batch() <= 64);
}

TEST_CASE("joint rate never exceeds a constraint's own rate, even for erratic metrics",
          "[analyzer][size]") {
  // Prefill-decode with no decode step and a vanishing prompt: b_eff, hence the mean ITL,
  // jumps between the clamp ends as the load moves (found by the property tests).
  QueueConfig c;
  c.service_model = "prefill-decode";
  c.params = {{"decode_alpha", 1.5}, {"decode_beta", 1.0}, {"prefill_gamma", 91.6875},
              {"prefill_delta", 0.03125}};
  c.shape = RequestShape{7.700578685318155e-174, 1.0, 8192};
  c.max_batch = 37;
  c.max_queue = 0;
  const QueueAnalyzer a(c);
  const SizeResult r = a.max_rate(mean_targets(91.6875, 28.875));
  REQUIRE(r.status != SizeStatus::infeasible);
  for (const auto& pc : r.per_constraint) CHECK(r.rate_rps <= pc.rate_rps);
  const Metrics m = a.analyze(r.rate_rps);
  CHECK(m.ttft_ms <= 91.6875);
  CHECK(m.itl_ms <= 28.875);
  // S cannot identify the effective batch here, so the split falls back to L_s: a smooth ITL.
  for (double rate : {1.0, 50.0, 200.0}) {
    const Metrics at = a.analyze(rate);
    CHECK(at.itl_ms == Approx(1.5 + at.num_in_service).epsilon(1e-12));
  }
  // Same when the prompt term is tiny but not vanishing: τ varies by ~1e-12 over the batch range.
  c.params = {{"decode_alpha", 1.0}, {"decode_beta", 1.0}, {"prefill_gamma", 1.0},
              {"prefill_delta", 2.220446049250313e-16}};
  c.shape = RequestShape{790, 1.0, 8192};
  c.max_batch = 6;
  const QueueAnalyzer flat(c);
  const SizeResult sized = flat.max_rate(mean_targets(0, 4.3765822784810124));
  REQUIRE(sized.status == SizeStatus::ok);
  CHECK(flat.analyze(sized.rate_rps * (1 + 1e-6)).itl_ms > 4.3765822784810124);
  const Metrics at = flat.analyze(1000.0);
  CHECK(at.itl_ms == Approx(1.0 + at.num_in_service).epsilon(1e-12));
}

TEST_CASE("the default model does not reproduce the README's v2 numbers (docs/queueing-model.md §9.3)", "[analyzer]") {
  // The reference README's /solve example still shows the older v2 model's output for input A.
  const Metrics m = QueueAnalyzer(input_a()).analyze(3.0);
  CHECK(std::fabs(m.resp_time_ms / 10568.446 - 1) > 0.01);
  CHECK(std::fabs(m.itl_ms / 20.534498 - 1) > 0.01);
  CHECK(std::fabs(QueueAnalyzer(input_a()).max_rate_rps() / 3.8208232 - 1) > 0.005);
}

TEST_CASE("monotonicity in load and in batch size", "[analyzer]") {
  // Without chunking, μ_b increases with b; every delay and occupancy grows with the load.
  for (const QueueConfig& c : {input_a(64), legacy(48)}) {
    const QueueAnalyzer a(c);
    const std::vector<double> mu = a.rates().mu;
    for (std::size_t b = 1; b < mu.size(); ++b) CHECK(mu[b] > mu[b - 1]);
    Metrics prev = a.analyze(0.01 * a.max_rate_rps());
    for (double frac = 0.05; frac < 1.6; frac += 0.05) {
      const Metrics m = a.analyze(frac * a.max_rate_rps());
      CAPTURE(c.service_model, frac);
      CHECK(m.throughput_rps >= prev.throughput_rps * (1 - 1e-12));  // flat at saturation
      CHECK(m.wait_time_ms >= prev.wait_time_ms);
      CHECK(m.ttft_ms >= prev.ttft_ms);
      CHECK(m.itl_ms >= prev.itl_ms * (1 - 1e-12));
      CHECK(m.num_in_system >= prev.num_in_system);
      CHECK(m.loss_prob >= prev.loss_prob);
      prev = m;
    }
  }
  // A larger batch cap never lowers capacity when μ_b is increasing.
  double previous_max = 0;
  for (int n : {1, 2, 8, 32, 48}) {
    const double max_rps = QueueAnalyzer(input_a(n)).max_rate_rps();
    CHECK(max_rps > previous_max);
    previous_max = max_rps;
  }
}

TEST_CASE("iteration-v2 reproduces the README's v2 outputs (docs/queueing-model.md §9.3)", "[analyzer][v2]") {
  QueueConfig c = input_a();
  c.service_model = "iteration-v2";
  const QueueAnalyzer a(c);
  SECTION("solve(A)") {
    const Metrics m = a.analyze(3.0);
    CHECK(m.throughput_rps == Approx(3).epsilon(kRel));
    CHECK(m.resp_time_ms == Approx(10568.446).epsilon(kRel));
    check_cancelled(m.wait_time_ms, 28.27539, 10568.446);
    CHECK(m.num_in_service == Approx(31.620514).epsilon(kRel));
    check_cancelled(m.ttft_ms, 75.31746, 10568.446);
    CHECK(m.itl_ms == Approx(20.534498).epsilon(kRel));
    CHECK(a.max_rate_rps() == Approx(3.8208232).epsilon(1e-6));
    CHECK(m.resp_time_ms == Approx(m.ttft_ms + 511 * m.itl_ms).epsilon(1e-12));
  }
  SECTION("target(A)") {
    const SizeResult r = a.max_rate(mean_targets(60, 20));
    REQUIRE(r.status == SizeStatus::ok);
    CHECK(r.binding == "ITL");
    CHECK(r.metrics.throughput_rps == Approx(2.8741095).epsilon(kRel));
    CHECK(r.metrics.resp_time_ms == Approx(10276.054).epsilon(kRel));
    check_cancelled(r.metrics.wait_time_ms, 10.09375, 10276.054);
    CHECK(r.metrics.num_in_service == Approx(29.505493).epsilon(kRel));
    check_cancelled(r.metrics.ttft_ms, 56.063286, 10276.054);
    CHECK(r.metrics.itl_ms <= 20.0);
    CHECK(r.metrics.itl_ms == Approx(19.99998).epsilon(kRel));
    CHECK(r.per_constraint[0].rate_rps == Approx(2.910594).epsilon(kRel));
    CHECK(r.per_constraint[1].rate_rps == Approx(2.8741095).epsilon(kRel));
  }
}

// ---- capacity measured in a window (docs/queueing-model.md, "Capacity measured in a window")

TEST_CASE("expected_completions: hand-computed renewal counts", "[analyzer][window]") {
  // Deterministic service: floor(W / μ) requests finish by W.
  CHECK(expected_completions(100, 0, 350) == 3.0);
  CHECK(expected_completions(100, 0, 99.9) == 0.0);
  // μ = 100 ms, cv = 0.1, W = 150: P(T1 <= W) = Φ(5), P(T2 <= W) = Φ(-50 / (10√2)), T3 negligible.
  CHECK(expected_completions(100, 0.1, 150) == Approx(1.0002031893571506).epsilon(1e-13));
  // W = μ: the first completion is a coin toss, the second out of reach.
  CHECK(expected_completions(100, 0.1, 100) == Approx(0.5).epsilon(1e-11));
  CHECK(expected_completions(100, 0.2, 250) == Approx(2.035995829345607).epsilon(1e-13));
}

TEST_CASE("expected_completions: the renewal theorem's limit W/μ + (cv² - 1)/2 for long windows",
          "[analyzer][window]") {
  for (double cv : {0.1, 0.3, 1.0}) {
    const double below = expected_completions(1, cv, 999'000);  // summed term by term
    const double above = expected_completions(1, cv, 1'000'001);  // the closed-form limit
    CHECK(below == Approx(999'000 + 0.5 * (cv * cv - 1)).margin(1e-6));
    CHECK(above == Approx(1'000'001 + 0.5 * (cv * cv - 1)).margin(1e-9));
  }
  // Monotone in the window.
  double last = 0;
  for (double w = 10; w <= 1000; w += 10) {
    const double m = expected_completions(100, 0.29, w);
    CHECK(m >= last);
    last = m;
  }
}

TEST_CASE("expected_completions: bad input names the field", "[analyzer][window][hardening]") {
  CHECK_THROWS_WITH(expected_completions(0, 0.1, 10), Catch::Contains("mean_ms"));
  CHECK_THROWS_WITH(expected_completions(std::nan(""), 0.1, 10), Catch::Contains("mean_ms"));
  CHECK_THROWS_WITH(expected_completions(1, -0.1, 10), Catch::Contains("cv"));
  CHECK_THROWS_WITH(expected_completions(1, 0.1, 0), Catch::Contains("window_ms"));
  CHECK_THROWS_WITH(expected_completions(1, 0.1, HUGE_VAL), Catch::Contains("window_ms"));
}

TEST_CASE("burst_throughput_rps: N slots renewing over the window", "[analyzer][window]") {
  const QueueAnalyzer a(input_a());
  const double tau_ms = a.model().service_times_ms()[47];  // τ_N at N = 48
  // No length spread: each slot finishes exactly floor(W/τ_N) requests.
  CHECK(a.burst_throughput_rps(10.5 * tau_ms, 0) == Approx(1000.0 * 48 * 10 / (10.5 * tau_ms)).epsilon(1e-12));
  // A long window tends to the steady state N / τ_N from below.
  const double steady = 1000.0 * 48 / tau_ms;
  const double long_window = a.burst_throughput_rps(1e5 * tau_ms, 0.5);
  CHECK(long_window < steady);
  CHECK(long_window == Approx(steady).epsilon(1e-5));
  // A spread of lengths smooths the count: at W = 10.5 τ it sits between floor and the limit.
  const double spread = a.burst_throughput_rps(10.5 * tau_ms, 0.5);
  CHECK(spread > 1000.0 * 48 * 10 / (10.5 * tau_ms));
  CHECK(spread < steady);
  CHECK_THROWS_WITH(a.burst_throughput_rps(-1, 0), Catch::Contains("window_ms"));
  CHECK_THROWS_WITH(a.burst_throughput_rps(1000, 1.5), Catch::Contains("out_tokens_spread"));
}
