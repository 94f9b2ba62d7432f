#include "inferno/queue/percentiles.hpp"

#include <algorithm>
#include <cmath>

#include "inferno/error.hpp"
#include "bracket.hpp"

namespace inferno::queue {

namespace {

// Σ_{k=N+j..K-1} of the unnormalised weights exp(ℓ_k - Mx), i.e. queue positions i = j..Q-1.
double tail_weight_from(const ChainSolution& c, std::int64_t j) {
  const std::int64_t q = c.max_queue;
  if (j >= q) return 0.0;
  const double jd = static_cast<double>(j);
  if (c.theta < 0)
    return std::exp(c.ell_batch + jd * c.theta - c.log_max) * geometric_sum_negative(c.theta, q - j);
  if (c.theta > 0)
    return std::exp(c.ell_batch + static_cast<double>(q - 1) * c.theta - c.log_max) *
           geometric_sum_negative(-c.theta, q - j);
  return std::exp(c.ell_batch - c.log_max) * static_cast<double>(q - j);
}

// A_j: probability that an accepted arrival needs at least j+1 completions before it starts.
double needs_completions(const ChainSolution& c, std::int64_t j) {
  const double accepted = c.norm * c.throughput / c.lambda;  // Z·(1 - p_K)
  return std::min(1.0, tail_weight_from(c, j) / accepted);
}

constexpr double kLogTwoPi = 1.8378770664093454836;

// lgamma(n+1) - [(n+½)ln n - n + ½ln 2π], the error of Stirling's formula, for n >= 16.
double stirling_error(double n) {
  const double n2 = n * n;
  return (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * n2)) / n2) / n2) / n;
}

// j·ln(j/x) + x - j without the cancellation of the direct form when j ≈ x (Loader's bd0).
double deviance(double j, double x) {
  if (std::fabs(j - x) < 0.1 * (j + x)) {
    const double v = (j - x) / (j + x);
    double sum = (j - x) * v, term = 2.0 * j * v;
    const double v2 = v * v;
    for (int k = 1; k < 1000; ++k) {
      term *= v2;
      const double next = sum + term / (2 * k + 1);
      if (next == sum) break;
      sum = next;
    }
    return sum;
  }
  return j * std::log(j / x) + x - j;
}

// ln Poisson(j; x), accurate to a few ulps of the result even for x near 1e19, where the
// textbook -x + j ln x - lgamma(j+1) cancels terms of 1e20 and keeps no correct digit.
double log_poisson_pmf(double j, double x) {
  if (j < 16) return -x + j * std::log(x) - std::lgamma(j + 1.0);
  return -stirling_error(j) - deviance(j, x) - 0.5 * (kLogTwoPi + std::log(j));
}

// Wider Poisson windows than this are sampled with a stride (see wait_survival).
constexpr std::int64_t kMaxDirectTerms = 4096;

}  // namespace

double prob_wait(const ChainSolution& chain, const CompletionRates&) {
  if (chain.max_queue == 0) return 0.0;
  return needs_completions(chain, 0);
}

double wait_survival(const ChainSolution& chain, const CompletionRates& rates, double t_ms) {
  if (!(t_ms >= 0)) return 1.0;  // W >= 0 surely; also maps NaN to the safe side
  const std::int64_t q = chain.max_queue;
  if (q == 0) return 0.0;
  const double x = rates.mu[chain.max_batch - 1] * t_ms;  // expected completions in t at rate μ_N
  if (x == 0) return needs_completions(chain, 0);
  if (!std::isfinite(x)) return 0.0;
  // P(W > t) = Σ_j Poisson(j; x)·A_j over the window where the Poisson mass is not negligible.
  // The window is bounded in double before any cast: for a huge t (x beyond 2^63) a cast first
  // was undefined and could turn into an endless loop. Inside, at most 24·sqrt(x) + 60 terms,
  // summed one by one up to kMaxDirectTerms and sampled with a stride beyond.
  const double spread = 12.0 * std::sqrt(x) + 30.0;
  const double last = static_cast<double>(q - 1);
  if (x - spread > last) return 0.0;  // every queue position is served long before t
  const double lo = std::max(0.0, std::floor(x - spread));
  const double hi = std::min(last, std::ceil(x + spread));
  // A queue position from a double in [0, last]. Q - 1 near 2^63 rounds up to 2^63 in double,
  // which no int64 holds: the top of the range maps to Q - 1 itself.
  const auto position = [&](double v) { return v >= last ? q - 1 : static_cast<std::int64_t>(v); };
  const std::int64_t j_lo = position(lo);
  const std::int64_t j_hi = position(hi);
  if (j_hi - j_lo > kMaxDirectTerms) {
    // A window this wide has a standard deviation √x > 170 terms, over which the Poisson pmf and
    // A_j (an exponential in j, capped at 1) are smooth: the trapezoidal rule on a stride of at
    // most 1/170 of a standard deviation matches the term-by-term sum to ~1e-10 relative, at a
    // fixed cost instead of O(√Q) (a queue of 1e18 meant 2.4e10 terms per evaluation).
    const double stride = std::ceil(static_cast<double>(j_hi - j_lo) / static_cast<double>(kMaxDirectTerms));
    const auto step = static_cast<std::int64_t>(stride);
    double total = 0;
    for (std::int64_t j = j_lo;; j += step) {
      const bool last_sample = j_hi - j < step;  // never j + step: j_hi may be near 2^63
      const double weight = (j == j_lo || last_sample) ? 0.5 : 1.0;
      total += weight * std::exp(log_poisson_pmf(static_cast<double>(j), x)) * needs_completions(chain, j);
      if (last_sample) break;
    }
    return std::clamp(total * stride, 0.0, 1.0);
  }
  const std::int64_t j_mode = position(std::clamp(std::floor(x), lo, hi));
  const double log_x = std::log(x);
  const double pmf_mode =
      std::exp(-x + static_cast<double>(j_mode) * log_x - std::lgamma(static_cast<double>(j_mode) + 1.0));
  double total = pmf_mode * needs_completions(chain, j_mode);
  double pmf = pmf_mode;
  for (std::int64_t j = j_mode + 1; j <= j_hi; ++j) {
    pmf *= x / static_cast<double>(j);
    total += pmf * needs_completions(chain, j);
  }
  pmf = pmf_mode;
  for (std::int64_t j = j_mode - 1; j >= j_lo; --j) {
    pmf *= static_cast<double>(j + 1) / x;
    total += pmf * needs_completions(chain, j);
  }
  return std::clamp(total, 0.0, 1.0);
}

double wait_quantile(const ChainSolution& chain, const CompletionRates& rates, double p) {
  if (!(p > 0 && p < 1)) throw InvalidArgument("quantile probability must be in (0, 1)");
  const double exceed = 1.0 - p;
  if (chain.max_queue == 0 || prob_wait(chain, rates) <= exceed) return 0.0;
  // Markov's inequality: P(W > E[W]/(1-p)) <= 1-p, so this brackets the quantile.
  double hi = chain.wait_ms / exceed;
  if (!(hi > 0)) hi = 1.0 / rates.mu[chain.max_batch - 1];
  for (int grow = 0; grow < 64 && wait_survival(chain, rates, hi) > exceed; ++grow)
    hi *= 2.0;  // guards rounding only
  // Root of ln(1-p) - ln P(W > t): nearly linear in t in the tail, so interpolation converges in
  // a few steps; the bracket keeps P(W > lo) > 1-p >= P(W > hi) and the conservative end is
  // returned.
  const double log_exceed = std::log(exceed);
  const auto f = [&](double t) { return log_exceed - std::log(wait_survival(chain, rates, t)); };
  const double lo = 0.0;
  hi = detail::refine_crossing(f, lo, f(lo), hi, f(hi), 1e-12, 200).second;
  return hi;
}

}  // namespace inferno::queue
