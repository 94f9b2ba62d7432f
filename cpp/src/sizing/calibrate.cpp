#include "inferno/sizing/calibrate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <Eigen/Dense>

#include "inferno/error.hpp"
#include "inferno/queue/limits.hpp"
#include "inferno/sizing/recommend.hpp"

namespace inferno::sizing {

Eigen::VectorXd nnls_small(const Eigen::MatrixXd& A, const Eigen::VectorXd& b) {
  const Eigen::Index k = A.cols();
  if (k == 0 || k > 8 || A.rows() != b.size()) throw InvalidArgument("nnls_small: 1 to 8 columns and one right-hand side per row expected");
  // The NNLS optimum is the unconstrained least-squares solution on its own support, so the best
  // non-negative support solution over all 2^k supports is the optimum (k is 2 or 3 here).
  Eigen::VectorXd best = Eigen::VectorXd::Zero(k);
  double best_res = b.squaredNorm();
  for (unsigned mask = 1; mask < (1u << k); ++mask) {
    std::vector<Eigen::Index> cols;
    for (Eigen::Index j = 0; j < k; ++j)
      if (mask & (1u << j)) cols.push_back(j);
    const Eigen::MatrixXd S = A(Eigen::all, cols);
    const Eigen::VectorXd x = S.colPivHouseholderQr().solve(b);
    if (!x.allFinite() || (x.array() < 0).any()) continue;
    const double res = (S * x - b).squaredNorm();
    if (res < best_res * (1 - 1e-12)) {
      best_res = res;
      best.setZero();
      best(cols) = x;
    }
  }
  return best;
}

namespace {

// One fit row: coefficients of (α, β, γ) and the measured value in ms (docs/sizing.md §4).
struct Row {
  std::size_t point;
  std::string metric;
  double x_alpha, x_beta, x_gamma;
  double y_ms;
  double measured;  // in the metric's own unit (ms, or req/s for throughput)
};

std::vector<Row> rows_of(const std::vector<ProfilePoint>& points) {
  std::vector<Row> rows;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const ProfilePoint& p = points[i];
    const std::string where = "points[" + std::to_string(i) + "]";
    // Ranges as for a request's load (docs/sizing.md, "Input ranges"): the fit's regressors are
    // products of these and stay finite inside them.
    require(p.concurrency >= 1 && p.concurrency <= kMaxConcurrency, where + ".concurrency", "an integer in [1, 1000000]",
            p.concurrency);
    require_finite_in(where + ".n", p.in_tokens, 0, false, queue::kMaxTokens);
    require_finite_in(where + ".m", p.out_tokens, 1, false, queue::kMaxTokens);
    if (!p.tpot_ms && !p.ttft_ms && !p.throughput_rps)
      throw InvalidArgument(where + ": no measurement; give tpot_ms, ttft_ms or throughput_rps");
    const double n = p.in_tokens, m = p.out_tokens, C = p.concurrency;
    const double k1 = (n + m) / (1 + m);
    const double k2 = (n + m * (n + (m + 1) / 2)) / (1 + m);
    auto check = [&](const std::optional<double>& v, const char* field) {
      if (v) require_finite_in(where + "." + field, *v, 0, true, kMaxMeasurement);
    };
    check(p.tpot_ms, "tpot_ms");
    check(p.ttft_ms, "ttft_ms");
    check(p.throughput_rps, "throughput_rps");
    if (p.tpot_ms) rows.push_back({i, "tpot", 1, 1 + (C - 1) * k1, (n + (m + 1) / 2) + (C - 1) * k2, *p.tpot_ms, *p.tpot_ms});
    if (p.ttft_ms)
      rows.push_back({i, "ttft", 2, 2 * (C - 1) * k1 + n + 1, 2 * (C - 1) * k2 + 2 * n + (m + 1) / 2, *p.ttft_ms, *p.ttft_ms});
    if (p.throughput_rps)
      rows.push_back({i, "throughput", 1, C * k1, C * k2, 1e3 * C / ((1 + m) * *p.throughput_rps), *p.throughput_rps});
  }
  return rows;
}

double condition_number(const Eigen::MatrixXd& A) {
  if (A.rows() < A.cols()) return std::numeric_limits<double>::infinity();
  const Eigen::JacobiSVD<Eigen::MatrixXd> svd(A);
  const auto& s = svd.singularValues();
  const double lo = s(s.size() - 1);
  return lo > 0 ? s(0) / lo : std::numeric_limits<double>::infinity();
}

}  // namespace

Calibration calibrate(const ModelArch& arch, const ServingOpts& serving, const std::vector<ProfilePoint>& points,
                      const Catalog& catalog, const CalibrationOptions& options, const Efficiency& prior) {
  prior.validate();
  if (!(options.kappa_max >= 0) || !(options.max_rel_rms > 0))
    throw InvalidArgument("kappaMax must be >= 0 and maxRelRms > 0");
  Calibration cal;
  cal.mode = options.mode;
  cal.efficiency = prior;
  const std::vector<Row> rows = rows_of(points);
  std::vector<Accelerator> accs;
  for (std::size_t i = 0; i < points.size(); ++i) accs.push_back(catalog.accelerator(points[i].accelerator));
  for (const auto& a : accs)
    if (std::find(cal.gpus.begin(), cal.gpus.end(), a.gpu->id) == cal.gpus.end()) cal.gpus.push_back(a.gpu->id);

  std::vector<std::vector<double>> design;
  std::vector<double> y, scale, offset(rows.size(), 0.0);  // offset: pinned or fixed terms
  std::vector<double> fitted;
  if (options.mode == CalibrationMode::theta) {
    if (points.empty()) {
      cal.reason = "tooFewPoints";
      return cal;
    }
    cal.accelerator = accs.front().name;
    for (std::size_t i = 1; i < accs.size(); ++i)
      if (accs[i].name != cal.accelerator)
        throw InvalidArgument("points[" + std::to_string(i) + "].accelerator: theta mode fits one accelerator (" +
                              cal.accelerator + "), got " + accs[i].name + "; use family mode across slices");
    const Workload w{points.front().in_tokens, points.front().out_tokens, 0};
    const Estimate e0 = derive(arch, serving, accs.front(), prior, w);
    cal.prior_theta = {e0.alpha_ms, e0.beta_ms, e0.gamma_ms};
    cal.gamma_pinned = options.pin_gamma;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      if (options.pin_gamma) {
        offset[i] = r.x_gamma * e0.gamma_ms;
        design.push_back({r.x_alpha, r.x_beta});
      } else {
        design.push_back({r.x_alpha, r.x_beta, r.x_gamma});
      }
      y.push_back(r.y_ms);
    }
    scale = {e0.alpha_ms, e0.beta_ms};
    if (!options.pin_gamma) scale.push_back(e0.gamma_ms);
  } else {
    // φ = (t0, 1/η_B, 1/η_F): every row is linear in φ on any accelerator (docs/sizing.md §4).
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      const ProfilePoint& p = points[r.point];
      const RooflineTerms t = roofline_terms(arch, serving, accs[r.point], prior, Workload{p.in_tokens, p.out_tokens, 0});
      design.push_back({r.x_alpha, r.x_alpha * t.weights_ms + r.x_gamma * t.kv_read_ms,
                        r.x_beta * t.compute_ms + r.x_gamma * t.attention_ms});
      offset[i] = r.x_alpha * t.comm_ms + r.x_beta * t.comm_token_ms;
      y.push_back(r.y_ms);
    }
    scale = {prior.t0_ms > 0 ? prior.t0_ms : 0.5, 1.0 / prior.eta_bw, 1.0 / prior.eta_flops};
  }
  const std::size_t unknowns = scale.size();
  if (rows.size() < unknowns) {
    cal.reason = "tooFewPoints";
    return cal;
  }
  // Relative errors (weights 1/y²): each row and its target (y less the fixed terms) are divided
  // by the measured y; the columns are scaled by the prior so that κ measures identifiability,
  // not units.
  Eigen::MatrixXd A(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(unknowns));
  Eigen::VectorXd b(static_cast<Eigen::Index>(rows.size()));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto r = static_cast<Eigen::Index>(i);
    for (std::size_t j = 0; j < unknowns; ++j) A(r, static_cast<Eigen::Index>(j)) = design[i][j] * scale[j] / y[i];
    b(r) = (y[i] - offset[i]) / y[i];
  }
  cal.kappa = condition_number(A);
  const Eigen::VectorXd z = nnls_small(A, b);
  for (std::size_t j = 0; j < unknowns; ++j) fitted.push_back(z(static_cast<Eigen::Index>(j)) * scale[j]);

  // Predictions and residuals.
  double ss = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    double pred = offset[i];
    for (std::size_t j = 0; j < unknowns; ++j) pred += design[i][j] * fitted[j];
    ss += std::pow((pred - y[i]) / y[i], 2);
    CalibrationRow out;
    out.point = rows[i].point;
    out.metric = rows[i].metric;
    out.measured = rows[i].measured;
    if (rows[i].metric == "throughput") {
      const ProfilePoint& p = points[rows[i].point];
      out.predicted = pred > 0 ? 1e3 * p.concurrency / ((1 + p.out_tokens) * pred) : 0.0;
    } else {
      out.predicted = pred;
    }
    out.rel_error = (out.predicted - out.measured) / out.measured;
    cal.rows.push_back(out);
  }
  cal.rel_rms = std::sqrt(ss / static_cast<double>(rows.size()));

  if (options.mode == CalibrationMode::theta) {
    cal.theta = {fitted[0], fitted[1], options.pin_gamma ? cal.prior_theta[2] : fitted[2]};
  } else {
    cal.efficiency.t0_ms = fitted[0];
    cal.efficiency.eta_bw = fitted[1] > 0 ? 1.0 / fitted[1] : 0.0;
    cal.efficiency.eta_flops = fitted[2] > 0 ? 1.0 / fitted[2] : 0.0;
  }
  const bool positive = std::all_of(fitted.begin(), fitted.end(), [](double v) { return v > 0; });
  if (options.kappa_max > 0 && !(cal.kappa <= options.kappa_max)) cal.reason = "illConditioned";
  else if (!positive) cal.reason = "nonPositive";
  else if (cal.rel_rms > options.max_rel_rms) cal.reason = "residualHigh";
  cal.accepted = cal.reason.empty();
  return cal;
}

std::array<double, 3> calibrated_theta(const Calibration& cal, const ModelArch& arch, const ServingOpts& serving,
                                       const Accelerator& acc, const Workload& workload) {
  if (cal.mode == CalibrationMode::theta) {
    if (acc.name != cal.accelerator)
      throw InvalidArgument("a theta-mode calibration applies to " + cal.accelerator + " only, not " + acc.name);
    return cal.theta;
  }
  const Estimate e = derive(arch, serving, acc, cal.efficiency, workload);
  return {e.alpha_ms, e.beta_ms, e.gamma_ms};
}

TunerSeed tuner_seed(const std::array<double, 3>& theta, double rel_rms) {
  TunerSeed s;
  for (std::size_t j = 0; j < 3; ++j) {
    if (!(std::isfinite(theta[j]) && theta[j] > 0))
      throw InvalidArgument("tuner seed: alpha, beta and gamma must be positive, got " + format_number(theta[j]));
    s.init_state[j] = theta[j];
    s.min_state[j] = theta[j] / 10;
    s.max_state[j] = theta[j] * 10;
  }
  s.percent_change = rel_rms <= 0.10 ? 0.10 : 0.25;
  return s;
}

Efficiency efficiency_from_theta(const ModelArch& arch, const ServingOpts& serving, const Accelerator& acc,
                                 const std::array<double, 3>& theta, const Efficiency& current, double weight) {
  require(weight > 0 && weight <= 1, "weight", "in (0, 1]", weight);
  const RooflineTerms t = roofline_terms(arch, serving, acc, current);
  const double inv_flops = (theta[1] - t.comm_token_ms) / t.compute_ms;
  const double gamma_attention = t.attention_ms * inv_flops;
  const double inv_bw = (theta[2] - gamma_attention) / t.kv_read_ms;
  if (!(inv_flops > 0))
    throw InvalidArgument("beta " + format_number(theta[1]) + " is not above its all-reduce term " + format_number(t.comm_token_ms) +
                          ": etaFlops cannot be inferred");
  if (!(inv_bw > 0))
    throw InvalidArgument("gamma " + format_number(theta[2]) + " is not above its attention term " + format_number(gamma_attention) +
                          ": etaBw cannot be inferred");
  const double t0 = theta[0] - t.weights_ms * inv_bw - t.comm_ms;
  if (!(t0 >= 0))
    throw InvalidArgument("alpha " + format_number(theta[0]) + " is below the weight-streaming time at the implied etaBw: t0 would be negative");
  Efficiency out = current;
  out.t0_ms = (1 - weight) * current.t0_ms + weight * t0;
  out.eta_bw = (1 - weight) * current.eta_bw + weight / inv_bw;
  out.eta_flops = (1 - weight) * current.eta_flops + weight / inv_flops;
  return out;
}

}  // namespace inferno::sizing
