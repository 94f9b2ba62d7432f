#pragma once
// Sizing targets and results (docs/queueing-model.md §5).
#include <string>
#include <vector>

#include "inferno/queue/metrics.hpp"

namespace inferno::queue {

// e2e: the mean end-to-end latency (response time); its percentiles are not modelled.
enum class TargetMetric { ttft, itl, wait, loss, e2e };

/// An upper bound on one metric: its mean (percentile == 0) or a percentile in (0, 100).
struct Constraint {
  TargetMetric metric = TargetMetric::ttft;
  double percentile = 0;  // 0 = mean; otherwise in (0, 100); not allowed for loss
  double target = 0;      // > 0 (ms, or a probability for loss)
};

/// "ttft", "itl", "wait", "loss" or "e2e"; throws InvalidArgument listing them otherwise.
TargetMetric parse_target_metric(const std::string& name);

/// Name used in results and REST keys: "TTFT", "ITL", "WaitTime", "LossProb", "TTFT_p95", ...
std::string constraint_name(const Constraint& c);

struct Targets {
  std::vector<Constraint> constraints;
  double tps = 0;  // output tokens/s demand (a floor, not a bound on λ); 0 = none
};

struct SizeOptions {
  int grid_points = 16;              // G: scan resolution of the first-crossing search
  double tps_safety_fraction = 0.1;  // s: headroom below maxRPS when a TPS demand is given
  double rate_rel_tol = 1e-10;       // refinement stops when b - a <= tol·b
  int max_refine_steps = 200;
  /// Also search each constraint's own limit (SizeResult::per_constraint, and the safeguard that
  /// λ* never exceeds one of them). Callers that need only λ* (the optimizer) turn it off.
  bool per_constraint = true;
  /// > 0: a rate the caller believes feasible. If it is, the search scans upward from it in
  /// growing steps (start_step·rate, then ×4) instead of the grid from the zero-load probe. Only
  /// for metrics monotone in the rate, as the optimizer's mean targets are.
  double start_rps = 0;
  double start_step = 0.02;
};

enum class SizeStatus { ok, unconstrained, infeasible };
const char* size_status_name(SizeStatus s);

struct ConstraintRate {
  Constraint constraint;
  SizeStatus status = SizeStatus::ok;
  double rate_rps = 0;  // the constraint alone on [λ_lo, λ_max]; 0 when infeasible
};

struct SizeResult {
  SizeStatus status = SizeStatus::ok;
  double rate_rps = 0;       // λ*·1000: 0 when infeasible
  std::string binding;       // constraint name, "stability", "tpsHeadroom", or violated names
  std::vector<std::string> violated;  // constraints violated at zero load (infeasible only)
  std::vector<ConstraintRate> per_constraint;
  double tps_rate_rps = 0;   // 1000·(1 - s)·λ_max
  Metrics metrics;           // at λ* (at the zero-load probe when infeasible)
  std::vector<double> achieved;  // each constraint's metric value at the returned rate
  bool tps_met = true;
  double replicas_for_tps = 0;   // ⌈TPS / tokensPerSec⌉ (0 without a TPS demand)
  int evaluations = 0;           // distinct chain solves used
};

}  // namespace inferno::queue
