#pragma once
// Private helper: refine a sign change inside a bracket without ever losing it.
#include <cmath>
#include <utility>

namespace inferno::queue::detail {

/// Narrows [a, b] with f(a) <= 0 < f(b) until b - a <= rel_tol·|b| or max_steps evaluations,
/// keeping that invariant: only the sign of f moves an end. Modified regula falsi steps
/// (Anderson–Björck, Illinois as fallback), clamped at least tol/2 inside the bracket so a step
/// can close it; plain bisection whenever kPatience steps in a row fail to halve the bracket or
/// the interpolation is unusable.
/// Returns the final {a, b}.
template <class F>
std::pair<double, double> refine_crossing(F&& f, double a, double fa, double b, double fb,
                                          double rel_tol, int max_steps) {
  // Interpolation steps allowed without halving the bracket before a bisection is forced. The
  // iterate usually converges from one side first, so too small a value wastes steps on
  // bisection; without it a stalled end can take hundreds of steps (measured: 4 is best).
  constexpr int kPatience = 4;
  int side = 0, since_halving = 0;
  double reference_width = b - a;
  for (int step = 0; step < max_steps; ++step) {
    const double tol = rel_tol * std::fabs(b);
    if (b - a <= tol) break;
    double x = 0.5 * (a + b);
    if (since_halving < kPatience && fb - fa > 0 && std::isfinite(fb - fa)) {
      const double interpolated = b - fb * (b - a) / (fb - fa);
      if (std::isfinite(interpolated))
        x = std::fmin(std::fmax(interpolated, a + 0.5 * tol), b - 0.5 * tol);
    }
    if (!(x > a && x < b)) x = 0.5 * (a + b);
    const double fx = f(x);
    // When the same end moves twice in a row, shrink the other end's value (Anderson–Björck
    // factor 1 - f(x)/f(old end), or Illinois's 1/2 when that is not in (0, 1)) so the next
    // interpolation lands on the far side of the root.
    const auto factor = [](double f_new, double f_old) {
      const double m = 1.0 - f_new / f_old;
      return m > 0 && m < 1 ? m : 0.5;
    };
    if (fx <= 0) {
      if (side == -1) fb *= factor(fx, fa);
      a = x;
      fa = fx;
      side = -1;
    } else {
      if (side == +1) fa *= factor(fx, fb);
      b = x;
      fb = fx;
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
