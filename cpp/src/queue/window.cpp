// Renewal count of a busy batch slot over a finite window.
#include "inferno/queue/window.hpp"

#include <algorithm>
#include <cmath>

#include "inferno/error.hpp"
#include "inferno/queue/limits.hpp"

namespace inferno::queue {

double expected_completions(double mean_ms, double cv, double window_ms) {
  require_finite_in("mean_ms", mean_ms, 0, true, 1e15);
  require_finite_in("cv", cv, 0, false, kMaxCov);
  require_finite_in("window_ms", window_ms, 0, true, 1e15);
  const double cycles = window_ms / mean_ms;  // W / μ
  if (cv == 0) return std::floor(cycles);
  // Far below W/μ every renewal is certain (P(T_k <= W) = 1 to double precision) and the terms
  // fall monotonically in k: only those from a few standard deviations (cv·√k cycles) below W/μ
  // until they vanish need evaluating.
  if (cycles > 1e6) return cycles + 0.5 * (cv * cv - 1.0);  // the renewal theorem's limit
  const double first = std::max(1.0, std::floor(cycles - 12.0 * cv * std::sqrt(cycles + 1.0) - 2.0));
  double completions = first - 1.0;
  for (double k = first;; k += 1.0) {
    const double z = (window_ms - k * mean_ms) / (cv * mean_ms * std::sqrt(k));
    const double term = 0.5 * std::erfc(-z / std::sqrt(2.0));
    completions += term;
    if (k > cycles && term < 1e-17 * std::max(1.0, completions)) break;
  }
  return completions;
}

}  // namespace inferno::queue
