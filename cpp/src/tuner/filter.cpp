#include "inferno/tuner/filter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "inferno/enum_names.hpp"
#include "inferno/error.hpp"
#include "inferno/tuner/options.hpp"
#include "inferno/queue/service_model.hpp"

namespace inferno::tuner {

const char* const kQueueModelVersion = "inferno-iteration-1";

namespace {

constexpr EnumName<Outcome> kOutcomes[] = {
    {Outcome::accepted, "accepted"}, {Outcome::accepted_downweighted, "accepted_downweighted"},
    {Outcome::rejected_gate, "rejected_gate"}, {Outcome::rejected_positivity, "rejected_positivity"},
    {Outcome::rejected_numerical, "rejected_numerical"}, {Outcome::skipped_model_error, "skipped_model_error"},
    {Outcome::skipped_invalid, "skipped_invalid"}, {Outcome::skipped_saturated, "skipped_saturated"},
    {Outcome::collected, "collected"}};
}  // namespace

const char* outcome_name(Outcome o) { return enum_name(kOutcomes, o); }

bool is_accepted(Outcome o) { return o == Outcome::accepted || o == Outcome::accepted_downweighted; }

const char* parameterization_name(Parameterization p) { return enum_name(kParameterizations, p); }
const char* noise_mode_name(NoiseMode m) { return enum_name(kNoiseModes, m); }
const char* process_noise_name(ProcessNoise p) { return enum_name(kProcessNoises, p); }
const char* saturation_policy_name(SaturationPolicy p) { return enum_name(kSaturationPolicies, p); }

Parameterization parse_parameterization(const std::string& s) { return parse_enum(kParameterizations, s, "parameterization"); }
NoiseMode parse_noise_mode(const std::string& s) { return parse_enum(kNoiseModes, s, "observation-noise mode"); }
ProcessNoise parse_process_noise(const std::string& s) { return parse_enum(kProcessNoises, s, "process_noise"); }
SaturationPolicy parse_saturation_policy(const std::string& s) { return parse_enum(kSaturationPolicies, s, "saturation policy"); }

namespace {
Vector vec(std::initializer_list<double> values) {
  Vector v(static_cast<Eigen::Index>(values.size()));
  Eigen::Index i = 0;
  for (double x : values) v[i++] = x;
  return v;
}
}  // namespace

FilterConfig FilterConfig::profile(const std::string& name, const ModelSpec& model) {
  if (name != "inferno" && name != "reference")
    throw InvalidArgument("unknown tuner profile '" + name + "'; allowed: 'inferno', 'reference'");
  FilterConfig c;
  c.model = model;
  // The named configurations tune α, β (and γ) first; a service model with more parameters
  // (`vllm`: δ) appends them, each started at its typical value (below).
  const auto starts_with = [&](const std::vector<std::string>& prefix) {
    return model.state.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), model.state.begin());
  };
  const bool full = starts_with({"alpha", "beta", "gamma"});
  const bool decode = !full && starts_with({"alpha", "beta"});
  if (decode) {  // the "decode" configuration of the reference's real-data replay
    c.init_state = vec({1.0, 0.01});
    c.percent_change = vec({0.1, 0.1});
    c.min_state = vec({0.1, 0.001});
    c.max_state = vec({50, 2.0});
    c.error_level = 0.05;
    c.expected_observations = model.channels.size() == 2 ? vec({200, 2}) : Vector();
  } else if (full) {  // the shipped default-config-data.json
    c.init_state = vec({5.0, 0.05, 5e-5});
    c.percent_change = vec({0.15, 0.15, 0.15});
    c.min_state = vec({0.05, 5e-4, 5e-7});
    c.max_state = vec({500, 5, 0.005});
    c.error_level = 0.5;
    if (model.channels.size() == 2) c.expected_observations = vec({200, 40});
  }
  const std::size_t known = full ? 3 : decode ? 2 : 0;
  if (known > 0 && model.state.size() > known) {
    // Extra parameters: start at the model's typical value, bounded four decades either side.
    const queue::ServiceModelInfo& info = queue::find_service_model(model.service_model);
    const auto grow = [](Vector& v, double value) {
      v.conservativeResize(v.size() + 1);
      v[v.size() - 1] = value;
    };
    for (std::size_t i = known; i < model.state.size(); ++i) {
      double typical = 1.0;
      for (const auto& p : info.params)
        if (p.name == model.state[i]) typical = p.typical;
      grow(c.init_state, typical);
      grow(c.percent_change, c.percent_change[0]);
      grow(c.min_state, typical * 1e-4);
      grow(c.max_state, typical * 1e4);
    }
  }
  if (name == "reference") {
    c.parameterization = Parameterization::linear;
    c.noise = NoiseMode::expected;
    c.nis_threshold = 7.378;
    c.process_noise = ProcessNoise::per_observation;
    c.saturation = SaturationPolicy::use;
  } else {
    // Parameters of a (model, accelerator) pair drift slowly: a small random walk per cycle, a
    // wide prior, and σ_rel from errorLevel 0.2 (the setting validated in the reference's
    // experiments).
    c.error_level = 0.2;
    if (c.init_state.size() > 0) {
      c.percent_change = Vector::Constant(c.init_state.size(), 0.02);
      c.initial_change = Vector::Constant(c.init_state.size(), 0.5);
    }
  }
  return c;
}

double FilterConfig::threshold() const {
  return nis_threshold > 0 ? nis_threshold : chi_square_quantile(gate_probability, static_cast<int>(model.channels.size()));
}

void FilterConfig::validate() const {
  model.validate();
  const auto d = static_cast<Eigen::Index>(model.state.size());
  const auto m = static_cast<Eigen::Index>(model.channels.size());
  const auto sized = [&](const Vector& v, const char* name, Eigen::Index n, bool optional) {
    if ((optional && v.size() == 0) || v.size() == n) return;
    throw InvalidArgument(std::string(name) + " must have " + std::to_string(n) + " entries, got " + std::to_string(v.size()));
  };
  sized(min_state, "min_state", d, true);
  sized(max_state, "max_state", d, true);
  sized(init_state, "init_state", d, false);
  sized(percent_change, "percent_change", d, false);
  sized(initial_change, "initial_change", d, true);
  // Checked whenever given, required only by the mode that uses it.
  sized(expected_observations, "expected_observations", m, noise != NoiseMode::expected);
  // Every value's range comes from the option table (tuner/options.cpp): inside them the filter's
  // arithmetic (variances, products of parameters and token counts) stays finite; docs/tuner.md,
  // "Option ranges". The rules across options follow.
  TunerConfig options;
  options.filter = *this;
  check_option_ranges(options, true);
  for (Eigen::Index i = 0; i < d; ++i) {
    if (min_state.size() && max_state.size() && !(min_state[i] <= max_state[i]))
      throw InvalidArgument("min_state[" + std::to_string(i) + "] must be <= max_state[" + std::to_string(i) + "], got " +
                            format_number(min_state[i]) + " > " + format_number(max_state[i]));
    if ((min_state.size() && init_state[i] < min_state[i]) || (max_state.size() && init_state[i] > max_state[i]))
      throw InvalidArgument("init_state[" + std::to_string(i) + "] = " + format_number(init_state[i]) +
                            " must lie within [min_state, max_state]");
  }
  // The three combine into one relative noise level; bound the combination too, so that a huge
  // error_level with a tiny t_percentile cannot make every variance overflow.
  require(sigma_rel() >= kMinRelativeNoise && sigma_rel() <= kMaxRelativeNoise,
          "sigma_rel = error_level / (t_percentile * sqrt(gamma_factor))",
          "in [1e-6, 100]", sigma_rel());
}

ParameterFilter::ParameterFilter(FilterConfig config)
    : config_((config.validate(), std::move(config))), model_(config_.model) {
  const auto m = static_cast<Eigen::Index>(config_.model.channels.size());
  r_hat_ = Vector::Constant(m, config_.sigma_rel() * config_.sigma_rel());
  jacobian_floor_ = config_.jacobian_floor_factor * config_.init_state.cwiseAbs();
  set_bounds(config_.min_state, config_.max_state);
  reset(config_.init_state);
}

ParameterFilter::ParameterFilter(FilterConfig config, const Vector& x, const std::optional<Matrix>& covariance)
    : ParameterFilter(std::move(config)) {
  reset(x, covariance);
}

Vector ParameterFilter::to_state(const Vector& x) const {
  return config_.parameterization == Parameterization::log ? Vector(x.array().log()) : x;
}
Vector ParameterFilter::to_linear(const Vector& s) const {
  return config_.parameterization == Parameterization::log ? Vector(s.array().exp()) : s;
}
Vector ParameterFilter::x() const { return to_linear(state_); }

void ParameterFilter::set_bounds(const Vector& lower, const Vector& upper) {
  const int d = state_dim();
  const auto check = [&](const Vector& v, const char* name) {
    if (v.size() != 0 && v.size() != d)
      throw InvalidArgument(std::string(name) + " bounds must have " + std::to_string(d) + " entries, got " + std::to_string(v.size()));
    if (v.size() != 0 && !(v.array() > 0).all() && config_.parameterization == Parameterization::log)
      throw InvalidArgument(std::string(name) + " bounds must be > 0 with log parameters");
  };
  check(lower, "lower");
  check(upper, "upper");
  limiter_ = Limiter(lower.size() ? to_state(lower) : Vector(), upper.size() ? to_state(upper) : Vector(), d);
  lower_ = lower;
  upper_ = upper;
  if (state_.size() == d) limiter_.clamp(state_);
}

Matrix ParameterFilter::initial_covariance(const Vector& x) const {
  const Vector& change = config_.initial_change.size() ? config_.initial_change : config_.percent_change;
  if (config_.parameterization == Parameterization::log) return Matrix(change.array().square().matrix().asDiagonal());
  return Matrix((change.array() * x.array()).square().matrix().asDiagonal());
}

void ParameterFilter::reset(const Vector& x, const std::optional<Matrix>& covariance) {
  const int d = state_dim();
  if (x.size() != d) throw InvalidArgument("the state must have " + std::to_string(d) + " entries, got " + std::to_string(x.size()));
  for (Eigen::Index i = 0; i < d; ++i)
    if (!(std::isfinite(x[i]) && x[i] > 0)) require(false, config_.model.state[static_cast<std::size_t>(i)], "a finite number > 0", x[i]);
  state_ = to_state(x);
  limiter_.clamp(state_);
  const Vector xs = to_linear(state_);
  if (config_.parameterization == Parameterization::log) {
    Q_ = Matrix(config_.percent_change.array().square().matrix().asDiagonal());
  } else {  // the reference's relative random walk, re-scaled to the new state
    Q_ = Matrix((config_.percent_change.array() * xs.array()).square().matrix().asDiagonal());
  }
  if (covariance) {
    if (covariance->rows() != d || covariance->cols() != d || !covariance->allFinite())
      throw InvalidArgument("the covariance must be a finite " + std::to_string(d) + "x" + std::to_string(d) + " matrix");
    if (config_.parameterization == Parameterization::log) {
      const Vector inv = xs.cwiseInverse();
      P_ = inv.asDiagonal() * (*covariance) * inv.asDiagonal();
    } else {
      P_ = *covariance;
    }
    P_ = 0.5 * (P_ + P_.transpose());
    if (Eigen::LLT<Matrix>(P_).info() != Eigen::Success) throw InvalidArgument("the covariance must be positive definite");
  } else {
    P_ = initial_covariance(xs);
  }
}

void ParameterFilter::predict(double scale) {
  if (!(std::isfinite(scale) && scale >= 0)) require(false, "process-noise scale", "a finite number >= 0", scale);
  P_ += scale * Q_;
}

ModelError ParameterFilter::h(const Vector& s, const OperatingPoint& u, Vector& out, std::string* detail) const {
  return model_.evaluate(to_linear(s), u, out, detail);
}

bool ParameterFilter::jacobian(const Vector& s, const OperatingPoint& u, const Vector& center, Matrix& H,
                               bool& one_sided, std::string& detail) const {
  const int d = state_dim();
  H.resize(center.size(), d);
  Vector probe = s, plus, minus;
  const bool log = config_.parameterization == Parameterization::log;
  for (int j = 0; j < d; ++j) {
    const double eps = log ? config_.jacobian_rel_step
                           : config_.jacobian_rel_step * std::max(std::fabs(s[j]), jacobian_floor_[j]);
    // Linear parameters: a backward point outside the admissible domain is not evaluated.
    const bool backward_ok = log || (s[j] - eps > 0 && (lower_.size() == 0 || s[j] - eps >= lower_[j]));
    probe[j] = s[j] + eps;
    const bool have_plus = h(probe, u, plus, &detail) == ModelError::none;
    probe[j] = s[j] - eps;
    const bool have_minus = backward_ok && h(probe, u, minus, &detail) == ModelError::none;
    probe[j] = s[j];
    if (have_plus && have_minus) {
      H.col(j) = (plus - minus) / (2 * eps);
    } else if (have_plus) {
      H.col(j) = (plus - center) / eps;
      one_sided = true;
    } else if (have_minus) {
      H.col(j) = (center - minus) / eps;
      one_sided = true;
    } else {
      return false;
    }
  }
  return true;
}

Matrix ParameterFilter::measurement_noise(const Vector& z, double weight) const {
  const auto m = z.size();
  Vector var(m);
  const double sr = config_.sigma_rel();
  for (Eigen::Index j = 0; j < m; ++j) {
    double sigma = 0;
    switch (config_.noise) {
      case NoiseMode::expected: sigma = sr * config_.expected_observations[j]; break;
      case NoiseMode::relative: sigma = std::max(sr * z[j], config_.sigma_abs_ms); break;
      case NoiseMode::adaptive: sigma = std::max(std::sqrt(r_hat_[j]) * z[j], config_.sigma_abs_ms); break;
    }
    var[j] = sigma * sigma * weight;
  }
  return Matrix(var.asDiagonal());
}

std::string producer_saturation(const FilterConfig& config, const Observation& obs) {
  const OperatingPoint& u = obs.point;
  if (obs.saturated) return "flagged saturated by the producer";
  if (std::isfinite(obs.throughput_rpm) && obs.throughput_rpm < config.throughput_ratio * u.rate_rpm)
    return "throughput " + format_number(obs.throughput_rpm) + " RPM < " + format_number(config.throughput_ratio) +
           " x arrival rate " + format_number(u.rate_rpm) + " RPM";
  if (std::isfinite(obs.avg_concurrency) && obs.avg_concurrency >= config.concurrency_ratio * u.max_batch)
    return "average concurrency " + format_number(obs.avg_concurrency) + " >= " + format_number(config.concurrency_ratio) +
           " x max batch " + std::to_string(u.max_batch);
  return "";
}

std::string ParameterFilter::saturation_signal(const Observation& obs, bool model_based) const {
  const OperatingPoint& u = obs.point;
  if (std::string producer = producer_saturation(config_, obs); !producer.empty()) return producer;
  // The model's own capacity only when nothing was measured: an estimate that is wrong would
  // otherwise call every window saturated and exclude the data that would correct it.
  const bool measured = std::isfinite(obs.throughput_rpm) || std::isfinite(obs.avg_concurrency);
  if (model_based && !measured) {
    double max_rate = 0;
    if (model_.max_rate_rps(x(), u, max_rate) == ModelError::none && u.rate_rpm / 60.0 >= config_.rate_ratio * max_rate)
      return "arrival rate " + format_number(u.rate_rpm / 60.0) + " req/s >= " + format_number(config_.rate_ratio) +
             " x the model's max rate " + format_number(max_rate) + " req/s";
  }
  return "";
}

StepResult ParameterFilter::step(const Observation& obs, const StepOptions& options) {
  StepResult r;
  r.observed = model_.observed(obs);
  r.at_bounds = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(state_dim(), false);
  const auto finish = [&](Outcome outcome) {
    r.outcome = outcome;
    ++counts_[static_cast<std::size_t>(outcome)];
    return r;
  };
  if (std::string why = model_.invalid_reason(obs); !why.empty()) {
    r.reason = std::move(why);
    return finish(Outcome::skipped_invalid);
  }
  double weight = 1.0;
  r.saturation_reason = saturation_signal(obs, options.model_saturation);
  r.saturated = !r.saturation_reason.empty();
  if (r.saturated) {
    if (config_.saturation == SaturationPolicy::exclude) {
      r.reason = "saturated: " + r.saturation_reason;
      return finish(Outcome::skipped_saturated);
    }
    if (config_.saturation == SaturationPolicy::downweight) weight = config_.saturation_weight;
  }

  const Vector stash_state = state_;
  const Matrix stash_P = P_;
  const auto restore = [&](Outcome outcome, std::string reason) {
    state_ = stash_state;
    P_ = stash_P;
    r.reason = std::move(reason);
    return finish(outcome);
  };
  if (config_.process_noise == ProcessNoise::per_observation) predict();

  std::string detail;
  if (const ModelError e = h(state_, obs.point, r.predicted, &detail); e != ModelError::none) {
    r.predicted = Vector();
    return restore(Outcome::skipped_model_error, std::string(model_error_name(e)) + ": " + detail);
  }
  Matrix H;
  if (!jacobian(state_, obs.point, r.predicted, H, r.one_sided_jacobian, detail))
    return restore(Outcome::skipped_model_error, "no usable Jacobian stencil: " + detail);
  const Matrix R = measurement_noise(r.observed, weight);
  UpdateInfo info;
  Vector s_new;
  Matrix P_new;
  const UpdateFailure failure = joseph_update(state_, P_, r.observed - r.predicted, H, R, s_new, P_new, info);
  r.innovation = info.innovation;
  r.innovation_cov = info.innovation_cov;
  if (failure == UpdateFailure::singular_innovation)
    return restore(Outcome::rejected_numerical, "the innovation covariance is not positive definite");
  r.nis = info.nis;
  if (failure == UpdateFailure::covariance_not_positive_definite)
    return restore(Outcome::rejected_numerical, "the updated covariance is not positive definite");
  r.at_bounds = limiter_.clamp(s_new);
  if (!options.plain && config_.parameterization == Parameterization::linear && (s_new.array() <= 0).any())
    return restore(Outcome::rejected_positivity, "the update made a parameter <= 0");
  r.gate_skipped = options.plain || options.skip_gate;
  if (!r.gate_skipped && !(info.nis < config_.threshold()))
    return restore(Outcome::rejected_gate, "NIS " + format_number(info.nis) + " >= gate threshold " +
                                               format_number(config_.threshold()));
  state_ = s_new;
  P_ = P_new;
  if (r.one_sided_jacobian) r.reason = "one_sided_jacobian";

  if (config_.noise == NoiseMode::adaptive && options.learn_noise && !r.saturated) {
    Vector fitted;
    if (h(state_, obs.point, fitted, nullptr) == ModelError::none) {
      const Matrix projected = H * P_ * H.transpose();
      const double w = 1.0 / config_.adaptive_window;
      const double lo = config_.sigma_min * config_.sigma_min, hi = config_.sigma_max * config_.sigma_max;
      for (Eigen::Index j = 0; j < r_hat_.size(); ++j) {
        const double scale = std::max(r.observed[j], config_.sigma_abs_ms);
        const double e = (r.observed[j] - fitted[j]) / scale;
        const double p = projected(j, j) / (scale * scale);
        r_hat_[j] = std::clamp((1 - w) * r_hat_[j] + w * (e * e + p), lo, hi);
      }
    }
  }
  return finish(weight > 1.0 ? Outcome::accepted_downweighted : Outcome::accepted);
}

Estimate make_estimate(const Vector& x, const Matrix& covariance, bool log_band) {
  Estimate e;
  e.x = x;
  const Eigen::Index d = x.size();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  e.covariance = covariance.size() ? covariance : Matrix::Constant(d, d, nan);
  e.stddev = covariance.size() ? Vector(e.covariance.diagonal().cwiseMax(0.0).cwiseSqrt()) : Vector::Constant(d, nan);
  e.rel_stddev = e.stddev.cwiseQuotient(e.x);
  e.correlation.resize(d, d);
  for (Eigen::Index i = 0; i < d; ++i)
    for (Eigen::Index j = 0; j < d; ++j)
      e.correlation(i, j) = i == j ? 1.0
                            : e.stddev[i] > 0 && e.stddev[j] > 0 ? e.covariance(i, j) / (e.stddev[i] * e.stddev[j])
                                                                 : nan;
  if (log_band) {
    const Vector spread = 1.96 * e.rel_stddev;  // σ of ln x to first order
    e.lower95 = (x.array().log() - spread.array()).exp();
    e.upper95 = (x.array().log() + spread.array()).exp();
  } else {
    e.lower95 = x - 1.96 * e.stddev;
    e.upper95 = x + 1.96 * e.stddev;
  }
  return e;
}

Estimate ParameterFilter::estimate() const {
  const Vector xs = x();
  const bool log = config_.parameterization == Parameterization::log;
  Estimate e = make_estimate(xs, log ? Matrix(xs.asDiagonal() * P_ * xs.asDiagonal()) : P_, log);
  if (config_.noise == NoiseMode::adaptive) e.sigma_rel = r_hat_.cwiseSqrt();
  else e.sigma_rel = Vector::Constant(r_hat_.size(), config_.sigma_rel());
  return e;
}

}  // namespace inferno::tuner
