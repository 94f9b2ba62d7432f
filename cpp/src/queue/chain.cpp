#include "inferno/queue/chain.hpp"

#include <algorithm>
#include <cmath>

#include "inferno/error.hpp"

namespace inferno::queue {

CompletionRates completion_rates_from_service_times(const std::vector<double>& tau_ms) {
  if (tau_ms.empty()) throw InvalidArgument("max_batch must be >= 1, got 0");
  CompletionRates rates;
  rates.mu.resize(tau_ms.size());
  rates.log_mu.resize(tau_ms.size());
  rates.inv_mu.resize(tau_ms.size());
  rates.cum_log_mu.assign(tau_ms.size() + 1, 0.0);
  double sum = 0.0, comp = 0.0;
  for (std::size_t i = 0; i < tau_ms.size(); ++i) {
    const double tau = tau_ms[i];
    if (!(std::isfinite(tau) && tau > 0))
      throw InvalidArgument("service time tau(" + std::to_string(i + 1) +
                            ") must be finite and > 0 ms; check the service-model parameters");
    rates.mu[i] = static_cast<double>(i + 1) / tau;
    if (!(rates.mu[i] < 1e300))  // τ so small that rates (and 999·μ in req/s) would overflow
      throw InvalidArgument("service time tau(" + std::to_string(i + 1) + ") = " +
                            format_number(tau) + " ms is too small to model; check the parameters");
    rates.log_mu[i] = std::log(rates.mu[i]);
    rates.inv_mu[i] = tau / static_cast<double>(i + 1);
    // Neumaier: the partial sums of logs can be large while their increments are small.
    const double term = rates.log_mu[i];
    const double t = sum + term;
    comp += std::fabs(sum) >= std::fabs(term) ? (sum - t) + term : (term - t) + sum;
    sum = t;
    rates.cum_log_mu[i + 1] = sum + comp;
  }
  rates.nondecreasing_prefix = 1;
  while (rates.nondecreasing_prefix < rates.max_batch() &&
         rates.mu[static_cast<std::size_t>(rates.nondecreasing_prefix)] >=
             rates.mu[static_cast<std::size_t>(rates.nondecreasing_prefix) - 1])
    ++rates.nondecreasing_prefix;
  return rates;
}

double geometric_sum_negative(double x, std::int64_t q) {
  if (q <= 0) return 0.0;
  return std::expm1(static_cast<double>(q) * x) / std::expm1(x);
}

double truncated_geometric_mean(double u, std::int64_t q) {
  const double qd = static_cast<double>(q);
  if (u * qd < 1e-3) return (qd - 1.0) / 2.0 - u * (qd * qd - 1.0) / 12.0;
  return std::exp(-u) / -std::expm1(-u) - qd * std::exp(-qd * u) / -std::expm1(-qd * u);
}

void solve_chain(double lambda, const CompletionRates& rates, std::int64_t max_queue,
                 std::vector<double>& head, ChainSolution& out) {
  solve_chain(lambda, rates, rates.max_batch(), max_queue, head, out);
}

void solve_chain(double lambda, const CompletionRates& rates, int n_batch, std::int64_t max_queue,
                 std::vector<double>& head, ChainSolution& out) {
  if (!(std::isfinite(lambda) && lambda > 0))
    throw InvalidArgument("arrival rate must be a finite number > 0");
  if (n_batch < 1) throw InvalidArgument("max_batch must be >= 1, got " + std::to_string(n_batch));
  if (n_batch > rates.max_batch())
    throw InvalidArgument("max_batch must be <= the " + std::to_string(rates.max_batch()) +
                          " completion rates given, got " + std::to_string(n_batch));
  if (max_queue < 0) throw InvalidArgument("max_queue must be >= 0");

  const double log_lambda = std::log(lambda);
  head.resize(static_cast<std::size_t>(n_batch) + 1);

  // ℓ_k = k·ln λ - C_k (C_k precomputed once per configuration) and its maximum over k = 0..N.
  // Where μ is non-decreasing up to N (every model without chunked prefill), the increments
  // ln λ - ln μ_k are non-increasing, so ℓ is concave and peaks at k* = #{k : μ_k < λ}: a binary
  // search instead of a pass over the states.
  const auto ell = [&](int k) { return k * log_lambda - rates.cum_log_mu[static_cast<std::size_t>(k)]; };
  double log_max = 0.0;
  if (n_batch <= rates.nondecreasing_prefix) {
    const double* log_mu = rates.log_mu.data();
    const auto k_star = static_cast<int>(std::lower_bound(log_mu, log_mu + n_batch, log_lambda) - log_mu);
    if (k_star > 0) log_max = std::max(0.0, ell(k_star));
  } else {
    for (int k = 1; k <= n_batch; ++k) log_max = std::max(log_max, ell(k));  // vectorises
  }
  const double qd = static_cast<double>(max_queue);
  const double mu_n = rates.mu[n_batch - 1];
  const double ell_n = ell(n_batch);
  const double theta = log_lambda - rates.log_mu[n_batch - 1];
  const double ell_k = ell_n + qd * theta;
  if (max_queue > 0) log_max = std::max(log_max, ell_k);

  // Weights h_k = exp(ℓ_k - Mx) in [0, 1]. exp costs ~10x a multiplication, so it is taken
  // exactly at every kAnchor-th state and the states between are reached by multiplying by
  // λ/μ_k (relative drift <= kAnchor·3 ulp). Four states are advanced at a time from products of
  // their ratios, so the loop-carried chain is one multiplication per four states instead of one
  // per state (the loop is latency-bound). A weight about to turn subnormal (< 1e-290) is
  // recomputed from its log, or set to 0 below e^-700 (negligible next to the maximum weight 1),
  // so neither an underflowed anchor nor a deep dip loses mass or precision. The terms are
  // non-negative, so summation of the moments is accurate to N·ulp.
  constexpr int kAnchor = 64;
  constexpr double kTiny = 1e-290;
  const double* inv_mu = rates.inv_mu.data();
  const double* mu = rates.mu.data();
  double* w = head.data();
  const auto from_log = [&](int k) {
    const double exponent = ell(k) - log_max;
    return exponent < -700.0 ? 0.0 : std::exp(exponent);
  };
  double sum_busy = 0.0, sum_k = 0.0, sum_mu = 0.0;
  for (int anchor = 0; anchor <= n_batch; anchor += kAnchor) {
    const int last = std::min(anchor + kAnchor - 1, n_batch);
    double h = std::exp(ell(anchor) - log_max);
    w[anchor] = h;
    if (anchor > 0) {
      sum_busy += h;
      sum_k += anchor * h;
      sum_mu += mu[anchor - 1] * h;
    }
    int k = anchor + 1;
    for (; k + 3 <= last; k += 4) {
      const double r0 = lambda * inv_mu[k - 1], r1 = lambda * inv_mu[k];
      const double r2 = lambda * inv_mu[k + 1], r3 = lambda * inv_mu[k + 2];
      const double r01 = r0 * r1;
      double h0 = h * r0, h1 = h * r01, h2 = h * (r01 * r2), h3 = h * (r01 * (r2 * r3));
      if (std::min(std::min(h0, h1), std::min(h2, h3)) < kTiny) {
        if (h0 < kTiny) h0 = from_log(k);
        if (h1 < kTiny) h1 = from_log(k + 1);
        if (h2 < kTiny) h2 = from_log(k + 2);
        if (h3 < kTiny) h3 = from_log(k + 3);
      }
      // Every weight is <= 1 (the maximum is 1); more means a product of huge ratios overflowed
      // (λ/μ beyond ~1e77, e.g. a rate of 1e100 req/s), and inf·0 would give NaN: take the logs.
      if (!(h0 <= 2.0 && h1 <= 2.0 && h2 <= 2.0 && h3 <= 2.0)) {  // each, so that a NaN is seen
        h0 = from_log(k);
        h1 = from_log(k + 1);
        h2 = from_log(k + 2);
        h3 = from_log(k + 3);
      }
      w[k] = h0;
      w[k + 1] = h1;
      w[k + 2] = h2;
      w[k + 3] = h3;
      h = h3;
      sum_busy += (h0 + h1) + (h2 + h3);
      sum_k += (k * h0 + (k + 1) * h1) + ((k + 2) * h2 + (k + 3) * h3);
      sum_mu += (mu[k - 1] * h0 + mu[k] * h1) + (mu[k + 1] * h2 + mu[k + 2] * h3);
    }
    for (; k <= last; ++k) {
      h *= lambda * inv_mu[k - 1];
      if (h < kTiny || !(h <= 2.0)) h = from_log(k);
      w[k] = h;
      sum_busy += h;
      sum_k += k * h;
      sum_mu += mu[k - 1] * h;
    }
  }
  const double h_n = head[n_batch];

  // Geometric tail k = N+1..K in closed form: mass T0 and mean position ī beyond N.
  double tail_mass = 0.0, tail_mean = 0.0;
  if (max_queue > 0) {
    if (theta < 0) {
      tail_mass = std::exp(ell_n + theta - log_max) * geometric_sum_negative(theta, max_queue);
      tail_mean = 1.0 + truncated_geometric_mean(-theta, max_queue);
    } else if (theta > 0) {
      tail_mass = std::exp(ell_k - log_max) * geometric_sum_negative(-theta, max_queue);
      tail_mean = qd - truncated_geometric_mean(theta, max_queue);
    } else {
      tail_mass = h_n * qd;
      tail_mean = (qd + 1.0) / 2.0;
    }
  }
  const double norm = head[0] + sum_busy + tail_mass;

  out.lambda = lambda;
  out.max_batch = n_batch;
  out.max_queue = max_queue;
  out.log_max = log_max;
  out.theta = theta;
  out.ell_batch = ell_n;
  out.ell_full = max_queue > 0 ? ell_k : ell_n;
  out.norm = norm;
  out.tail_mass = tail_mass;

  out.prob_empty = head[0] / norm;
  out.prob_full = (max_queue > 0 ? std::exp(ell_k - log_max) : h_n) / norm;
  out.prob_batch_full = (h_n + tail_mass) / norm;
  out.busy = (sum_busy + tail_mass) / norm;
  out.num_in_service = (sum_k + n_batch * tail_mass) / norm;
  out.queue_length = tail_mass * tail_mean / norm;
  out.num_in_system = out.num_in_service + out.queue_length;
  out.throughput = (sum_mu + mu_n * tail_mass) / norm;

  if (out.throughput > 0) {
    out.response_ms = out.num_in_system / out.throughput;
    out.service_ms = out.num_in_service / out.throughput;
    out.wait_ms = out.queue_length / out.throughput;
  } else {
    // λ so small that every busy-state weight underflowed: the exact λ → 0 limit.
    out.throughput = lambda;
    out.response_ms = out.service_ms = 1.0 / rates.mu.front();
    out.wait_ms = 0.0;
  }
}

ChainSolution solve_chain(double lambda, const CompletionRates& rates, std::int64_t max_queue) {
  std::vector<double> head;
  ChainSolution out;
  solve_chain(lambda, rates, max_queue, head, out);
  return out;
}

}  // namespace inferno::queue
