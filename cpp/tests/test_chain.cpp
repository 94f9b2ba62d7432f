// The birth–death chain (docs/queueing-model.md §2.4): an independent O(K) direct solver, textbook closed forms,
// Little's law, flow balance and limits.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "inferno/error.hpp"
#include "inferno/queue/chain.hpp"

using namespace inferno::queue;

namespace {

struct Direct {
  double p0, pK, L, Ls, Lq, X;
};

// Compensated (Neumaier) accumulator.
struct Sum {
  double s = 0, c = 0;
  void add(double x) {
    const double t = s + x;
    c += std::fabs(s) >= std::fabs(x) ? (s - t) + x : (x - t) + s;
    s = t;
  }
  double value() const { return s + c; }
};

// Forms all K+1 weights from log-weights (tail as ℓ_N + i·θ, never by repeated addition).
Direct direct_solve(double lambda, const CompletionRates& r, long q) {
  const int n = r.max_batch();
  const long k_cap = n + q;
  std::vector<double> ell(static_cast<std::size_t>(k_cap) + 1);
  Sum acc;
  ell[0] = 0;
  for (int k = 1; k <= n; ++k) {
    acc.add(std::log(lambda) - r.log_mu[k - 1]);
    ell[k] = acc.value();
  }
  const double theta = std::log(lambda) - r.log_mu.back();
  for (long i = 1; i <= q; ++i) ell[n + i] = ell[n] + static_cast<double>(i) * theta;
  double mx = ell[0];
  for (double e : ell) mx = std::max(mx, e);
  Sum z, l, ls, lq, x;
  for (long k = 0; k <= k_cap; ++k) {
    const double w = std::exp(ell[k] - mx);
    z.add(w);
    l.add(static_cast<double>(k) * w);
    ls.add(static_cast<double>(std::min<long>(k, n)) * w);
    lq.add(static_cast<double>(std::max<long>(k - n, 0)) * w);
    if (k > 0) x.add(r.mu[std::min<long>(k, n) - 1] * w);
  }
  const double zz = z.value();
  return {std::exp(ell[0] - mx) / zz, std::exp(ell[k_cap] - mx) / zz, l.value() / zz,
          ls.value() / zz, lq.value() / zz, x.value() / zz};
}

CompletionRates rates_of(const std::vector<double>& mu) {
  std::vector<double> tau(mu.size());
  for (std::size_t i = 0; i < mu.size(); ++i) tau[i] = static_cast<double>(i + 1) / mu[i];
  return completion_rates_from_service_times(tau);
}

double rel_err(double a, double b) {
  if (a == b) return 0;
  return std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b));
}

}  // namespace

TEST_CASE("SolveChain agrees with the O(K) direct solver to 1e-10 (docs/queueing-model.md §2.4 grid)", "[chain]") {
  std::mt19937_64 rng(20261120);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const long queues[] = {0, 1, 2, 50, 3000, 100000};
  const double ratios[] = {1e-6, 1e-3, 0.5, 0.999, 1, 1 + 1e-9, 1 - 1e-9, 1.001, 1.5, 10, 1e3};
  const int batches[] = {1, 2, 7, 64, 300};
  for (int n : batches) {
    // Random concave-ish increasing μ plus noise, as produced by real service models.
    std::vector<double> mu(static_cast<std::size_t>(n));
    double acc = 0;
    for (int b = 0; b < n; ++b) {
      acc += (0.2 + unit(rng)) / (1.0 + 0.05 * b);
      mu[b] = acc;
    }
    const auto rates = rates_of(mu);
    for (long q : queues) {
      if (n == 300 && q == 100000) continue;  // covered by the smaller batches; keeps the test fast
      for (double r : ratios) {
        const double lambda = r * mu.back();
        CAPTURE(n, q, r);
        const ChainSolution s = solve_chain(lambda, rates, q);
        const Direct d = direct_solve(lambda, rates, q);
        CHECK(rel_err(s.prob_empty, d.p0) < 1e-10);
        CHECK(rel_err(s.prob_full, d.pK) < 1e-10);
        CHECK(rel_err(s.num_in_system, d.L) < 1e-10);
        CHECK(rel_err(s.num_in_service, d.Ls) < 1e-10);
        CHECK(rel_err(s.queue_length, d.Lq) < 1e-10);
        CHECK(rel_err(s.throughput, d.X) < 1e-10);
        // Little's law and flow balance.
        CHECK(rel_err(s.num_in_system, s.throughput * s.response_ms) < 1e-13);
        CHECK(rel_err(s.num_in_service, s.throughput * s.service_ms) < 1e-13);
        if (s.queue_length > 0) CHECK(rel_err(s.queue_length, s.throughput * s.wait_ms) < 1e-13);
        CHECK(rel_err(s.throughput, lambda * (1 - s.prob_full)) < 1e-9);
      }
    }
  }
}

TEST_CASE("N = 1 reproduces M/M/1/K", "[chain]") {
  const double mu = 0.8;
  const auto rates = rates_of({mu});
  for (double rho : {0.1, 0.7, 1.3}) {
    for (long q : {0L, 1L, 5L, 40L}) {
      const double lambda = rho * mu;
      const long k_cap = 1 + q;
      const auto s = solve_chain(lambda, rates, q);
      const double denom = (1 - std::pow(rho, static_cast<double>(k_cap + 1))) / (1 - rho);
      double l = 0;
      for (long k = 0; k <= k_cap; ++k) l += static_cast<double>(k) * std::pow(rho, static_cast<double>(k)) / denom;
      CAPTURE(rho, q);
      CHECK(s.prob_empty == Approx(1 / denom).epsilon(1e-13));
      CHECK(s.prob_full == Approx(std::pow(rho, static_cast<double>(k_cap)) / denom).epsilon(1e-12));
      CHECK(s.num_in_system == Approx(l).epsilon(1e-12));
    }
  }
}

TEST_CASE("mu_b = b·mu reproduces Erlang M/M/N/K", "[chain]") {
  const double mu = 0.05;
  const int n = 6;
  const long q = 20;
  std::vector<double> rates_vec;
  for (int b = 1; b <= n; ++b) rates_vec.push_back(b * mu);
  const auto rates = rates_of(rates_vec);
  const double lambda = 0.27;
  const double a = lambda / mu;
  // Unnormalised M/M/N/K weights: a^k/k! for k <= N, a^N/N!·(a/N)^(k-N) above.
  std::vector<double> w;
  double fact = 1;
  for (int k = 0; k <= n; ++k) {
    if (k > 0) fact *= k;
    w.push_back(std::pow(a, k) / fact);
  }
  for (long i = 1; i <= q; ++i) w.push_back(w[n] * std::pow(a / n, static_cast<double>(i)));
  double z = 0, lq = 0;
  for (std::size_t k = 0; k < w.size(); ++k) {
    z += w[k];
    lq += static_cast<double>(std::max<long>(static_cast<long>(k) - n, 0)) * w[k];
  }
  const auto s = solve_chain(lambda, rates, q);
  CHECK(s.prob_empty == Approx(w[0] / z).epsilon(1e-12));
  CHECK(s.prob_full == Approx(w.back() / z).epsilon(1e-12));
  CHECK(s.queue_length == Approx(lq / z).epsilon(1e-12));
}

TEST_CASE("K = 1 (N = 1, Q = 0) is valid and exact", "[chain]") {
  const double mu = 0.25, lambda = 0.4;
  const auto s = solve_chain(lambda, rates_of({mu}), 0);
  CHECK(s.prob_full == Approx(lambda / (lambda + mu)).epsilon(1e-15));
  CHECK(s.throughput == Approx(lambda * mu / (lambda + mu)).epsilon(1e-15));
  CHECK(s.response_ms == Approx(1 / mu).epsilon(1e-15));
  CHECK(s.service_ms == Approx(1 / mu).epsilon(1e-15));
  CHECK(s.wait_ms == 0.0);
}

TEST_CASE("heavy-load limits: X -> mu_N, p_K -> 1, W -> Q/mu_N", "[chain]") {
  const auto rates = rates_of({0.1, 0.18, 0.25});
  const long q = 30;
  const auto s = solve_chain(1e6, rates, q);
  CHECK(s.throughput == Approx(0.25).epsilon(1e-6));
  CHECK(s.prob_full == Approx(1.0).epsilon(1e-6));
  CHECK(s.wait_ms == Approx(static_cast<double>(q) / 0.25).epsilon(1e-6));
  // Extreme but finite rates stay finite.
  for (double lambda : {1e-300, 1e-30, 1e30, 1e300}) {
    const auto e = solve_chain(lambda, rates, 100000);
    CAPTURE(lambda);
    CHECK(std::isfinite(e.response_ms));
    CHECK(std::isfinite(e.wait_ms));
    CHECK(e.throughput > 0);
    CHECK(e.throughput <= lambda * (1 + 1e-12));
  }
}

TEST_CASE("solve_chain rejects invalid input", "[chain]") {
  const auto rates = rates_of({1.0});
  CHECK_THROWS_AS(solve_chain(0.0, rates, 1), inferno::InvalidArgument);
  CHECK_THROWS_AS(solve_chain(-1.0, rates, 1), inferno::InvalidArgument);
  CHECK_THROWS_AS(solve_chain(std::nan(""), rates, 1), inferno::InvalidArgument);
  CHECK_THROWS_AS(solve_chain(HUGE_VAL, rates, 1), inferno::InvalidArgument);
  CHECK_THROWS_AS(solve_chain(1.0, rates, -1), inferno::InvalidArgument);
  CHECK_THROWS_AS(completion_rates_from_service_times({1.0, 0.0}), inferno::InvalidArgument);
}

TEST_CASE("tail helpers E and g", "[chain]") {
  // E(x, q) = Σ_{j<q} e^{xj}
  double direct = 0;
  for (int j = 0; j < 7; ++j) direct += std::exp(-0.3 * j);
  CHECK(geometric_sum_negative(-0.3, 7) == Approx(direct).epsilon(1e-14));
  // g(u, q): mean of the truncated geometric, both branches against direct sums.
  for (double u : {1e-9, 1e-5, 0.01, 1.0, 30.0}) {
    for (long q : {1L, 2L, 10L, 1000L}) {
      double num = 0, den = 0;
      for (long j = 0; j < q; ++j) {
        const double jd = static_cast<double>(j);
        num += jd * std::exp(-u * jd);
        den += std::exp(-u * jd);
      }
      CAPTURE(u, q);
      CHECK(truncated_geometric_mean(u, q) == Approx(num / den).epsilon(1e-9).margin(1e-12));
    }
  }
}
