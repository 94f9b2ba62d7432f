#pragma once
// The parameter filter (docs/tuner.md §2): an EKF over (α, β, γ) or a subset, in linear or
// log parameters, with the queue core as observation function, typed step outcomes, NIS gating,
// stash/restore, R modes and saturation handling.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "inferno/enum_names.hpp"
#include "inferno/tuner/ekf.hpp"
#include "inferno/tuner/observation.hpp"

namespace inferno::tuner {

enum class Parameterization { linear, log };
enum class NoiseMode { expected, relative, adaptive };
enum class ProcessNoise { per_observation, per_cycle };
enum class SaturationPolicy { exclude, downweight, use };
inline constexpr EnumName<Parameterization> kParameterizations[] = {{Parameterization::log, "log"},
                                                              {Parameterization::linear, "linear"}};
inline constexpr EnumName<NoiseMode> kNoiseModes[] = {
    {NoiseMode::relative, "relative"}, {NoiseMode::expected, "expected"}, {NoiseMode::adaptive, "adaptive"}};
inline constexpr EnumName<ProcessNoise> kProcessNoises[] = {{ProcessNoise::per_cycle, "perCycle"},
                                                      {ProcessNoise::per_observation, "perObservation"},
                                                      {ProcessNoise::per_cycle, "per_cycle", true},
                                                      {ProcessNoise::per_observation, "per_observation", true}};
inline constexpr EnumName<SaturationPolicy> kSaturationPolicies[] = {
    {SaturationPolicy::exclude, "exclude"}, {SaturationPolicy::downweight, "downweight"}, {SaturationPolicy::use, "use"}};


enum class Outcome {
  accepted,
  accepted_downweighted,
  rejected_gate,
  rejected_positivity,
  rejected_numerical,
  skipped_model_error,
  skipped_invalid,
  skipped_saturated,
  collected,  // held for the cold-start fit: no filter step ran (inferno's addition: docs/tuner.md §8)
};
constexpr int kOutcomeCount = 9;

// Ranges of the filter's numeric options (docs/tuner.md, "Option ranges"). Inside them every
// variance, product and exponent the filter forms stays finite in double precision.
constexpr double kMaxParameterValue = 1e12;  // α, β, γ (ms, ms/token, ms/token²) and their bounds
constexpr double kMaxRelativeChange = 100;   // percent_change, initial_change (fractions)
constexpr double kMinRelativeNoise = 1e-6;   // sigma_rel
constexpr double kMaxRelativeNoise = 100;    // sigma_rel, sigma_min, sigma_max
constexpr double kMaxLatencyMs = 1e9;        // sigma_abs_ms, expected_observations
const char* outcome_name(Outcome o);
bool is_accepted(Outcome o);

const char* parameterization_name(Parameterization p);
const char* noise_mode_name(NoiseMode m);
const char* process_noise_name(ProcessNoise p);
const char* saturation_policy_name(SaturationPolicy p);
Parameterization parse_parameterization(const std::string& s);
NoiseMode parse_noise_mode(const std::string& s);
ProcessNoise parse_process_noise(const std::string& s);
SaturationPolicy parse_saturation_policy(const std::string& s);

/// Identifier of the queueing formulas h uses, stamped on every estimate (docs/tuner.md §4).
extern const char* const kQueueModelVersion;

struct FilterConfig {
  ModelSpec model;
  Vector init_state;      // x0 > 0, one per tuned parameter; also the Jacobian floor's seed
  Vector percent_change;  // pc: relative change per step, a fraction (0.15 = 15 %): Q
  Vector initial_change;  // relative uncertainty of x0 for P0; empty = percent_change (reference)
  Vector min_state, max_state;  // bounds in linear units; empty = unbounded
  Parameterization parameterization = Parameterization::log;
  NoiseMode noise = NoiseMode::relative;
  Vector expected_observations;  // ẑ for NoiseMode::expected, one per channel
  double error_level = 0.2;      // σ_rel = error_level / (t_percentile·√gamma_factor)
  double t_percentile = 1.96;
  double gamma_factor = 1.0;
  double sigma_abs_ms = 0.01;    // floor of σ in relative mode
  int adaptive_window = 20;      // n_R
  double sigma_min = 0.01, sigma_max = 0.5;
  double gate_probability = 0.975;  // NIS threshold = χ² quantile at this level, obs_dim dof
  double nis_threshold = 0;         // > 0 overrides gate_probability (7.378 = reference)
  ProcessNoise process_noise = ProcessNoise::per_cycle;
  SaturationPolicy saturation = SaturationPolicy::exclude;
  double throughput_ratio = 0.95, concurrency_ratio = 0.95, rate_ratio = 0.95;
  double saturation_weight = 100;  // k_sat
  double jacobian_rel_step = 0.01;
  double jacobian_floor_factor = 1e-3;

  /// The `reference` and `inferno` profiles of docs/tuner.md §2.11 for a given model; other fields default
  /// to the shipped configuration (init (5, 0.05, 5e-5), pc 0.15, bounds as shipped).
  static FilterConfig profile(const std::string& name, const ModelSpec& model = ModelSpec());
  /// InvalidArgument naming the field and the allowed values.
  void validate() const;
  double threshold() const;  // the NIS gate threshold in force
  double sigma_rel() const { return error_level / (t_percentile * std::sqrt(gamma_factor)); }
};

/// What a step may skip; the defaults are the validated step of docs/tuner.md §2.6.
struct StepOptions {
  bool skip_gate = false;        // warm-up
  bool plain = false;            // the reference's Run: no gate, no positivity rollback
  bool model_saturation = false; // also test λ >= rate_ratio·MaxRate(x̂) (after warm-up)
  bool learn_noise = true;       // adaptive R may learn from this step (not in warm-up)
};

/// The record of one step (docs/tuner.md §2.7, §4).
struct StepResult {
  Outcome outcome = Outcome::skipped_invalid;
  std::string reason;            // why it was not accepted, or a note (one-sided Jacobian)
  Vector observed;               // z
  Vector predicted;              // h(x⁻) (empty if not evaluated)
  Vector innovation;             // y (empty if not computed)
  Matrix innovation_cov;         // S
  std::optional<double> nis;     // NIS (absent when not computed)
  bool gate_skipped = false;
  bool one_sided_jacobian = false;
  bool saturated = false;
  std::string saturation_reason;
  Eigen::Array<bool, Eigen::Dynamic, 1> at_bounds;
};

/// Uncertainty-carrying estimate (docs/tuner.md §4).
struct Estimate {
  Vector x;
  Matrix covariance;      // linear units (log: D P_θ D, D = diag(x))
  Vector stddev, rel_stddev;
  Matrix correlation;
  Vector lower95, upper95;  // log: exp(θ ± 1.96σ_θ); linear: x ± 1.96σ
  Vector sigma_rel;         // current relative observation noise per channel
};

/// x with a covariance in linear units: stddev, correlation and the 95 % band (multiplicative,
/// exp(ln x ± 1.96·σ/x), when `log_band`). An empty covariance gives NaN spreads.
Estimate make_estimate(const Vector& x, const Matrix& covariance, bool log_band);

/// The producer's saturation signals of docs/tuner.md §2.9 (flag, throughput, concurrency); "" if none.
std::string producer_saturation(const FilterConfig& config, const Observation& obs);

class ParameterFilter {
 public:
  /// x = init_state, P = P0 = diag(pc²) (log) or diag((pc·x0)²) (linear); Q the same.
  explicit ParameterFilter(FilterConfig config);
  /// Starts from `x` (> 0, linear units), with P0 around it and Q re-scaled to it (linear).
  ParameterFilter(FilterConfig config, const Vector& x, const std::optional<Matrix>& covariance = std::nullopt);

  const FilterConfig& config() const { return config_; }
  const ObservationModel& model() const { return model_; }
  int state_dim() const { return model_.state_dim(); }

  /// Bounds in linear units (empty = none); clamps the state. Throws if lower > upper.
  void set_bounds(const Vector& lower, const Vector& upper);
  const Vector& lower_bounds() const { return lower_; }
  const Vector& upper_bounds() const { return upper_; }

  /// P ← P + scale·Q: once per control cycle in per-cycle mode (step() does it itself in
  /// per-observation mode).
  void predict(double scale = 1.0);
  /// One observation. Anything but an accepted outcome leaves (x, P) exactly as before the step
  /// (in per-observation mode, before its predict).
  StepResult step(const Observation& obs, const StepOptions& options = {});

  /// Current estimate in linear units.
  Vector x() const;
  /// The filter's own state and covariance (θ = ln x in log mode).
  const Vector& state() const { return state_; }
  const Matrix& covariance() const { return P_; }
  Estimate estimate() const;
  /// Replaces state and covariance (linear units; P0 if no covariance).
  void reset(const Vector& x, const std::optional<Matrix>& covariance = std::nullopt);
  /// Relative noise r̂_j (adaptive mode), per channel.
  const Vector& noise_variance() const { return r_hat_; }
  const std::array<long, kOutcomeCount>& outcome_counts() const { return counts_; }

  /// P0 in the filter's parameterisation around x (linear units in, filter units out).
  Matrix initial_covariance(const Vector& x) const;

 private:
  Vector to_state(const Vector& x) const;
  Vector to_linear(const Vector& s) const;
  Matrix measurement_noise(const Vector& z, double weight) const;
  bool jacobian(const Vector& s, const OperatingPoint& u, const Vector& center, Matrix& H, bool& one_sided,
                std::string& detail) const;
  ModelError h(const Vector& s, const OperatingPoint& u, Vector& out, std::string* detail) const;
  std::string saturation_signal(const Observation& obs, bool model_based) const;

  FilterConfig config_;
  ObservationModel model_;
  Vector state_;
  Matrix P_, Q_;
  Vector lower_, upper_;  // linear units
  Limiter limiter_;       // in the filter's parameterisation
  Vector r_hat_;
  Vector jacobian_floor_;
  std::array<long, kOutcomeCount> counts_{};
};

}  // namespace inferno::tuner
