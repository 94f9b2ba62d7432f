// Size (docs/queueing-model.md §5.2): the largest arrival rate meeting every target, by a first-crossing search on
// the normalised violation h(λ) = max_k (g_k(λ) - y_k) / y_k.
#include <algorithm>
#include <cmath>
#include <tuple>

#include "inferno/error.hpp"
#include "inferno/queue/limits.hpp"
#include "inferno/queue/analyzer.hpp"
#include "bracket.hpp"

namespace inferno::queue {

std::string constraint_name(const Constraint& c) {
  std::string base;
  switch (c.metric) {
    case TargetMetric::ttft: base = "TTFT"; break;
    case TargetMetric::itl: base = "ITL"; break;
    case TargetMetric::wait: base = "WaitTime"; break;
    case TargetMetric::loss: base = "LossProb"; break;
    case TargetMetric::e2e: base = "E2E"; break;
  }
  return c.percentile == 0 ? base : base + "_p" + format_number(c.percentile);
}

TargetMetric parse_target_metric(const std::string& name) {
  if (name == "ttft") return TargetMetric::ttft;
  if (name == "itl") return TargetMetric::itl;
  if (name == "wait") return TargetMetric::wait;
  if (name == "loss") return TargetMetric::loss;
  if (name == "e2e") return TargetMetric::e2e;
  throw InvalidArgument("target metric must be one of ttft, itl, wait, loss, e2e; got '" + name + "'");
}

const char* size_status_name(SizeStatus s) {
  switch (s) {
    case SizeStatus::ok: return "ok";
    case SizeStatus::unconstrained: return "unconstrained";
    case SizeStatus::infeasible: return "infeasible";
  }
  return "ok";
}

namespace {

void validate_targets(const Targets& targets, const SizeOptions& options) {
  require(std::isfinite(options.start_rps) && options.start_rps >= 0, "start_rps", "a finite number >= 0",
          options.start_rps);
  require(std::isfinite(options.start_step) && options.start_step > 0, "start_step", "a finite number > 0",
          options.start_step);
  for (const auto& c : targets.constraints) {
    // Field names are built only on failure: sizing runs inside optimiser loops.
    if (!(std::isfinite(c.target) && c.target > 0))
      require(false, "target " + constraint_name(c), "a finite number > 0", c.target);
    if (c.metric == TargetMetric::loss) {
      require(c.percentile == 0, "target LossProb percentile", "0 (loss has no percentiles)",
              c.percentile);
      require(c.target < 1, "target LossProb", "in (0, 1)", c.target);
    } else if (c.metric == TargetMetric::e2e && c.percentile != 0) {
      require(false, "percentile of target E2E", "0 (the mean: end-to-end percentiles are not modelled, the simulator measures them)",
              c.percentile);
    } else if (!(c.percentile == 0 ||
                 (std::isfinite(c.percentile) && c.percentile > 0 && c.percentile < 100))) {
      require(false, "percentile of target " + constraint_name(c), "0 (mean) or in (0, 100)",
              c.percentile);
    }
  }
  require(std::isfinite(targets.tps) && targets.tps >= 0 && targets.tps <= kMaxTargetTps, "target TPS",
          "a finite number in [0, 1e12]", targets.tps);
  require(options.grid_points >= 1 && options.grid_points <= 1000, "grid_points", "an integer in [1, 1000]", options.grid_points);
  require(std::isfinite(options.tps_safety_fraction) && options.tps_safety_fraction >= 0 &&
              options.tps_safety_fraction < 1,
          "tps_safety_fraction", "in [0, 1)", options.tps_safety_fraction);
  require(std::isfinite(options.rate_rel_tol) && options.rate_rel_tol > 0 && options.rate_rel_tol < 1,
          "rate_rel_tol", "in (0, 1)", options.rate_rel_tol);
  require(options.max_refine_steps >= 1, "max_refine_steps", "an integer >= 1",
          options.max_refine_steps);
}

// Memo of evaluations: every probe computes all constraint values, so the joint and the
// per-constraint searches share grid points and, while one constraint binds, bisection points.
class Probes {
 public:
  Probes(const QueueAnalyzer& analyzer, const std::vector<Constraint>& constraints,
         double (QueueAnalyzer::*metric)(const Evaluation&, const Constraint&) const)
      : analyzer_(analyzer), constraints_(constraints), value_(metric) {}

  struct Entry {
    double rate_rps;
    Metrics metrics;
    std::size_t first_value;  // offset into values_
  };

  const Entry& at(double rate_rps) {
    for (const Entry& e : entries_)
      if (e.rate_rps == rate_rps) return e;
    analyzer_.evaluate(rate_rps, scratch_);
    entries_.push_back({rate_rps, scratch_.metrics, values_.size()});
    for (const auto& c : constraints_) values_.push_back((analyzer_.*value_)(scratch_, c));
    return entries_.back();
  }

  double value(const Entry& e, std::size_t k) const { return values_[e.first_value + k]; }
  const std::vector<Entry>& entries() const { return entries_; }
  double violation(const Entry& e, std::size_t k) const {
    return (value(e, k) - constraints_[k].target) / constraints_[k].target;
  }
  std::size_t size() const { return entries_.size(); }

 private:
  const QueueAnalyzer& analyzer_;
  const std::vector<Constraint>& constraints_;
  double (QueueAnalyzer::*value_)(const Evaluation&, const Constraint&) const;
  Evaluation scratch_;
  std::vector<Entry> entries_;
  std::vector<double> values_;
};

struct Crossing {
  SizeStatus status = SizeStatus::ok;
  double rate_rps = 0;
  std::size_t binding = 0;             // index into constraints (ok)
  std::vector<std::size_t> violated;   // at the zero-load probe (infeasible)
};

// h restricted to the constraint indices in `subset`, and the index attaining the max.
double violation(Probes& probes, double rate, const std::vector<std::size_t>& subset,
                 std::size_t* argmax = nullptr) {
  const auto& e = probes.at(rate);
  double h = -HUGE_VAL;
  for (std::size_t k : subset) {
    const double v = probes.violation(e, k);
    if (v > h) {
      h = v;
      if (argmax) *argmax = k;
    }
  }
  return h;
}

Crossing first_crossing(Probes& probes, const std::vector<std::size_t>& subset, double lo,
                        double hi, const SizeOptions& options) {
  Crossing out;
  if (violation(probes, lo, subset) > 0) {
    out.status = SizeStatus::infeasible;
    const auto& e = probes.at(lo);
    for (std::size_t k : subset)
      if (probes.violation(e, k) > 0) out.violated.push_back(k);
    return out;
  }
  if (!(hi > lo)) {  // degenerate range: the zero-load probe is the only point
    out.status = SizeStatus::unconstrained;
    out.rate_rps = lo;
    return out;
  }
  double a = lo, b = hi;
  bool crossed = false;
  const int grid = options.grid_points;
  if (options.start_rps > lo && options.start_rps < hi && violation(probes, options.start_rps, subset) <= 0) {
    a = options.start_rps;
    for (double step = options.start_step * a;; step *= 4) {
      const double x = std::fmin(a + step, hi);
      if (violation(probes, x, subset) > 0) {
        b = x;
        crossed = true;
        break;
      }
      a = x;
      if (x >= hi) break;
    }
  }
  // Otherwise scan the grid for the first violation.
  for (int i = 1; i <= grid && !crossed && a < hi; ++i) {
    const double x = i == grid ? hi : lo + (hi - lo) * i / grid;
    if (violation(probes, x, subset) > 0) {
      b = x;
      crossed = true;
      break;
    }
    a = x;
  }
  if (!crossed) {
    out.status = SizeStatus::unconstrained;
    out.rate_rps = hi;
    return out;
  }
  // Refine keeping h(a) <= 0 < h(b); decisions use the sign of h only.
  const auto h = [&](double x) { return violation(probes, x, subset); };
  std::tie(a, b) = detail::refine_crossing(h, a, h(a), b, h(b), options.rate_rel_tol,
                                           options.max_refine_steps);
  out.status = SizeStatus::ok;
  out.rate_rps = a;
  violation(probes, b, subset, &out.binding);
  return out;
}

}  // namespace

SizeResult QueueAnalyzer::max_rate(const Targets& targets, const SizeOptions& options) const {
  validate_targets(targets, options);
  const auto& constraints = targets.constraints;
  Probes probes(*this, constraints, &QueueAnalyzer::metric_value);

  const double rate_lo = min_rate_rps();
  const double rate_max = max_rate_rps();
  const bool tps_cap = targets.tps > 0;
  const double rate_tps = (1.0 - options.tps_safety_fraction) * rate_max;
  const double rate_hi = tps_cap ? rate_tps : rate_max;

  std::vector<std::size_t> all(constraints.size());
  for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;

  SizeResult result;
  result.tps_rate_rps = rate_tps;
  const Crossing joint = first_crossing(probes, all, rate_lo, rate_hi, options);
  for (std::size_t k = 0; options.per_constraint && k < constraints.size(); ++k) {
    const Crossing single = first_crossing(probes, {k}, rate_lo, rate_max, options);
    result.per_constraint.push_back(
        {constraints[k], single.status, single.status == SizeStatus::infeasible ? 0.0 : single.rate_rps});
  }

  result.status = joint.status;
  switch (joint.status) {
    case SizeStatus::ok:
      result.rate_rps = joint.rate_rps;
      result.binding = constraint_name(constraints[joint.binding]);
      break;
    case SizeStatus::unconstrained:
      result.rate_rps = joint.rate_rps;
      result.binding = tps_cap ? "tpsHeadroom" : "stability";
      break;
    case SizeStatus::infeasible:
      result.rate_rps = 0;
      for (std::size_t k : joint.violated) {
        result.violated.push_back(constraint_name(constraints[k]));
        result.binding += (result.binding.empty() ? "" : ",") + result.violated.back();
      }
      break;
  }
  if (joint.status != SizeStatus::infeasible) {
    // λ* never exceeds a constraint's own rate (the reference's λ* = min_k λ_k). The searches
    // agree unless a metric is non-monotone inside one grid cell, where the joint and the
    // single-constraint refinements can settle on different sign changes; then take the lower
    // one, if every target was verified there, else the largest verified point below it.
    const auto feasible = [&](const Probes::Entry& e) {
      for (std::size_t k : all)
        if (probes.violation(e, k) > 0) return false;
      return true;
    };
    for (std::size_t k = 0; k < result.per_constraint.size(); ++k) {
      const ConstraintRate& pc = result.per_constraint[k];
      if (pc.status != SizeStatus::ok || !(pc.rate_rps < result.rate_rps)) continue;
      double best = rate_lo;
      for (const auto& e : probes.entries())
        if (e.rate_rps <= pc.rate_rps && e.rate_rps > best && feasible(e)) best = e.rate_rps;
      result.rate_rps = best;
      result.status = SizeStatus::ok;
      result.binding = constraint_name(constraints[k]);
    }
  }
  const auto& at = probes.at(joint.status == SizeStatus::infeasible ? rate_lo : result.rate_rps);
  result.metrics = at.metrics;
  for (std::size_t k = 0; k < constraints.size(); ++k) result.achieved.push_back(probes.value(at, k));

  if (tps_cap) {
    const double tokens = joint.status == SizeStatus::infeasible ? 0.0 : result.metrics.tokens_per_sec;
    result.tps_met = tokens >= targets.tps;
    result.replicas_for_tps = tokens > 0 ? std::ceil(targets.tps / tokens) : 0.0;
    // Callers turn the count into an integer: past 2^53 it is neither exact nor meaningful.
    if (!(result.replicas_for_tps <= 9007199254740992.0))
      throw InvalidArgument("target TPS " + format_number(targets.tps) + " would need " +
                            format_number(result.replicas_for_tps) +
                            " replicas (more than 2^53) at this server's rate; lower the target");
  }
  result.evaluations = static_cast<int>(probes.size());
  return result;
}

}  // namespace inferno::queue
