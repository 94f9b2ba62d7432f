#pragma once
// Cold start and identifiability (docs/tuner.md §3.1): the one-observation guess, the joint
// Nelder–Mead fit over several operating points, the condition number κ, the fit covariance, and
// the InitEstimator and SlidingWindowEstimator built from them.
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "inferno/enum_names.hpp"
#include "inferno/tuner/observation.hpp"

namespace inferno::tuner {

/// `reference`: the observed TTFT is taken as the bare prefill time (docs/tuner.md §3.1, the reference's
/// form). `consistent`: TTFT − ITL is (the model's TTFT includes one decode step).
enum class GuessForm { reference, consistent };
inline constexpr EnumName<GuessForm> kGuessForms[] = {{GuessForm::reference, "reference"}, {GuessForm::consistent, "consistent"}};
GuessForm parse_guess_form(const std::string& name);
const char* guess_form_name(GuessForm form);

/// (α, β, γ) from one observation's TTFT, ITL, n, m (docs/tuner.md §3.1). With a valid seed (three
/// entries, all > 0) γ is pinned to the seed's and the light-load equations solved, falling back
/// to the seed itself when degenerate; without one, the legacy path. Empty when no guess exists.
std::optional<Vector> guess_init_state(double ttft_ms, double itl_ms, double in_tokens, double out_tokens,
                                       const Vector& seed, GuessForm form = GuessForm::reference);

/// The default start (5, 0.05, 0.0005) of a fit without guess or seed, cut to `dim` entries.
Vector default_start(int dim);

/// An observation with its weight in the fit objective (1/k_sat for down-weighted ones).
struct FitPoint {
  Observation obs;
  double weight = 1.0;
};

/// The penalty F takes at inadmissible points (half the largest double: finite, so simplex
/// arithmetic stays defined).
constexpr double kFitPenalty = 0.5 * 1.7976931348623157e308;

/// F(x) = Σ_k w_k Σ_j ((h_j(x; u_k) − z_kj)/z_kj)² (docs/tuner.md §3.1); kFitPenalty where x has a
/// non-positive component, the model fails, or a latency is <= 0. A wait channel uses
/// max(z, 0.01 ms) as its scale (a measured wait may be 0).
double fit_objective(const ObservationModel& model, const std::vector<FitPoint>& points, const Vector& x);

/// Relative residuals, observation-major (2k entries for two channels); false if h fails.
bool relative_residuals(const ObservationModel& model, const std::vector<FitPoint>& points, const Vector& x,
                        Vector& out);

enum class NelderMeadStop { converged, evaluation_limit, failed };
const char* nelder_mead_stop_name(NelderMeadStop s);

struct NelderMeadResult {
  Vector x;
  double value = 0;
  int evaluations = 0;
  int iterations = 0;
  NelderMeadStop stop = NelderMeadStop::failed;
};

struct NelderMeadOptions {
  int max_evaluations = 500;
  int stall_iterations = 100;     // stop when the best value improved by <= stall_tolerance ...
  double stall_tolerance = 1e-10; // ... over this many consecutive iterations
};

/// Adaptive Nelder–Mead on p with x = p ⊙ x0 from p = 1 (docs/tuner.md §3.1). x0 must be > 0.
NelderMeadResult nelder_mead(const std::function<double(const Vector&)>& f, const Vector& x0,
                             const NelderMeadOptions& options = {});

/// κ = σ_max/σ_min of the Jacobian of the relative residuals with respect to ln x (docs/tuner.md §3.5);
/// +∞ with fewer residuals than parameters, a failed evaluation or σ_min <= 0.
double condition_number(const ObservationModel& model, const std::vector<FitPoint>& points, const Vector& x);
/// The parameter direction the points determine least (smallest singular value of the relative
/// residuals' Jacobian in log parameters), named: "beta vs gamma" (a trade-off) or "... together".
std::string weak_direction(const ObservationModel& model, const std::vector<FitPoint>& points, const Vector& x);

/// P ≈ s²(JᵀJ)⁻¹, s² = F/max(r − d, 1), J the Jacobian of the relative residuals in x (spec
/// docs/tuner.md §4). Empty when JᵀJ is singular, an evaluation fails, or kappa_max > 0 and κ > kappa_max.
std::optional<Matrix> fit_covariance(const ObservationModel& model, const std::vector<FitPoint>& points,
                                     const Vector& x, double kappa, double kappa_max);

/// Outcome of an estimator's fit (docs/tuner.md §3.1, with explicit statuses instead of sentinels).
/// ill_conditioned: the minimiser, with κ above kappa_max (weak_direction names what the data
/// cannot tell apart); the *_guess statuses hand back the single-observation guess (window fits).
// ill_conditioned: the minimiser with a weak prior along the direction the data cannot fix;
// ill_conditioned_held: the sliding window kept its previous (well-conditioned) fit.
enum class FitStatus { not_run, ok, ill_conditioned, ill_conditioned_held, failed_guess, failed };
const char* fit_status_name(FitStatus s);

struct FitResult {
  FitStatus status = FitStatus::not_run;
  Vector x;                          // empty when failed
  std::string source;                // "init_fit", "swnm", "guess", "seed", "held"
  double objective = 0;              // F at x over the points used
  double kappa = 0;                  // condition number (may be +∞)
  std::optional<Matrix> covariance;  // linear units
  int evaluations = 0;
  std::string stop;                  // Nelder–Mead termination
  std::vector<std::size_t> dropped;  // indices of observations left out by the outlier pass
  std::string weak_direction;        // ill_conditioned: e.g. "beta vs gamma"
  double prior_weight = 0;           // ill_conditioned: weight of the prior towards the seed (0 = none)
  /// The reference's "fit value": 0 before a fit and for a held fit, the largest
  /// double for a failed fit, else the objective.
  double reference_fit_value() const;
};

struct EstimatorOptions {
  int min_obs = 5;
  int capacity = 64;          // 0 = unbounded (reference); FIFO beyond
  bool hold_back = true;
  double kappa_max = 1000;    // 0 disables the identifiability guard
  Vector seed;                // config initState; empty = none
  GuessForm guess_form = GuessForm::reference;
  NelderMeadOptions nelder_mead;
};

/// Collects observations of one variant until min_obs, then fits them jointly (docs/tuner.md §3.1).
/// Keeps a pointer to `model`, which must outlive it.
class InitEstimator {
 public:
  InitEstimator(const ObservationModel& model, EstimatorOptions options);
  /// Adds a valid observation (false and ignored otherwise).
  bool add(const FitPoint& point);
  bool ready() const { return static_cast<int>(points_.size()) >= options_.min_obs; }
  bool hold_back() const { return options_.hold_back; }
  bool fit_done() const { return last_.status != FitStatus::not_run; }
  int count() const { return static_cast<int>(points_.size()); }
  int min_obs() const { return options_.min_obs; }
  const std::deque<FitPoint>& points() const { return points_; }
  /// Fits every stored observation; `start` overrides the guess-or-default start.
  FitResult fit(const std::optional<Vector>& start = std::nullopt);
  const FitResult& last_fit() const { return last_; }

 private:
  std::optional<Vector> guess(const Observation& obs) const;

  const ObservationModel* model_;
  EstimatorOptions options_;
  std::deque<FitPoint> points_;
  FitResult last_;
};

/// Re-fits the last `capacity` observations each time (docs/tuner.md §3.7). Keeps a pointer to `model`,
/// which must outlive it.
class SlidingWindowEstimator {
 public:
  /// min_obs is capped at the capacity; residual_threshold <= 0 disables the outlier pass.
  SlidingWindowEstimator(const ObservationModel& model, EstimatorOptions options, double residual_threshold = 0.5);
  bool add(const FitPoint& point);
  /// Seeds the window with observations (oldest evicted beyond capacity) and a last fit.
  void seed(const std::deque<FitPoint>& points, const std::optional<Vector>& last_fit);
  bool ready() const { return static_cast<int>(window_.size()) >= options_.min_obs; }
  int size() const { return static_cast<int>(window_.size()); }
  int min_obs() const { return options_.min_obs; }
  const std::deque<FitPoint>& points() const { return window_; }
  const std::optional<Vector>& last_fit() const { return last_fit_; }
  /// True when the last fit() returned the held last good fit because of ill-conditioning.
  bool held_last_fit() const { return held_; }
  /// InvalidArgument on an empty window; status failed when no estimate can be produced.
  FitResult fit();

 private:
  const ObservationModel* model_;
  EstimatorOptions options_;
  double residual_threshold_;
  std::deque<FitPoint> window_;
  std::optional<Vector> last_fit_;
  bool held_ = false;
};

/// Indices of `points` kept by the outlier pass at x: all, or all but the one whose residual norm
/// √Σ_j e_j² is largest when that exceeds the threshold (threshold <= 0 keeps all).
std::vector<std::size_t> outlier_pass(const ObservationModel& model, const std::vector<FitPoint>& points,
                                      const Vector& x, double threshold);

}  // namespace inferno::tuner
