#include "inferno/tuner/fit.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "inferno/enum_names.hpp"
#include "inferno/error.hpp"

namespace inferno::tuner {

namespace {
bool valid_seed(const Vector& seed) {
  return seed.size() == 3 && (seed.array() > 0).all() && seed.allFinite();
}
constexpr double kWaitScaleFloorMs = 0.01;
}  // namespace

std::optional<Vector> guess_init_state(double ttft, double itl, double n, double m, const Vector& seed,
                                       GuessForm form) {
  if (!(ttft > 0 && itl > 0 && n > 0 && m > 0) || !std::isfinite(ttft + itl + n + m)) return std::nullopt;
  if (valid_seed(seed)) {
    const double gamma = seed[2];
    const double prefill = form == GuessForm::consistent ? ttft - itl : ttft;
    if (n > 1) {
      const double beta = (prefill - itl + gamma * (m + 1) / 2) / (n - 1);
      const double alpha = itl - beta - gamma * (n + (m + 1) / 2);
      if (alpha > 0 && beta > 0) return Vector((Vector(3) << alpha, beta, gamma).finished());
    }
    return seed;  // degenerate solve: the full seed
  }
  const double alpha = 0.9 * itl;
  const double s = (ttft - alpha) / n;
  if (s < 0) return std::nullopt;
  const double d = n + (m + 1) / 2 - 1;
  if (d <= 0) return std::nullopt;
  const double gamma = ((itl - alpha) - s) / d;
  const double beta = s - gamma;
  if (!(alpha > 0 && beta > 0 && gamma > 0)) return std::nullopt;
  return Vector((Vector(3) << alpha, beta, gamma).finished());
}

Vector default_start(int dim) {
  const Vector full = (Vector(3) << 5.0, 0.05, 0.0005).finished();
  if (dim < 1 || dim > 3) throw InvalidArgument("default start is defined for 1 to 3 parameters");
  return full.head(dim);
}

bool relative_residuals(const ObservationModel& model, const std::vector<FitPoint>& points, const Vector& x,
                        Vector& out) {
  const int m = model.obs_dim();
  out.resize(static_cast<Eigen::Index>(points.size()) * m);
  Vector h, z;
  for (std::size_t k = 0; k < points.size(); ++k) {
    if (model.evaluate(x, points[k].obs.point, h) != ModelError::none) return false;
    z = model.observed(points[k].obs);
    const double w = std::sqrt(points[k].weight);
    for (int j = 0; j < m; ++j) {
      const bool wait = model.spec().channels[static_cast<std::size_t>(j)] == Channel::wait;
      const double scale = wait ? std::max(z[j], kWaitScaleFloorMs) : z[j];
      if (!wait && !(z[j] > 0 && h[j] > 0)) return false;
      out[static_cast<Eigen::Index>(k) * m + j] = w * (h[j] - z[j]) / scale;
    }
  }
  return true;
}

double fit_objective(const ObservationModel& model, const std::vector<FitPoint>& points, const Vector& x) {
  if (!x.allFinite() || (x.array() <= 0).any()) return kFitPenalty;
  Vector r;
  if (!relative_residuals(model, points, x, r)) return kFitPenalty;
  const double f = r.squaredNorm();
  return std::isfinite(f) ? f : kFitPenalty;
}

GuessForm parse_guess_form(const std::string& name) { return parse_enum(kGuessForms, name, "guess_form"); }
const char* guess_form_name(GuessForm form) { return enum_name(kGuessForms, form); }

const char* nelder_mead_stop_name(NelderMeadStop s) {
  switch (s) {
    case NelderMeadStop::converged: return "converged";
    case NelderMeadStop::evaluation_limit: return "evaluation_limit";
    case NelderMeadStop::failed: return "failed";
  }
  return "failed";
}

NelderMeadResult nelder_mead(const std::function<double(const Vector&)>& f, const Vector& x0,
                             const NelderMeadOptions& options) {
  NelderMeadResult result;
  const auto d = static_cast<int>(x0.size());
  if (d < 1 || !x0.allFinite() || (x0.array() <= 0).any()) return result;  // failed: a zero start freezes a parameter
  // Adaptive coefficients (Gao & Han) for dimension d.
  const double rho = 1.0, chi = 1.0 + 2.0 / d, gamma = 0.75 - 1.0 / (2.0 * d), sigma = 1.0 - 1.0 / d;
  const auto eval = [&](const Vector& p) {
    ++result.evaluations;
    const double v = f(p.cwiseProduct(x0));
    return std::isnan(v) ? kFitPenalty : v;
  };
  std::vector<Vector> simplex(static_cast<std::size_t>(d) + 1, Vector::Ones(d));
  for (int i = 0; i < d; ++i) simplex[static_cast<std::size_t>(i) + 1][i] += 0.05;
  std::vector<double> values(simplex.size());
  for (std::size_t i = 0; i < simplex.size(); ++i) values[i] = eval(simplex[i]);
  std::vector<std::size_t> order(simplex.size());
  double best_seen = std::numeric_limits<double>::infinity();
  int stall = 0;
  Vector centroid(d);
  while (true) {
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
    const std::size_t best = order.front(), worst = order.back(), second_worst = order[order.size() - 2];
    if (values[best] < best_seen - options.stall_tolerance) {
      stall = 0;
    } else if (++stall >= options.stall_iterations) {
      result.stop = NelderMeadStop::converged;
      break;
    }
    best_seen = std::min(best_seen, values[best]);
    if (result.evaluations >= options.max_evaluations) {
      result.stop = NelderMeadStop::evaluation_limit;
      break;
    }
    ++result.iterations;
    centroid.setZero();
    for (std::size_t i = 0; i + 1 < order.size(); ++i) centroid += simplex[order[i]];
    centroid /= d;
    const Vector reflected = centroid + rho * (centroid - simplex[worst]);
    const double f_reflected = eval(reflected);
    if (f_reflected < values[best]) {
      const Vector expanded = centroid + chi * (reflected - centroid);
      const double f_expanded = eval(expanded);
      if (f_expanded < f_reflected) {
        simplex[worst] = expanded;
        values[worst] = f_expanded;
      } else {
        simplex[worst] = reflected;
        values[worst] = f_reflected;
      }
      continue;
    }
    if (f_reflected < values[second_worst]) {
      simplex[worst] = reflected;
      values[worst] = f_reflected;
      continue;
    }
    bool accepted = false;
    if (f_reflected < values[worst]) {  // outside contraction
      const Vector contracted = centroid + gamma * (reflected - centroid);
      const double f_contracted = eval(contracted);
      if (f_contracted <= f_reflected) {
        simplex[worst] = contracted;
        values[worst] = f_contracted;
        accepted = true;
      }
    } else {  // inside contraction
      const Vector contracted = centroid + gamma * (simplex[worst] - centroid);
      const double f_contracted = eval(contracted);
      if (f_contracted < values[worst]) {
        simplex[worst] = contracted;
        values[worst] = f_contracted;
        accepted = true;
      }
    }
    if (!accepted) {  // shrink towards the best vertex
      for (std::size_t i = 0; i < simplex.size(); ++i) {
        if (i == best) continue;
        simplex[i] = simplex[best] + sigma * (simplex[i] - simplex[best]);
        values[i] = eval(simplex[i]);
      }
    }
  }
  const std::size_t best = static_cast<std::size_t>(std::min_element(values.begin(), values.end()) - values.begin());
  result.x = simplex[best].cwiseProduct(x0);
  result.value = values[best];
  if (!(result.value < kFitPenalty) || (result.x.array() <= 0).any()) result.stop = NelderMeadStop::failed;
  return result;
}

namespace {
// Weight of the prior of an ill-conditioned fit, per point, on squared log-deviations: a
// parameter twice the prior costs as much as a 0.7 % misfit of each point's channels, so the
// prior moves only what the data leave free.
constexpr double kPriorWeightPerPoint = 1e-4;

// J of the relative residuals in log parameters (central differences of 0.1 % of each x_i);
// nullopt where an evaluation fails or there are fewer rows than parameters.
std::optional<Matrix> log_jacobian(const ObservationModel& model, const std::vector<FitPoint>& points, const Vector& x) {
  const auto rows = static_cast<Eigen::Index>(points.size()) * model.obs_dim();
  if (rows < x.size() || (x.array() <= 0).any()) return std::nullopt;
  constexpr double kStep = 1e-3;
  Matrix J(rows, x.size());
  Vector plus, minus;
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    Vector probe = x;
    probe[i] = x[i] * (1 + kStep);
    if (!relative_residuals(model, points, probe, plus)) return std::nullopt;
    probe[i] = x[i] * (1 - kStep);
    if (!relative_residuals(model, points, probe, minus)) return std::nullopt;
    J.col(i) = (plus - minus) / (2 * kStep);
  }
  return J;
}
}  // namespace

double condition_number(const ObservationModel& model, const std::vector<FitPoint>& points, const Vector& x) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::optional<Matrix> J = log_jacobian(model, points, x);
  if (!J) return inf;
  const Eigen::JacobiSVD<Matrix> svd(*J);
  const Vector& s = svd.singularValues();
  if (!(s.minCoeff() > 0) || !s.allFinite()) return inf;
  return s.maxCoeff() / s.minCoeff();
}

std::string weak_direction(const ObservationModel& model, const std::vector<FitPoint>& points, const Vector& x) {
  const std::optional<Matrix> J = log_jacobian(model, points, x);
  if (!J || !J->allFinite()) return "";
  // The right singular vector of the smallest singular value: the change of the (log)
  // parameters the data can least tell from no change. Its large components name the direction;
  // opposite signs trade off ("beta vs gamma"), equal signs move together.
  const Eigen::JacobiSVD<Matrix> svd(*J, Eigen::ComputeThinV);
  const Vector v = svd.matrixV().col(svd.matrixV().cols() - 1);
  const double largest = v.cwiseAbs().maxCoeff();
  const double sign = v[0] != 0 ? (v[0] > 0 ? 1.0 : -1.0) : 1.0;
  std::string up, down;
  const auto& names = model.spec().state;
  for (Eigen::Index i = 0; i < v.size(); ++i) {
    if (std::fabs(v[i]) < 0.3 * largest) continue;
    std::string& side = v[i] * sign > 0 ? up : down;
    side += (side.empty() ? "" : " and ") + names[static_cast<std::size_t>(i)];
  }
  if (!up.empty() && !down.empty()) return up + " vs " + down;
  const std::string& only = up.empty() ? down : up;
  return only.find(" and ") == std::string::npos ? only : only + " together";
}

std::optional<Matrix> fit_covariance(const ObservationModel& model, const std::vector<FitPoint>& points,
                                     const Vector& x, double kappa, double kappa_max) {
  if (!std::isfinite(kappa) || (kappa_max > 0 && kappa > kappa_max)) return std::nullopt;
  Vector r;
  if (!relative_residuals(model, points, x, r)) return std::nullopt;
  const auto rows = r.size(), dim = x.size();
  Matrix J(rows, dim);
  Vector plus, minus;
  for (Eigen::Index i = 0; i < dim; ++i) {
    const double step = 1e-3 * x[i];
    Vector probe = x;
    probe[i] = x[i] + step;
    if (!relative_residuals(model, points, probe, plus)) return std::nullopt;
    probe[i] = x[i] - step;
    if (!relative_residuals(model, points, probe, minus)) return std::nullopt;
    J.col(i) = (plus - minus) / (2 * step);
  }
  const Matrix JtJ = J.transpose() * J;
  const Eigen::LDLT<Matrix> ldlt(JtJ);
  if (ldlt.info() != Eigen::Success || !(ldlt.vectorD().array() > 0).all()) return std::nullopt;
  const double s2 = r.squaredNorm() / static_cast<double>(std::max<Eigen::Index>(rows - dim, 1));
  Matrix P = s2 * ldlt.solve(Matrix::Identity(dim, dim));
  P = 0.5 * (P + P.transpose());
  if (!P.allFinite()) return std::nullopt;
  return P;
}

const char* fit_status_name(FitStatus s) {
  switch (s) {
    case FitStatus::not_run: return "not_run";
    case FitStatus::ok: return "ok";
    case FitStatus::ill_conditioned: return "ill_conditioned";
    case FitStatus::ill_conditioned_held: return "ill_conditioned_held";
    case FitStatus::failed_guess: return "failed_guess";
    case FitStatus::failed: return "failed";
  }
  return "failed";
}

double FitResult::reference_fit_value() const {
  switch (status) {
    case FitStatus::not_run:
    case FitStatus::ill_conditioned_held: return 0.0;
    case FitStatus::failed_guess:
    case FitStatus::failed: return std::numeric_limits<double>::max();
    case FitStatus::ill_conditioned:
    case FitStatus::ok: return objective;
  }
  return 0.0;
}

namespace {
void validate_options(const EstimatorOptions& o, int dim) {
  if (o.min_obs < 1) require(false, "min_obs", "an integer >= 1", o.min_obs);
  if (o.capacity < 0) require(false, "capacity", "an integer >= 0 (0 = unbounded)", o.capacity);
  if (!(std::isfinite(o.kappa_max) && o.kappa_max >= 0)) require(false, "kappa_max", "a finite number >= 0 (0 disables the guard)", o.kappa_max);
  if (o.seed.size() != 0 && o.seed.size() != dim)
    throw InvalidArgument("seed must have " + std::to_string(dim) + " entries (one per tuned parameter), got " + std::to_string(o.seed.size()));
}

std::vector<FitPoint> as_vector(const std::deque<FitPoint>& points) { return {points.begin(), points.end()}; }

// The single-observation guess of an estimator (defined for the three-parameter state only).
std::optional<Vector> guess_for(const ObservationModel& model, const Observation& obs, const EstimatorOptions& o) {
  if (model.state_dim() != 3) return std::nullopt;
  return guess_init_state(obs.ttft_ms, obs.itl_ms, obs.point.in_tokens, obs.point.out_tokens, o.seed, o.guess_form);
}

// Start of a fit: the guess from `obs`, else the seed (where the guess is undefined, e.g. for a
// two-parameter state), else the default start.
Vector fit_start(const std::optional<Vector>& guess, const EstimatorOptions& o, int dim) {
  if (guess) return *guess;
  if (o.seed.size() == dim && (o.seed.array() > 0).all()) return o.seed;
  return default_start(dim);
}
}  // namespace

InitEstimator::InitEstimator(const ObservationModel& model, EstimatorOptions options)
    : model_(&model), options_(std::move(options)) {
  validate_options(options_, model.state_dim());
  // The reference's budget of 500 evaluations is for three parameters; a simplex in more
  // dimensions needs more steps to contract (`vllm`: five), so the default budget grows with d².
  const int d = model.state_dim();
  if (d > 3 && options_.nelder_mead.max_evaluations == NelderMeadOptions().max_evaluations)
    options_.nelder_mead.max_evaluations = 200 * d * d;
}

bool InitEstimator::add(const FitPoint& point) {
  if (!model_->invalid_reason(point.obs).empty() || !(point.weight > 0)) return false;
  points_.push_back(point);
  if (options_.capacity > 0 && static_cast<int>(points_.size()) > options_.capacity) points_.pop_front();
  return true;
}

std::optional<Vector> InitEstimator::guess(const Observation& obs) const {
  return guess_for(*model_, obs, options_);
}

namespace {
// An ill-conditioned fit is never replaced by a guess: the data are fitted again with a weak
// prior (kPriorWeightPerPoint per point) pulling only the direction they cannot pin down
// towards `prior`, so the minimiser does not wander along it.
// The prior is the configured seed when it is usable, else `fallback` (the guess, or the start).
void fit_with_prior(const ObservationModel& model, const std::vector<FitPoint>& points, const Vector& start,
                    const EstimatorOptions& options, const Vector& fallback, FitResult& out) {
  const bool seeded = options.seed.size() == start.size() && (options.seed.array() > 0).all();
  const Vector& prior = seeded ? options.seed : fallback;
  const NelderMeadOptions& nm_options = options.nelder_mead;
  out.status = FitStatus::ill_conditioned;
  out.weak_direction = weak_direction(model, points, start);
  const double weight = kPriorWeightPerPoint * static_cast<double>(points.size());
  const auto regularised = [&](const Vector& x) {
    const double f = fit_objective(model, points, x);
    return f >= kFitPenalty ? f : f + weight * (x.array() / prior.array()).log().square().sum();
  };
  const NelderMeadResult map = nelder_mead(regularised, start, nm_options);
  out.evaluations += map.evaluations;
  out.x = map.stop == NelderMeadStop::failed ? start : map.x;
  out.objective = fit_objective(model, points, out.x);
  out.prior_weight = weight;
}
}  // namespace

FitResult InitEstimator::fit(const std::optional<Vector>& start) {
  FitResult out;
  if (points_.empty()) throw InvalidArgument("the init estimator holds no observations to fit");
  const std::vector<FitPoint> points = as_vector(points_);
  const std::optional<Vector> first_guess = guess(points.front().obs);
  const Vector x0 = start ? *start : fit_start(first_guess, options_, model_->state_dim());
  const NelderMeadResult nm = nelder_mead([&](const Vector& x) { return fit_objective(*model_, points, x); }, x0,
                                          options_.nelder_mead);
  out.evaluations = nm.evaluations;
  out.stop = nelder_mead_stop_name(nm.stop);
  const auto fallback = [&](FitStatus status) {
    if (first_guess) {
      out.status = status;
      out.x = *first_guess;
      out.source = "guess";
      out.objective = fit_objective(*model_, points, out.x);
    } else {
      out.status = FitStatus::failed;
      out.x = Vector();
      out.source = "";
    }
  };
  if (nm.stop == NelderMeadStop::failed) {
    fallback(FitStatus::failed_guess);
  } else {
    out.kappa = condition_number(*model_, points, nm.x);  // reported even when the guard is off
    if (options_.kappa_max > 0 && !(out.kappa <= options_.kappa_max)) {
      // Never the guess in place of a fit: the minimiser with a weak prior towards the seed (or
      // the guess), flagged, naming the direction (weak_direction) and the prior's weight.
      out.source = "init_fit";
      fit_with_prior(*model_, points, nm.x, options_, first_guess ? *first_guess : x0, out);
    } else {
      out.status = FitStatus::ok;
      out.x = nm.x;
      out.source = "init_fit";
      out.objective = nm.value;
      out.covariance = fit_covariance(*model_, points, nm.x, out.kappa, options_.kappa_max);
    }
  }
  last_ = out;
  return out;
}

SlidingWindowEstimator::SlidingWindowEstimator(const ObservationModel& model, EstimatorOptions options,
                                               double residual_threshold)
    : model_(&model), options_(std::move(options)), residual_threshold_(residual_threshold) {
  if (options_.capacity < 1) require(false, "window capacity", "an integer >= 1", options_.capacity);
  options_.min_obs = std::min(options_.min_obs, options_.capacity);
  validate_options(options_, model.state_dim());
  if (!std::isfinite(residual_threshold)) require(false, "residual_threshold", "a finite number (<= 0 disables the outlier pass)", residual_threshold);
}

bool SlidingWindowEstimator::add(const FitPoint& point) {
  if (!model_->invalid_reason(point.obs).empty() || !(point.weight > 0)) return false;
  window_.push_back(point);
  if (static_cast<int>(window_.size()) > options_.capacity) window_.pop_front();
  return true;
}

void SlidingWindowEstimator::seed(const std::deque<FitPoint>& points, const std::optional<Vector>& last_fit) {
  for (const FitPoint& p : points) add(p);
  if (last_fit) last_fit_ = *last_fit;
}

std::vector<std::size_t> outlier_pass(const ObservationModel& model, const std::vector<FitPoint>& points,
                                      const Vector& x, double threshold) {
  std::vector<std::size_t> kept(points.size());
  std::iota(kept.begin(), kept.end(), 0);
  if (threshold <= 0 || points.empty()) return kept;
  Vector r;
  if (!relative_residuals(model, points, x, r)) return kept;
  const int m = model.obs_dim();
  double worst = -1;
  std::size_t worst_index = 0;
  for (std::size_t k = 0; k < points.size(); ++k) {
    const double norm = r.segment(static_cast<Eigen::Index>(k) * m, m).norm() / std::sqrt(points[k].weight);
    if (norm > worst) {
      worst = norm;
      worst_index = k;
    }
  }
  if (worst > threshold) kept.erase(kept.begin() + static_cast<long>(worst_index));
  return kept;
}

FitResult SlidingWindowEstimator::fit() {
  if (window_.empty()) throw InvalidArgument("the sliding window holds no observations to fit");
  held_ = false;
  FitResult out;
  const std::vector<FitPoint> all = as_vector(window_);
  const std::optional<Vector> newest_guess = guess_for(*model_, all.back().obs, options_);
  const Vector x0 = last_fit_ ? *last_fit_ : fit_start(newest_guess, options_, model_->state_dim());
  const auto run = [&](const std::vector<FitPoint>& points, const Vector& start) {
    return nelder_mead([&](const Vector& x) { return fit_objective(*model_, points, x); }, start, options_.nelder_mead);
  };
  NelderMeadResult nm = run(all, x0);
  std::vector<FitPoint> used = all;
  out.evaluations = nm.evaluations;
  if (nm.stop != NelderMeadStop::failed) {
    const std::vector<std::size_t> kept = outlier_pass(*model_, all, nm.x, residual_threshold_);
    if (kept.size() < all.size()) {
      for (std::size_t k = 0, j = 0; k < all.size(); ++k) {
        if (j < kept.size() && kept[j] == k) ++j;
        else out.dropped.push_back(k);
      }
      used.clear();
      for (std::size_t k : kept) used.push_back(all[k]);
      if (!used.empty()) {
        nm = run(used, nm.x);  // refit from the first fit
        out.evaluations += nm.evaluations;
      }
    }
  }
  out.stop = nelder_mead_stop_name(nm.stop);
  const bool failed = nm.stop == NelderMeadStop::failed || used.empty();
  out.kappa = failed ? std::numeric_limits<double>::infinity() : condition_number(*model_, used, nm.x);
  if (failed || (options_.kappa_max > 0 && !(out.kappa <= options_.kappa_max))) {
    if (last_fit_) {
      held_ = !failed;
      out.status = failed ? FitStatus::failed_guess : FitStatus::ill_conditioned_held;
      out.x = *last_fit_;
      out.source = "held";
    } else if (!failed) {
      // No previous fit to hold: the minimiser with a weak prior (the seed, or the newest
      // observation's guess), flagged as the init fit's is; never the guess itself.
      out.source = "swnm";
      fit_with_prior(*model_, used, nm.x, options_, newest_guess ? *newest_guess : x0, out);
      return out;
    } else if (newest_guess) {
      last_fit_ = *newest_guess;
      out.status = FitStatus::failed_guess;
      out.x = *newest_guess;
      out.source = "guess";
    } else {
      out.status = FitStatus::failed;
      return out;
    }
    out.objective = fit_objective(*model_, used, out.x);
    return out;
  }
  last_fit_ = nm.x;
  out.status = FitStatus::ok;
  out.x = nm.x;
  out.source = "swnm";
  out.objective = nm.value;
  out.covariance = fit_covariance(*model_, used, nm.x, out.kappa, options_.kappa_max);
  return out;
}

}  // namespace inferno::tuner
