#pragma once
// Private helper: refine a sign change inside a bracket without ever losing it.
#include <cmath>
#include <utility>

namespace inferno::queue::detail {

/// Narrows [a, b] with f(a) <= 0 < f(b) until b - a <= rel_tol·|b| or max_steps evaluations,
/// keeping that invariant: only the sign of f moves an end. Illinois (modified regula falsi)
/// steps, clamped at least tol/2 inside the bracket so a step can close it; plain bisection
/// whenever two steps in a row fail to halve the bracket or the interpolation is unusable.
/// Returns the final {a, b}.
template <class F>
std::pair<double, double> refine_crossing(F&& f, double a, double fa, double b, double fb,
                                          double rel_tol, int max_steps) {
  int side = 0, since_halving = 0;
  double reference_width = b - a;
  for (int step = 0; step < max_steps; ++step) {
    const double tol = rel_tol * std::fabs(b);
    if (b - a <= tol) break;
    double x = 0.5 * (a + b);
    if (since_halving < 2 && fb - fa > 0 && std::isfinite(fb - fa)) {
      const double interpolated = b - fb * (b - a) / (fb - fa);
      if (std::isfinite(interpolated))
        x = std::fmin(std::fmax(interpolated, a + 0.5 * tol), b - 0.5 * tol);
    }
    if (!(x > a && x < b)) x = 0.5 * (a + b);
    const double fx = f(x);
    if (fx <= 0) {
      a = x;
      fa = fx;
      if (side == -1) fb *= 0.5;
      side = -1;
    } else {
      b = x;
      fb = fx;
      if (side == +1) fa *= 0.5;
      side = +1;
    }
    if (b - a <= 0.5 * reference_width) {
      reference_width = b - a;
      since_halving = 0;
    } else {
      ++since_halving;
    }
  }
  return {a, b};
}

}  // namespace inferno::queue::detail
