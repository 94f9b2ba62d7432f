#include "inferno/tuner/tuner.hpp"

#include <cmath>
#include <limits>

#include "inferno/enum_names.hpp"
#include "inferno/error.hpp"
#include "inferno/tuner/options.hpp"

namespace inferno::tuner {


EstimatorMode parse_estimator_mode(const std::string& s) { return parse_enum(kEstimatorModes, s, "estimator mode"); }
const char* estimator_mode_name(EstimatorMode m) { return enum_name(kEstimatorModes, m); }

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::collection: return "collection";
    case Phase::warm_up: return "warm_up";
    case Phase::normal: return "normal";
  }
  return "collection";
}

TunerConfig TunerConfig::profile(const std::string& name, const ModelSpec& model) {
  TunerConfig c;
  c.filter = FilterConfig::profile(name, model);
  if (name == "reference") {
    c.init_list_cap = 0;
    c.all_replicas = false;
    c.lockout_rejections = 0;
    c.anchored_bounds = false;
  }
  return c;
}

void TunerConfig::validate() const {
  filter.validate();
  if (start && start->size() != static_cast<Eigen::Index>(filter.model.state.size()))
    throw InvalidArgument("start must have " + std::to_string(filter.model.state.size()) + " entries (" +
                          std::to_string(start->size()) + " given)");
  // The ranges of the option table (tuner/options.cpp); the counts are bounded so that the lists
  // they size (cold-start observations, the sliding window) cannot grow without limit.
  check_option_ranges(*this, false);
}

namespace {
EstimatorOptions estimator_options(const TunerConfig& c, int min_obs, int capacity) {
  EstimatorOptions o;
  o.min_obs = min_obs;
  o.capacity = capacity;
  o.hold_back = c.hold_back;
  o.kappa_max = c.kappa_max;
  if (c.seeded_guess) o.seed = c.filter.init_state;
  o.guess_form = c.guess_form;
  return o;
}
}  // namespace

VariantTuner::VariantTuner(TunerConfig config)
    : config_((config.validate(), std::move(config))),
      model_(config_.filter.model),
      init_(model_, estimator_options(config_, config_.init_obs, config_.init_list_cap)) {
  if (config_.start) start_filter(*config_.start, std::nullopt, "seed");
}

void VariantTuner::anchor_bounds(ParameterFilter& filter, const Vector& anchor) const {
  const FilterConfig& f = config_.filter;
  Vector lo = (anchor / 10.0).cwiseMax(1e-9), hi = 10.0 * anchor;
  if (config_.anchored_bounds) {  // intersected with the configured bounds
    for (Eigen::Index i = 0; i < anchor.size(); ++i) {
      const double cl = f.min_state.size() ? std::max(lo[i], f.min_state[i]) : lo[i];
      const double ch = f.max_state.size() ? std::min(hi[i], f.max_state[i]) : hi[i];
      if (cl <= ch) {
        lo[i] = cl;
        hi[i] = ch;
      } else {  // the anchor lies outside the configured range: keep the configured bounds
        lo[i] = f.min_state.size() ? f.min_state[i] : lo[i];
        hi[i] = f.max_state.size() ? f.max_state[i] : hi[i];
      }
    }
  }
  filter.set_bounds(lo, hi);
}

void VariantTuner::start_filter(const Vector& x, const std::optional<Matrix>& covariance, const std::string& source) {
  filter_ = std::make_unique<ParameterFilter>(config_.filter);
  if (source == "seed") {
    filter_->reset(x, covariance);  // the configured bounds stay
  } else {
    anchor_bounds(*filter_, x);
    filter_->reset(x, covariance);
  }
  source_ = source;
}

void VariantTuner::store(const std::string& source) {
  has_estimate_ = true;
  ++update_count_;
  source_ = source;
  if (source == "ekf") {
    stored_x_ = filter_->x();
    const Estimate e = filter_->estimate();
    stored_cov_ = e.covariance;
  }
  track_kappa();
}

void VariantTuner::track_kappa() {
  if (recent_.empty()) return;
  const std::vector<FitPoint> points(recent_.begin(), recent_.end());
  kappa_ = condition_number(model_, points, stored_x_);
  // docs/tuner.md §3.5: ready, fitted, ill-conditioned now, and not calibrated (a failed lock-out
  // recovery raises it too, until a calibration).
  kappa_ill_ = config_.kappa_max > 0 && !(kappa_ <= config_.kappa_max);
}

CycleResult VariantTuner::cycle(const std::vector<Observation>& observations) {
  CycleResult out;
  out.cycle = ++cycle_;
  out.steps.resize(observations.size());
  observation_count_ += static_cast<long>(observations.size());
  std::vector<std::size_t> usable;
  int fed = 0;
  for (std::size_t i = 0; i < observations.size(); ++i) {
    StepResult& s = out.steps[i];
    s.observed = model_.observed(observations[i]);
    s.at_bounds = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(model_.state_dim(), false);
    if (std::string why = model_.invalid_reason(observations[i]); !why.empty()) {
      s.outcome = Outcome::skipped_invalid;
      s.reason = std::move(why);
      ++counts_[static_cast<std::size_t>(s.outcome)];
      continue;
    }
    s.saturation_reason = producer_saturation(config_.filter, observations[i]);
    s.saturated = !s.saturation_reason.empty();
    if (s.saturated && config_.filter.saturation == SaturationPolicy::exclude) {
      s.outcome = Outcome::skipped_saturated;
      s.reason = "saturated: " + s.saturation_reason;
      ++counts_[static_cast<std::size_t>(s.outcome)];
      continue;
    }
    usable.push_back(i);
    s.outcome = Outcome::collected;  // until a filter step runs on it
    if (fed < config_.max_per_cycle && (config_.all_replicas || fed == 0)) {
      const double weight = s.saturated && config_.filter.saturation == SaturationPolicy::downweight
                                ? 1.0 / config_.filter.saturation_weight : 1.0;
      const FitPoint point{observations[i], weight};
      init_.add(point);
      recent_.push_back(point);
      if (static_cast<int>(recent_.size()) > config_.window_size) recent_.pop_front();
      ++fed;
    }
  }
  if (config_.mode == EstimatorMode::sliding_window && !ekf_fallback_) run_window(usable, observations, out);
  else run_ekf(usable, observations, out);
  for (std::size_t i : usable)
    if (out.steps[i].outcome == Outcome::collected) ++counts_[static_cast<std::size_t>(Outcome::collected)];
  out.phase = phase();
  out.warming_up = warming_up();
  return out;
}

Vector VariantTuner::prior_after_failed_fit(const FitResult& fit) const {
  if (fit.x.size()) return fit.x;  // the guess
  return config_.filter.init_state;
}

void VariantTuner::run_ekf(const std::vector<std::size_t>& usable, const std::vector<Observation>& obs, CycleResult& out) {
  if (usable.empty()) return;
  if (!filter_) {
    if (!init_.ready()) return;
    FitResult fit = init_.fit();
    if (fit.status == FitStatus::ok) start_filter(fit.x, fit.covariance, "init_fit");
    // Ill-conditioned: the minimiser, with the configured prior covariance (the fit's own would
    // be unbounded along the weak direction); needs_calibration stays raised below.
    else if (fit.status == FitStatus::ill_conditioned) start_filter(fit.x, std::nullopt, "init_fit");
    else if (fit.x.size()) start_filter(fit.x, std::nullopt, "guess");
    else start_filter(config_.filter.init_state, std::nullopt, "seed");
    kappa_ = fit.kappa;
    kappa_ill_ = config_.kappa_max > 0 && !(fit.kappa <= config_.kappa_max);
    out.fit = std::move(fit);
  } else if (!config_.anchored_bounds && has_estimate_) {
    // Reference: the filter is rebuilt every cycle around the stored estimate (bounds and Q).
    const Vector x = filter_->x();
    anchor_bounds(*filter_, x);
    filter_->reset(x, filter_->estimate().covariance);
  }
  if (config_.filter.process_noise == ProcessNoise::per_cycle) filter_->predict();
  const bool warming = update_count_ < config_.warm_up_cycles;
  StepOptions options;
  options.skip_gate = warming;
  options.model_saturation = !warming && config_.filter.saturation != SaturationPolicy::use;
  options.learn_noise = !warming;
  bool accepted = false;
  for (std::size_t i : usable) {
    StepResult step = filter_->step(obs[i], options);
    ++counts_[static_cast<std::size_t>(step.outcome)];
    if (is_accepted(step.outcome)) {
      accepted = true;
      consecutive_rejections_ = 0;
      last_step_ = step;
    } else if (step.outcome == Outcome::rejected_gate && !warming) {
      ++consecutive_rejections_;
    }
    out.steps[i] = std::move(step);
    if (config_.lockout_rejections > 0 && consecutive_rejections_ >= config_.lockout_rejections) {
      // Lock-out: the data disagree with the state. Re-fit the recent observations.
      consecutive_rejections_ = 0;
      out.lockout_recovery = true;
      const std::vector<FitPoint> points(recent_.begin(), recent_.end());
      const NelderMeadResult nm = nelder_mead([&](const Vector& x) { return fit_objective(model_, points, x); },
                                              filter_->x());
      FitResult fit;
      fit.source = "lockout_fit";
      fit.evaluations = nm.evaluations;
      fit.stop = nelder_mead_stop_name(nm.stop);
      fit.kappa = nm.stop == NelderMeadStop::failed ? std::numeric_limits<double>::infinity()
                                                     : condition_number(model_, points, nm.x);
      if (nm.stop != NelderMeadStop::failed && (config_.kappa_max <= 0 || fit.kappa <= config_.kappa_max)) {
        fit.status = FitStatus::ok;
        fit.x = nm.x;
        fit.objective = nm.value;
        start_filter(nm.x, std::nullopt, "lockout_fit");
        stored_x_ = nm.x;
        stored_cov_ = filter_->estimate().covariance;
        has_estimate_ = true;
        update_count_ = 0;  // warm-up again: the gate is skipped while the filter re-converges
        source_ = "lockout_fit";
        kappa_ = fit.kappa;
      } else {
        fit.status = FitStatus::failed;
        filter_->reset(filter_->x());  // P back to P0: let the data move the state
        lockout_failed_ = true;
      }
      out.fit = std::move(fit);
      return;
    }
  }
  if (accepted) {
    store("ekf");
    out.stored = true;
  }
}

void VariantTuner::run_window(const std::vector<std::size_t>& usable, const std::vector<Observation>& obs, CycleResult& out) {
  if (usable.empty()) return;
  if (!window_) {
    if (!init_.ready()) return;
    window_ = std::make_unique<SlidingWindowEstimator>(model_, estimator_options(config_, config_.init_obs, config_.window_size),
                                                       config_.residual_threshold);
    FitResult fit = init_.fit();
    const bool too_poor = config_.init_fit_threshold > 0 &&
                          (fit.status == FitStatus::failed || fit.reference_fit_value() > config_.init_fit_threshold);
    if (too_poor) {  // the window is dropped for good: the EKF takes over from the next cycle
      ekf_fallback_ = true;
      window_.reset();
      out.fit = std::move(fit);
      return;
    }
    window_->seed(init_.points(), fit.x.size() ? std::optional<Vector>(fit.x) : std::nullopt);
    out.fit = std::move(fit);
  } else {
    int fed = 0;
    for (std::size_t i : usable) {
      if (fed >= config_.max_per_cycle || (!config_.all_replicas && fed > 0)) break;
      const double weight = out.steps[i].saturated && config_.filter.saturation == SaturationPolicy::downweight
                                ? 1.0 / config_.filter.saturation_weight : 1.0;
      window_->add(FitPoint{obs[i], weight});
      ++fed;
    }
  }
  if (!window_->ready()) return;
  FitResult fit = window_->fit();
  if (fit.status == FitStatus::failed) {
    out.fit = std::move(fit);
    return;
  }
  Vector x = fit.x;
  std::string source = fit.source == "held" ? "swnm" : fit.source;
  if (window_->held_last_fit()) {
    // EKF excursion: the gain is about zero along the unidentifiable direction, so one filter
    // step from the held fit moves only what the current observation determines.
    out.excursion = true;
    ParameterFilter excursion(config_.filter);
    anchor_bounds(excursion, x);
    excursion.reset(x);
    StepOptions options;
    options.skip_gate = true;
    const std::size_t i = usable.back();
    StepResult step = excursion.step(obs[i], options);
    ++counts_[static_cast<std::size_t>(step.outcome)];
    if (is_accepted(step.outcome)) {
      x = excursion.x();
      source = "excursion";
      last_step_ = step;
    }
    out.steps[i] = std::move(step);
  }
  stored_x_ = x;
  stored_cov_ = source == "swnm" ? fit.covariance : std::nullopt;
  kappa_ = fit.kappa;
  out.fit = std::move(fit);
  store(source);
  out.stored = true;
}

FitResult VariantTuner::calibrate(const std::vector<Observation>& sweep) {
  int valid = 0;
  for (const Observation& o : sweep) valid += model_.invalid_reason(o).empty();
  EstimatorOptions options = estimator_options(config_, std::max(valid, 1), config_.init_list_cap);
  options.hold_back = false;
  InitEstimator estimator(model_, options);
  for (const Observation& o : sweep) estimator.add({o, 1.0});
  if (estimator.count() < 2)
    throw InvalidArgument("calibration needs at least 2 valid operating points, got " + std::to_string(estimator.count()));
  FitResult fit = estimator.fit();
  const bool identifiable = config_.kappa_max <= 0 || fit.kappa <= config_.kappa_max;
  const bool good = fit.status == FitStatus::ok && identifiable &&
                    (config_.init_fit_threshold <= 0 || fit.reference_fit_value() <= config_.init_fit_threshold);
  if (!good) {
    if (fit.status == FitStatus::ok) fit.status = FitStatus::failed;  // over the threshold
    return fit;
  }
  fit.source = "calibration";
  init_ = estimator;
  ekf_fallback_ = false;
  calibrated_ = true;
  lockout_failed_ = false;
  kappa_ill_ = false;
  kappa_ = fit.kappa;
  recent_.assign(estimator.points().begin(), estimator.points().end());
  while (static_cast<int>(recent_.size()) > config_.window_size) recent_.pop_front();
  if (config_.mode == EstimatorMode::sliding_window) {
    window_ = std::make_unique<SlidingWindowEstimator>(model_, estimator_options(config_, config_.init_obs, config_.window_size),
                                                       config_.residual_threshold);
    window_->seed(estimator.points(), fit.x);
  }
  start_filter(fit.x, fit.covariance, "calibration");
  stored_x_ = fit.x;
  stored_cov_ = fit.covariance;
  has_estimate_ = true;
  update_count_ = config_.warm_up_cycles;  // graduated: the gate is active from the next cycle
  source_ = "calibration";
  last_step_.reset();
  return fit;
}

bool VariantTuner::needs_calibration() const {
  return (kappa_ill_ && init_.fit_done() && !calibrated_) || lockout_failed_;
}

bool VariantTuner::warming_up() const {
  if (!config_.start && config_.hold_back && !init_.ready()) return true;
  if (config_.mode == EstimatorMode::sliding_window && !ekf_fallback_ && init_.ready() && (!window_ || !window_->ready()))
    return true;
  return config_.warm_up_cycles > 0 && has_estimate_ && update_count_ < config_.warm_up_cycles;
}

Phase VariantTuner::phase() const {
  if (!has_estimate_) return Phase::collection;
  return update_count_ < config_.warm_up_cycles ? Phase::warm_up : Phase::normal;
}

TunerEstimate VariantTuner::estimate() const {
  if (!has_estimate_) throw InvalidArgument("no estimate yet: the tuner is still collecting observations");
  TunerEstimate e;
  const bool log = config_.filter.parameterization == Parameterization::log;
  if (source_ == "ekf" || source_ == "lockout_fit") {
    e.values = filter_ ? filter_->estimate() : make_estimate(stored_x_, stored_cov_ ? *stored_cov_ : Matrix(), log);
    e.has_covariance = true;
  } else {
    e.values = make_estimate(stored_x_, stored_cov_ ? *stored_cov_ : Matrix(), log);
    e.has_covariance = stored_cov_.has_value();
    e.values.sigma_rel = Vector::Constant(model_.obs_dim(), config_.filter.sigma_rel());
  }
  e.source = source_;
  e.kappa = kappa_;
  e.identifiable = config_.kappa_max <= 0 ? std::isfinite(kappa_) : kappa_ <= config_.kappa_max;
  if (last_step_) {
    e.nis = last_step_->nis;
    e.innovation = last_step_->innovation;
    e.innovation_cov = last_step_->innovation_cov;
    e.outcome = last_step_->outcome;
    e.at_bounds = last_step_->at_bounds;
  } else {
    e.at_bounds = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(model_.state_dim(), false);
  }
  e.update_count = update_count_;
  e.observation_count = observation_count_;
  e.cycle = cycle_;
  e.warming_up = warming_up();
  e.phase = phase();
  e.needs_calibration = needs_calibration();
  return e;
}

}  // namespace inferno::tuner
