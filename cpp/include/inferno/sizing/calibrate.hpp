#pragma once
// Calibration (docs/sizing.md §4): a few measured points fix the roofline's scale. Both modes solve
// one weighted non-negative least-squares problem; the result reports its fit error and the
// identifiability (condition number) of the design.
#include <array>
#include <optional>
#include <string>

#include "inferno/enum_names.hpp"
#include <vector>

#include <Eigen/Dense>

#include "inferno/sizing/catalog.hpp"
#include "inferno/sizing/model.hpp"
#include "inferno/sizing/roofline.hpp"

namespace inferno::sizing {

/// Largest measured value a profiling point may carry (ms for latencies, req/s for throughput).
constexpr double kMaxMeasurement = 1e9;

/// One closed-loop measurement (`vllm bench serve --max-concurrency C`): any of TPOT, TTFT and
/// throughput, each a row of the fit.
struct ProfilePoint {
  std::string accelerator;   // catalog name, "GPU" or "GPU:profile"
  int concurrency = 0;       // C >= 1
  double in_tokens = 0;      // n
  double out_tokens = 0;     // m >= 1
  std::optional<double> tpot_ms, ttft_ms, throughput_rps;
};

enum class CalibrationMode { theta, family };
inline constexpr EnumName<CalibrationMode> kCalibrationModes[] = {{CalibrationMode::theta, "theta"},
                                                                   {CalibrationMode::family, "family"}};

struct CalibrationOptions {
  CalibrationMode mode = CalibrationMode::family;
  double kappa_max = 1000;          // identifiability guard
  double max_rel_rms = 0.15;        // acceptance bound on the relative RMS residual
  bool pin_gamma = false;           // theta mode: fix γ to the roofline's (one (n, m) mix suffices)
};

struct CalibrationRow {
  std::size_t point = 0;      // index into the points
  std::string metric;         // tpot | ttft | throughput
  double measured = 0;        // ms (throughput rows: the equivalent τ/(1+m)·… in ms, see docs/sizing.md §4)
  double predicted = 0;
  double rel_error = 0;       // (predicted - measured) / measured
};

struct Calibration {
  CalibrationMode mode = CalibrationMode::family;
  bool accepted = false;
  std::string reason;         // "" when accepted: tooFewPoints, illConditioned, residualHigh, nonPositive
  std::array<double, 3> theta{};       // theta mode: α, β, γ (ms)
  std::array<double, 3> prior_theta{}; // theta mode: the roofline's θ0 on that accelerator
  std::string accelerator;             // theta mode: the accelerator of every point
  std::vector<std::string> gpus;       // GPU types of the points (family mode applies to these)
  Efficiency efficiency;               // family mode: t0, η_B, η_F fitted (others from the prior)
  double kappa = 0;
  double rel_rms = 0;
  bool gamma_pinned = false;
  std::vector<CalibrationRow> rows;
};

/// Fits `points` (all rows of all points). Throws InvalidArgument on invalid points (unknown
/// accelerator, C < 1, no measurement, theta mode over several accelerators); an unusable fit is
/// returned with accepted == false and the reason.
Calibration calibrate(const ModelArch& arch, const ServingOpts& serving, const std::vector<ProfilePoint>& points,
                      const Catalog& catalog, const CalibrationOptions& options = {},
                      const Efficiency& prior = {});

/// θ = (α, β, γ) of an accelerator under a calibration: the fitted θ (theta mode, same accelerator)
/// or the roofline with the fitted efficiency (family mode).
std::array<double, 3> calibrated_theta(const Calibration& calibration, const ModelArch& arch, const ServingOpts& serving,
                                       const Accelerator& acc, const Workload& workload = {});

/// Seed of the online tuner (docs/sizing.md §4): initial state θ, bounds [θ/10, 10θ], relative change 0.10
/// (0.25 when the calibration's relative RMS residual exceeds 10 %).
struct TunerSeed {
  std::array<double, 3> init_state{};
  std::array<double, 3> min_state{}, max_state{};
  double percent_change = 0.10;
};
TunerSeed tuner_seed(const std::array<double, 3>& theta, double rel_rms);

/// Feedback of docs/sizing.md §4: the efficiency implied by a converged tuner estimate θ̂ on one accelerator
/// (η_F from β̂, η_B from γ̂ less the attention term, t0 from α̂), blended into `current` with
/// an EWMA of weight `weight`. Throws InvalidArgument when θ̂ implies a non-positive factor.
Efficiency efficiency_from_theta(const ModelArch& arch, const ServingOpts& serving, const Accelerator& acc,
                                 const std::array<double, 3>& theta, const Efficiency& current, double weight = 0.2);

/// Non-negative least squares min ‖A x − b‖ s.t. x ≥ 0 for a few columns (≤ 8): the optimum is the
/// least-squares solution on its support, so every support is tried (QR solves).
Eigen::VectorXd nnls_small(const Eigen::MatrixXd& A, const Eigen::VectorXd& b);

}  // namespace inferno::sizing
