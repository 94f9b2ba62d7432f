#pragma once
// Optimal concurrency (docs/queueing-model.md §7): the smallest batch cap whose SLO-feasible throughput is within ε
// of the throughput at the largest cap.
#include <vector>

#include "inferno/queue/analyzer.hpp"

namespace inferno::queue {

struct ConcurrencyOptions {
  double epsilon = 0.02;  // plateau tolerance
  int max_iters = 6;      // bisection probe budget (reference default)
  int min_batch = 1;      // m_min; m_max is the config's max_batch
  bool converge = false;  // keep bisecting until the bracket closes, ignoring max_iters
  bool verify_hi = true;  // probe the initial upper bracket and widen it if below threshold
};

struct ConcurrencyResult {
  int concurrency = 1;          // M*
  double throughput_rps = 0;    // f(M*)
  SizeResult size;              // Size at N = M* (metrics all zero when infeasible)
  double max_rate_rps = 0;      // maxRPS of the configuration with N = M* (0 when infeasible)
  bool feasible = false;
  int m_itl = 0;                // closed-form brackets; 0 when that target is unconstrained
  int m_tpf = 0;
  int calls = 0;                // probes with a positive reading (REST `oracleCalls`)
  double anchor_throughput_rps = 0;  // f(m_max)
  std::vector<int> probes;      // every probe in order: anchor, search, (verify), confirmation
  bool converged = false;
  int bracket_lo = 0;
  int bracket_hi = 0;
};

/// Runs the search for config.max_batch = m_max. Throws InvalidArgument on bad options.
ConcurrencyResult optimal_concurrency(const QueueConfig& config, const Targets& targets,
                                      const ConcurrencyOptions& options = {},
                                      const SizeOptions& size_options = {});

/// Largest B in [1, m_max] with itl(B) <= target (1 if none): a lower bound on the onset.
int itl_bracket(const ServiceModel& model, int m_max, double itl_target_ms);
/// Largest B in [1, m_max] with prefill(B) <= target (1 if none).
int ttft_bracket(const ServiceModel& model, int m_max, double ttft_target_ms);

}  // namespace inferno::queue
