// Waiting-time, TTFT and ITL distributions (docs/queueing-model.md §6).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>

#include "inferno/queue/analyzer.hpp"
#include "inferno/queue/percentiles.hpp"
#include "reference_inputs.hpp"

using namespace inferno::queue;
using inferno::test::input_a;

namespace {
CompletionRates linear_rates(int n, double mu) {
  std::vector<double> tau(static_cast<std::size_t>(n), 1.0 / mu);  // τ_b = 1/μ  ⇒ μ_b = b·μ
  return completion_rates_from_service_times(tau);
}

// P(Poisson(x) <= a - 1) by direct summation (small a only).
double upper_gamma_reg(long a, double x) {
  double term = std::exp(-x), sum = 0;
  for (long j = 0; j < a; ++j) {
    sum += term;
    term *= x / static_cast<double>(j + 1);
  }
  return sum;
}
}  // namespace

TEST_CASE("M/M/1 with a long queue: P(W > t) = rho·exp(-mu(1-rho)t)", "[percentiles]") {
  const double mu = 0.5, rho = 0.6;
  const auto rates = linear_rates(1, mu);
  const auto chain = solve_chain(rho * mu, rates, 5000);
  for (double t : {0.0, 0.5, 3.0, 20.0, 60.0}) {
    CAPTURE(t);
    CHECK(wait_survival(chain, rates, t) ==
          Approx(rho * std::exp(-mu * (1 - rho) * t)).epsilon(1e-11));
  }
}

TEST_CASE("M/M/N with a long queue: Erlang-C tail", "[percentiles]") {
  const int n = 5;
  const double mu = 0.2, lambda = 0.7;  // a = 3.5 erlangs
  const auto rates = linear_rates(n, mu);
  const auto chain = solve_chain(lambda, rates, 4000);
  const double a = lambda / mu;
  double sum = 0, term = 1;
  for (int k = 0; k < n; ++k) {
    sum += term;
    term *= a / (k + 1);
  }
  const double tail = term * n / (n - a);  // a^N/N! · N/(N-a)
  const double erlang_c = tail / (sum + tail);
  CHECK(prob_wait(chain, rates) == Approx(erlang_c).epsilon(1e-12));
  for (double t : {1.0, 5.0, 30.0}) {
    CAPTURE(t);
    CHECK(wait_survival(chain, rates, t) ==
          Approx(erlang_c * std::exp(-(n * mu - lambda) * t)).epsilon(1e-10));
  }
}

TEST_CASE("near-critical M/M/1 with a huge queue: the sampled Poisson sum keeps the closed form", "[percentiles]") {
  // x = μt up to 1e13 completions: Poisson windows of up to 7.6e7 terms, summed with a stride.
  // Q = 1e15 behaves as an infinite queue here, where P(W > t) = ρ·exp(-μ(1-ρ)t).
  const double mu = 1.0;
  const auto rates = linear_rates(1, mu);
  for (double rho : {1 - 1e-4, 1 - 1e-6, 1 - 1e-9}) {
    const auto chain = solve_chain(rho * mu, rates, 1'000'000'000'000'000);
    for (double decay : {0.5, 3.0, 10.0}) {  // μ(1-ρ)t
      const double t = decay / (mu * (1 - rho));
      CAPTURE(rho, t);
      CHECK(wait_survival(chain, rates, t) == Approx(rho * std::exp(-decay)).epsilon(1e-8));
    }
  }
}

TEST_CASE("a queue of 2^63 - 1 places: the window's top is a valid position, no overflowing cast", "[percentiles]") {
  // In double, Q - 1 = 2^63 - 2 rounds to 2^63, which no int64 holds (a fuzzing finding under
  // UBSan). An overloaded server keeps the waiting room nearly full, so t reaching that far is
  // meaningful, and the survival must stay a probability that falls with t.
  const auto rates = linear_rates(1, 1.0);
  const auto chain = solve_chain(2.0, rates, INT64_MAX);
  double previous = 1.0;
  for (double t : {1e3, 1e12, 9.2e18, 9.2233720368547e18, 1e19}) {
    CAPTURE(t);
    const double survival = wait_survival(chain, rates, t);
    CHECK(survival >= 0.0);
    CHECK(survival <= previous + 1e-12);  // rounding of two different sums, nothing more
    if (t <= 1e12) CHECK(survival == Approx(1.0).epsilon(1e-9));  // twice overloaded: all wait
    previous = survival;
  }
  CHECK(previous == 0.0);  // beyond the last position everyone has started
}

TEST_CASE("the sampled and the term-by-term Poisson sums agree where both are affordable", "[percentiles]") {
  // x ≈ 3e4 is the last window summed term by term (24·√x + 60 ≈ 4096); just above, the stride
  // is 2. The survival is continuous in t, so the two sides of the switch must agree.
  const double mu = 1.0;
  const auto rates = linear_rates(1, mu);
  const auto chain = solve_chain(0.99995 * mu, rates, 10'000'000);
  const double x_switch = std::pow((4096.0 - 60.0) / 24.0, 2);
  const double below = wait_survival(chain, rates, x_switch * (1 - 1e-3));
  const double above = wait_survival(chain, rates, x_switch * (1 + 1e-3));
  const double mid = wait_survival(chain, rates, x_switch);
  CHECK(below > mid);
  CHECK(mid > above);
  // the exact survival's log-slope is -μ(1-ρ) = -5e-5 per ms, so ±0.1 % of t moves it by e^(∓1.4e-3)
  CHECK(above / below == Approx(std::exp(-5e-5 * x_switch * 2e-3)).epsilon(1e-7));
}

TEST_CASE("Poisson sum equals the closed form with finite Q (r != 1)", "[percentiles]") {
  const auto rates = linear_rates(3, 0.1);
  for (double r : {0.4, 0.97, 1.3}) {
    const long q = 25;
    const double mu_n = 0.3, lambda = r * mu_n;
    const auto chain = solve_chain(lambda, rates, q);
    // π_N = p_N / (1 - p_K); p_N recovered from P(k >= N) minus the tail mass.
    const double accepted = chain.throughput / lambda;
    const double p_n = std::exp(chain.ell_batch - chain.log_max) / chain.norm;
    const double pi_n = p_n / accepted;
    for (double t : {0.0, 2.0, 15.0, 80.0}) {
      const double x = mu_n * t;
      const double closed = pi_n / (1 - r) *
                            (std::exp(-(1 - r) * x) * upper_gamma_reg(q, r * x) -
                             std::pow(r, q) * upper_gamma_reg(q, x));
      CAPTURE(r, t);
      CHECK(std::fabs(wait_survival(chain, rates, t) - closed) < 1e-12);
    }
  }
}

TEST_CASE("integral of the survival equals the mean wait", "[percentiles]") {
  const QueueAnalyzer a(input_a());
  for (double rate : {2.0, 3.5, 3.85, 6.0}) {
    Evaluation ev;
    a.evaluate(rate, ev);
    // Composite Simpson on [0, t_max] where the survival is negligible beyond t_max.
    const double t_max = 40 * (ev.chain.wait_ms + 1.0 / a.rates().mu.back());
    const int steps = 4000;
    const double h = t_max / steps;
    double integral = a.wait_survival(ev, 0) + a.wait_survival(ev, t_max);
    for (int i = 1; i < steps; ++i) integral += (i % 2 ? 4 : 2) * a.wait_survival(ev, i * h);
    integral *= h / 3;
    CAPTURE(rate);
    CHECK(integral == Approx(ev.metrics.wait_time_ms).epsilon(1e-6));
  }
}

TEST_CASE("quantiles: ordered, consistent with the survival, zero iff no queueing mass", "[percentiles]") {
  const QueueAnalyzer a(input_a());
  Evaluation ev;
  a.evaluate(3.7, ev);
  const double a0 = ev.metrics.prob_wait;
  REQUIRE(a0 > 0.05);
  double previous = 0;
  for (double p : {0.5, 0.9, 0.95, 0.99, 0.999}) {
    const double q = a.wait_quantile(ev, p);
    CAPTURE(p, q);
    CHECK(q >= previous);
    previous = q;
    CHECK((q == 0) == (a0 <= 1 - p));
    if (q > 0) {
      CHECK(a.wait_survival(ev, q) <= 1 - p);
      CHECK(a.wait_survival(ev, q * (1 - 1e-9)) > 1 - p);
    }
    CHECK(a.ttft_quantile(ev, p) == Approx(q + ev.post_queue_ms).epsilon(1e-15));
  }
  // At light load most requests do not queue at all.
  Evaluation light;
  a.evaluate(0.5, light);
  CHECK(a.wait_quantile(light, 0.5) == 0.0);
}

TEST_CASE("ITL distribution: token-weighted mean close to the residual mean ITL", "[percentiles]") {
  const QueueAnalyzer a(input_a());
  for (double rate : {1.0, 3.0, 3.8}) {
    Evaluation ev;
    a.evaluate(rate, ev);
    const ItlDistribution d = a.itl_distribution(ev);
    double total = 0, token_mean = 0;
    for (std::size_t i = 0; i < d.prob.size(); ++i) {
      total += d.prob[i];
      token_mean += d.prob[i] * d.itl_ms[i];
      if (i > 0) CHECK(d.itl_ms[i] > d.itl_ms[i - 1]);
    }
    CHECK(total == Approx(1.0).epsilon(1e-12));
    // Token-weighted mean L_s / Σ b·q_b/itl_b against the residual mean ITL (docs/queueing-model.md §6.5 sanity check).
    CAPTURE(rate);
    CHECK(token_mean == Approx(ev.metrics.itl_ms).epsilon(2e-3));
    double prev = 0;
    for (double p : {0.1, 0.5, 0.9, 0.99}) {
      const double q = a.itl_quantile(ev, p);
      CHECK(q >= prev);
      prev = q;
    }
  }
}

TEST_CASE("vllm: TTFT quantiles carry the phase of the iteration boundary", "[percentiles]") {
  QueueConfig c;
  c.service_model = "vllm";
  c.params = {{"alpha", 6.6}, {"beta", 0.02}, {"gamma", 4e-5}, {"delta", 3.7e-5}, {"epsilon", 1.0e-6}};
  c.shape = RequestShape{1024, 256, 8192};
  c.max_batch = 64;
  SECTION("no waiting room: TTFT is the post-queue part, uniform over the iteration's phase") {
    c.max_queue = 0;
    const QueueAnalyzer a(c);
    Evaluation ev;
    a.evaluate(2.0, ev);
    REQUIRE(ev.post_queue_spread_ms > 0);
    const double mean = ev.metrics.ttft_ms;
    CHECK(a.ttft_quantile(ev, 0.5) == Approx(mean).epsilon(1e-12));
    CHECK(a.ttft_quantile(ev, 0.95) == Approx(mean + 0.45 * ev.post_queue_spread_ms).epsilon(1e-12));
    CHECK(a.ttft_quantile(ev, 0.05) == Approx(mean - 0.45 * ev.post_queue_spread_ms).epsilon(1e-12));
  }
  SECTION("with queueing: the quantile solves P(W + U > t) = 1 - p, checked by fine integration") {
    c.max_queue = 256;
    const QueueAnalyzer a(c);
    Evaluation ev;
    a.evaluate(0.97 * a.max_rate_rps() / 0.999, ev);  // 97 % of mu_N
    REQUIRE(ev.metrics.prob_wait > 0.05);
    const double width = ev.post_queue_spread_ms, base = ev.post_queue_ms - 0.5 * width;
    // P(W + U > s), by the trapezoidal rule on 20,000 points of u (independent of the analyzer's
    // Simpson rule on t).
    const auto survival = [&](double s) {
      constexpr int kPoints = 20000;
      double sum = 0;
      for (int i = 0; i <= kPoints; ++i) {
        const double t = s - width * i / kPoints;
        sum += (i == 0 || i == kPoints ? 0.5 : 1.0) * (t < 0 ? 1.0 : a.wait_survival(ev, t));
      }
      return sum / kPoints;
    };
    double previous = 0;
    for (double p : {0.5, 0.9, 0.95, 0.99}) {
      CAPTURE(p);
      const double q = a.ttft_quantile(ev, p);
      CHECK(q > previous);
      previous = q;
      CHECK(q >= a.wait_quantile(ev, p) + base);
      CHECK(q <= a.wait_quantile(ev, p) + base + width);
      CHECK(survival(q - base) == Approx(1 - p).epsilon(1e-5));
    }
  }
}
