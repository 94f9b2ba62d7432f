#pragma once
// QueueAnalyzer: one server configuration (service model, batch cap N, waiting room Q), immutable
// after construction, so every method is const and thread-safe. Rates at this interface are in
// requests per second, times in milliseconds (docs/queueing-model.md §1.3).
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "inferno/enum_names.hpp"
#include "inferno/queue/chain.hpp"
#include "inferno/queue/metrics.hpp"
#include "inferno/queue/service_model.hpp"
#include "inferno/queue/targets.hpp"

namespace inferno::queue {

/// Occupancy weighting of the ITL distribution (docs/queueing-model.md §6.5).
enum class ItlWeighting { token, time };
inline constexpr EnumName<ItlWeighting> kItlWeightings[] = {{ItlWeighting::token, "token"}, {ItlWeighting::time, "time"}};

struct AnalyzerOptions {
  /// Coefficients of variation of inter-arrival and service times. Both 1 (the default) means the
  /// exact Markov model; anything else applies the Allen–Cunneen approximation (docs/queueing-model.md §8).
  double arrival_cov = 1.0;
  double service_cov = 1.0;
  /// Prompt lengths uniform in [(1-s)n, (1+s)n]: s spreads each request's own prefill time, hence
  /// the TTFT percentiles (docs/queueing-model.md §6.4). 0 = every prompt n tokens.
  double in_tokens_spread = 0.0;
  ItlWeighting itl_weighting = ItlWeighting::token;
};

/// Everything needed to build an analyzer: the spec of one server configuration.
struct QueueConfig {
  std::string service_model = "iteration";
  ModelParams params;
  RequestShape shape;
  int max_batch = 0;            // N >= 1
  std::int64_t max_queue = 0;   // Q >= 0
  AnalyzerOptions options;
};

/// Percentiles (p in (0,100)) of waiting time, TTFT and ITL at one rate, aligned with `percentiles`.
struct PercentileValues {
  std::vector<double> percentiles;
  std::vector<double> wait_ms;
  std::vector<double> ttft_ms;
  std::vector<double> itl_ms;   // individual inter-token intervals (per output token)
  std::vector<double> tpot_ms;  // each request's mean inter-token latency (per request, vLLM's TPOT)
};

/// A chain solve plus the model's metrics at one rate; `head` is scratch reused across calls.
struct Evaluation {
  ChainSolution chain;
  Metrics metrics;
  double post_queue_ms = 0;  // TTFT - W: the part of TTFT after queueing (its mean)
  double post_queue_spread_ms = 0;  // width of its uniform part (MeanSplit)
  double post_queue_jitter_ms = 0;  // half-width of its symmetric uniform part (prompt lengths)
  std::vector<double> head;
};

/// Discrete ITL distribution: atoms sorted by value, ties merged, probabilities summing to 1.
struct ItlDistribution {
  std::vector<double> itl_ms;
  std::vector<double> prob;
};

class QueueAnalyzer {
 public:
  /// Validates the configuration (InvalidArgument naming the field on bad input) and precomputes
  /// the completion rates.
  explicit QueueAnalyzer(const QueueConfig& config);
  /// An analyzer over the first `max_batch` batch sizes of an existing model (used by the
  /// concurrency search to avoid rebuilding the model for each cap).
  QueueAnalyzer(std::shared_ptr<const ServiceModel> model, int max_batch, std::int64_t max_queue,
                const AnalyzerOptions& options);
  /// The same model and options with a smaller (or equal) batch cap and another queue size. The
  /// completion rates μ_b do not depend on the cap, so they are sliced from `base` (no logarithm
  /// recomputed): searches over N build one analyzer per N cheaply this way.
  QueueAnalyzer(const QueueAnalyzer& base, int max_batch, std::int64_t max_queue);

  int max_batch() const { return max_batch_; }
  std::int64_t max_queue() const { return max_queue_; }
  const ServiceModel& model() const { return *model_; }
  const std::shared_ptr<const ServiceModel>& model_ptr() const { return model_; }
  /// Completion rates μ_1..μ_N of this cap (a copy: analyzers sliced from one another share a
  /// longer table internally).
  CompletionRates rates() const;
  const AnalyzerOptions& options() const { return options_; }
  /// Allen–Cunneen factor κ = (c_a² + c_s²)/2; 1 when the correction is off.
  double kappa() const { return kappa_; }
  bool approximate() const { return kappa_ != 1.0; }

  /// maxRPS = 999·μ_N: the largest rate sizing considers (0.1 % below full-batch saturation).
  double max_rate_rps() const { return 999.0 * table_->rates.mu[max_batch_ - 1]; }
  /// Zero-load probe 1000·0.001·μ_1 (the low end of the sizing range).
  double min_rate_rps() const { return table_->rates.mu.front(); }
  /// 1000·max_b μ_b and the smallest b attaining it (can exceed μ_N with chunked prefill).
  double peak_rate_rps() const { return peak_rate_rps_; }
  int peak_batch() const { return peak_batch_; }

  /// Metrics at `rate_rps` (finite, > 0; no upper bound: overload appears as blocking).
  Metrics analyze(double rate_rps) const;
  /// Same, keeping the chain solution for distributions; reuses `ev.head`.
  void evaluate(double rate_rps, Evaluation& ev) const;

  /// P(W > t) for an accepted request (with the κ time scaling when active).
  double wait_survival(const Evaluation& ev, double t_ms) const;
  /// Quantiles at probability p in (0, 1).
  double wait_quantile(const Evaluation& ev, double p) const;
  double ttft_quantile(const Evaluation& ev, double p) const;
  double itl_quantile(const Evaluation& ev, double p) const;
  /// Quantile of a request's mean ITL over its life (TPOT): docs/queueing-model.md §6.6.
  double tpot_quantile(const Evaluation& ev, double p) const;
  ItlDistribution itl_distribution(const Evaluation& ev) const;
  /// Percentiles for each p (in percent, 0 < p < 100) of wait, TTFT, ITL and TPOT.
  PercentileValues percentiles(const Evaluation& ev, const std::vector<double>& percents) const;

  /// Largest arrival rate meeting every target (docs/queueing-model.md §5.2).
  SizeResult max_rate(const Targets& targets, const SizeOptions& options = {}) const;

  /// Requests per second a throughput benchmark counts over a window of `window_ms` that starts
  /// with every batch slot taking a request at once and the queue never empty: N slots each
  /// completing expected_completions(τ_N, cv, W) requests, divided by W. The time in service τ_N
  /// varies with the output length; lengths uniform within ± `out_tokens_spread` (in [0, 1]) of
  /// the mean give its cv. For W ≫ τ_N this is the steady state N/τ_N (docs/queueing-model.md,
  /// "Capacity measured in a window").
  double burst_throughput_rps(double window_ms, double out_tokens_spread) const;

  /// Per-token decode latency itl_b of each batch size b = 1..N (ms).
  const std::vector<double>& itl_by_batch_ms() const { return itl_table().itl_ms; }

 private:
  /// The TPOT distribution's atoms (value, weight), sorted by value, and their total weight.
  std::vector<std::pair<double, double>> tpot_atoms(const Evaluation& ev, double& total) const;
  void init();
  void set_cap();  // peak and ITL table of cap max_batch_ on the shared rate table
  double metric_value(const Evaluation& ev, const Constraint& c) const;

  std::shared_ptr<const ServiceModel> model_;
  int max_batch_ = 0;
  std::int64_t max_queue_ = 0;
  AnalyzerOptions options_;
  double kappa_ = 1.0;
  // μ_b for b = 1..M (M >= N, the cap this table was built for) and, per prefix length n, the
  // smallest b <= n with the largest μ_b: shared by every analyzer sliced from the same one, so
  // slicing to a new cap copies nothing.
  struct RateTable {
    CompletionRates rates;
    std::vector<int> peak_batch;  // [n - 1] for n = 1..M
  };
  std::shared_ptr<const RateTable> table_;
  double peak_rate_rps_ = 0;
  int peak_batch_ = 1;
  // Per-batch ITL and its sort order: needed only by ITL quantiles and distributions, so built
  // on first use (once, thread-safe) and shared by copies of this analyzer.
  struct ItlTable {
    std::once_flag once;
    std::vector<double> itl_ms;
    std::vector<int> order;  // batch indices sorted by itl_b (stable)
  };
  const ItlTable& itl_table() const;
  std::shared_ptr<ItlTable> itl_table_;
};

/// Validates and fills defaults of analyzer options (finite, non-negative CoVs).
void validate_analyzer_options(const AnalyzerOptions& options);

}  // namespace inferno::queue
