// Optimal concurrency (docs/queueing-model.md §7): smallest batch cap at the onset of the SLO-throughput plateau.
#include "inferno/queue/concurrency.hpp"

#include <algorithm>
#include <cmath>

#include "inferno/error.hpp"

namespace inferno::queue {

int itl_bracket(const ServiceModel& model, int m_max, double itl_target_ms) {
  int best = 1;  // chunk jumps make itl(B) non-monotone: scan all B, keep the largest that fits
  for (int b = 1; b <= m_max; ++b)
    if (model.itl_ms(b, m_max) <= itl_target_ms) best = b;
  return best;
}

int ttft_bracket(const ServiceModel& model, int m_max, double ttft_target_ms) {
  int best = 1;
  for (int b = 1; b <= m_max; ++b)
    if (model.prefill_ms(b, m_max) <= ttft_target_ms) best = b;
  return best;
}

namespace {
// The tightest mean target of a metric, or 0 when that metric has no mean target.
double tightest_mean_target(const Targets& targets, TargetMetric metric) {
  double tightest = 0;
  for (const auto& c : targets.constraints)
    if (c.metric == metric && c.percentile == 0 && c.target > 0)
      tightest = tightest == 0 ? c.target : std::min(tightest, c.target);
  return tightest;
}
}  // namespace

ConcurrencyResult optimal_concurrency(const QueueConfig& config, const Targets& targets,
                                      const ConcurrencyOptions& options,
                                      const SizeOptions& size_options) {
  const QueueAnalyzer full(config);  // validates the configuration and builds the model once
  const int m_max = full.max_batch();
  require(std::isfinite(options.epsilon) && options.epsilon >= 0 && options.epsilon < 1,
          "epsilon", "in [0, 1)", options.epsilon);
  require(options.max_iters >= 0, "max_iters", "an integer >= 0", options.max_iters);
  require(options.min_batch >= 1 && options.min_batch <= m_max, "min_batch",
          "an integer in [1, max_batch=" + std::to_string(m_max) + "]", options.min_batch);
  const auto& model = full.model_ptr();

  ConcurrencyResult out;
  const double itl_target = tightest_mean_target(targets, TargetMetric::itl);
  const double ttft_target = tightest_mean_target(targets, TargetMetric::ttft);
  out.m_itl = itl_target > 0 ? itl_bracket(*model, m_max, itl_target) : 0;
  out.m_tpf = ttft_target > 0 ? ttft_bracket(*model, m_max, ttft_target) : 0;

  // f(M): SLO-feasible throughput at batch cap M (0 when infeasible). Every probe is recorded;
  // only positive readings count as calls, as in the reference.
  auto size_at = [&](int cap) {
    const QueueAnalyzer analyzer(model, cap, config.max_queue, config.options);
    return analyzer.max_rate(targets, size_options);
  };
  auto probe = [&](int cap) {
    const SizeResult r = size_at(cap);
    const double f = r.status == SizeStatus::infeasible ? 0.0 : r.metrics.throughput_rps;
    out.probes.push_back(cap);
    if (f > 0) ++out.calls;
    return f;
  };

  out.anchor_throughput_rps = probe(m_max);
  if (!(out.anchor_throughput_rps > 0)) {
    out.probes.clear();  // reference semantics: an infeasible anchor reports no calls
    out.probes.push_back(m_max);
    out.calls = 0;
    out.concurrency = options.min_batch;
    out.bracket_lo = out.bracket_hi = options.min_batch;
    out.converged = false;
    return out;
  }
  const double threshold = (1.0 - options.epsilon / 2.0) * out.anchor_throughput_rps;

  int lo = options.min_batch, hi = m_max;
  if (out.m_itl > 0 || out.m_tpf > 0) {
    const int lower = out.m_itl > 0 && out.m_tpf > 0 ? std::min(out.m_itl, out.m_tpf)
                                                       : std::max(out.m_itl, out.m_tpf);
    const int upper = std::max(out.m_itl, out.m_tpf);
    lo = std::max(options.min_batch, lower);
    hi = std::min(m_max, std::max(3 * upper, lo + 1));
    hi = std::max(lo, hi);
  }
  if (options.verify_hi && hi < m_max && probe(hi) < threshold) {
    lo = hi + 1;  // the onset lies above the closed-form cap: search the rest of the range
    hi = m_max;
  }
  for (int iter = 0; lo < hi && (options.converge || iter < options.max_iters); ++iter) {
    const int mid = lo + (hi - lo) / 2;
    if (probe(mid) >= threshold) hi = mid; else lo = mid + 1;
  }
  out.converged = lo == hi;
  out.bracket_lo = lo;
  out.bracket_hi = hi;
  out.concurrency = std::clamp(hi, options.min_batch, m_max);
  out.throughput_rps = probe(out.concurrency);  // confirmatory probe, even if probed before
  out.feasible = out.throughput_rps > 0;
  if (out.feasible) {
    const QueueAnalyzer at_onset(model, out.concurrency, config.max_queue, config.options);
    out.size = at_onset.max_rate(targets, size_options);
    out.max_rate_rps = at_onset.max_rate_rps();
  }
  return out;
}

}  // namespace inferno::queue
