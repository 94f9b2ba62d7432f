#pragma once
// The tuner of one variant (model on an accelerator), cycle by cycle (docs/tuner.md §3.1, §3.3, §5,
// docs/tuner.md §2.10): cold start (collect, fit, guard), EKF tracking or the sliding-window estimator, warm-up
// with the reference's hold-back count, anchored bounds and lock-out recovery.
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "inferno/tuner/filter.hpp"
#include "inferno/tuner/fit.hpp"

namespace inferno::tuner {

enum class EstimatorMode { ekf, sliding_window };
inline constexpr EnumName<EstimatorMode> kEstimatorModes[] = {{EstimatorMode::ekf, "ekf"},
                                                        {EstimatorMode::sliding_window, "sliding-window"},
                                                        {EstimatorMode::sliding_window, "sliding_window", true}};
EstimatorMode parse_estimator_mode(const std::string& s);
const char* estimator_mode_name(EstimatorMode m);

enum class Phase { collection, warm_up, normal };

/// The most observations a tuner holds at once (cold-start list, sliding window).
constexpr int kMaxHeldObservations = 100000;
const char* phase_name(Phase p);

struct TunerConfig {
  FilterConfig filter;
  int init_obs = 5;               // TUNER_INIT_OBS
  int warm_up_cycles = 5;         // TUNER_WARM_UP_CYCLES: cycles with the gate skipped
  bool hold_back = true;          // TUNER_INIT_HOLD_BACK
  EstimatorMode mode = EstimatorMode::ekf;
  int window_size = 10;           // TUNER_WINDOW_SIZE
  double residual_threshold = 0.5;
  double init_fit_threshold = 10; // 0 disables the EKF fallback of the sliding-window mode
  double kappa_max = 1000;        // 0 disables the identifiability guard
  int init_list_cap = 64;         // 0 = unbounded (reference)
  int max_per_cycle = 8;          // observations per cycle feeding the fits
  bool all_replicas = true;       // false: only the first valid observation of a cycle feeds them
  int lockout_rejections = 5;     // 0 = no lock-out recovery
  bool anchored_bounds = true;    // false: re-centred on every stored estimate (reference)
  bool seeded_guess = true;       // filter.init_state seeds the cold-start guess
  GuessForm guess_form = GuessForm::reference;
  std::optional<Vector> start;    // a known starting point: no cold start

  /// The profiles of docs/tuner.md §2.11 with the service defaults of docs/tuner.md §4.
  static TunerConfig profile(const std::string& name, const ModelSpec& model = ModelSpec());
  void validate() const;
};

/// The estimate of a variant with its uncertainty and bookkeeping (docs/tuner.md §4).
struct TunerEstimate {
  Estimate values;
  bool has_covariance = false;
  std::string source;            // ekf, swnm, excursion, init_fit, guess, seed, lockout_fit
  double kappa = 0;              // +∞ when not identifiable at all; 0 = not computed
  bool identifiable = false;
  std::optional<double> nis;
  Vector innovation;
  Matrix innovation_cov;
  Outcome outcome = Outcome::collected;
  Eigen::Array<bool, Eigen::Dynamic, 1> at_bounds;
  long update_count = 0;         // cycles that stored an estimate
  long observation_count = 0;    // observations offered
  long cycle = 0;
  bool warming_up = true;
  Phase phase = Phase::collection;
  bool needs_calibration = false;
};

struct CycleResult {
  long cycle = 0;
  std::vector<StepResult> steps;   // one per observation offered, in order
  bool stored = false;             // this cycle stored an estimate
  std::optional<FitResult> fit;    // a fit that ran this cycle (init, window, lock-out)
  bool lockout_recovery = false;
  bool excursion = false;
  Phase phase = Phase::collection; // after the cycle
  bool warming_up = true;
};

class VariantTuner {
 public:
  explicit VariantTuner(TunerConfig config);
  // The estimators point at model_: the object stays where it was built.
  VariantTuner(const VariantTuner&) = delete;
  VariantTuner& operator=(const VariantTuner&) = delete;

  /// One control cycle with the observations of every replica of the variant (possibly one).
  CycleResult cycle(const std::vector<Observation>& observations);

  /// Calibration from a deliberate sweep of operating points (docs/tuner.md §3.5): a joint fit of all of
  /// them (at least 2 valid). Accepted when identifiable (κ <= kappa_max), not a fallback guess
  /// and within init_fit_threshold; then it becomes the estimate and the anchor, the warm-up is
  /// considered done, and the fit's observations replace the cold-start list. Otherwise nothing
  /// changes. The result's status says which.
  FitResult calibrate(const std::vector<Observation>& sweep);
  bool calibrated() const { return calibrated_; }
  /// docs/tuner.md §3.5: the latest κ is ill-conditioned after the cold-start fit and no calibration has
  /// been accepted, or a lock-out re-fit failed.
  bool needs_calibration() const;

  bool has_estimate() const { return has_estimate_; }
  /// The stored estimate; InvalidArgument when none exists yet (check has_estimate()).
  TunerEstimate estimate() const;
  bool warming_up() const;
  Phase phase() const;
  long update_count() const { return update_count_; }
  const TunerConfig& config() const { return config_; }
  const ObservationModel& model() const { return model_; }
  const InitEstimator& init_estimator() const { return init_; }
  const std::array<long, kOutcomeCount>& outcome_counts() const { return counts_; }

 private:
  void start_filter(const Vector& x, const std::optional<Matrix>& covariance, const std::string& source);
  void anchor_bounds(ParameterFilter& filter, const Vector& anchor) const;
  Vector prior_after_failed_fit(const FitResult& fit) const;
  void run_ekf(const std::vector<std::size_t>& usable, const std::vector<Observation>& obs, CycleResult& out);
  void run_window(const std::vector<std::size_t>& usable, const std::vector<Observation>& obs, CycleResult& out);
  void store(const std::string& source);
  void track_kappa();

  TunerConfig config_;
  ObservationModel model_;
  InitEstimator init_;
  std::unique_ptr<SlidingWindowEstimator> window_;
  std::unique_ptr<ParameterFilter> filter_;
  std::deque<FitPoint> recent_;  // last window_size usable observations (κ tracking, lock-out)
  bool has_estimate_ = false;
  bool ekf_fallback_ = false;
  bool kappa_ill_ = false;       // the latest κ exceeds kappa_max
  bool lockout_failed_ = false;  // a lock-out re-fit was not identifiable
  bool calibrated_ = false;
  long update_count_ = 0, observation_count_ = 0, cycle_ = 0;
  int consecutive_rejections_ = 0;
  std::string source_;
  Vector stored_x_;
  std::optional<Matrix> stored_cov_;
  double kappa_ = 0;
  std::optional<StepResult> last_step_;
  std::array<long, kOutcomeCount> counts_{};
};

}  // namespace inferno::tuner
