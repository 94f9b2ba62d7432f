#pragma once
// Configuration search, the analytical screen (docs/search.md): every point of a space of models ×
// accelerators × tensor- and pipeline-parallel degrees × engine knobs is estimated with the roofline
// and the queueing model, giving the highest rate one replica serves within the SLOs, what binds
// it, the replicas and cost for the target load, efficiency figures and a Pareto flag.
#include <map>
#include <string>
#include <vector>

#include "inferno/queue/targets.hpp"
#include "inferno/sizing/catalog.hpp"
#include "inferno/sizing/model.hpp"
#include "inferno/sizing/recommend.hpp"
#include "inferno/sizing/roofline.hpp"

namespace inferno::search {

/// The space: the cross product of its lists, in this nesting order (models outermost, chunk
/// sizes innermost), except that a MIG slice ("GPU:profile") takes tensor- and pipeline-parallel
/// degree 1, whatever the lists hold. `serving` carries the other engine options (dtypes, memory use, context).
struct Space {
  std::vector<std::string> models;        // keys of the registry
  std::vector<std::string> accelerators;  // catalog names: "GPU" or "GPU:profile"
  std::vector<int> tensor_parallel{1};
  std::vector<int> pipeline_parallel{1};
  std::vector<int> max_num_seqs{256};
  std::vector<int> max_num_batched_tokens{8192};
  sizing::ServingOpts serving;
  std::size_t size() const;  // rows of the screen
};

/// The workload every configuration is sized for: Poisson arrivals (or renewal arrivals with the
/// given coefficient of variation) of requests with mean prompt and output lengths.
struct Workload {
  double rate_rps = 0;      // the target load the fleet must carry (> 0)
  double in_tokens = 0;     // n
  double out_tokens = 1;    // m
  double arrival_cov = 1;   // 1 = Poisson
  double in_tokens_spread = 0;  // prompts uniform in [(1-s)n, (1+s)n] (TTFT percentiles)
};

struct Options {
  sizing::Efficiency efficiency;
  std::string service_model = "iteration";  // or "vllm" (with per_sequence_ms)
  double per_sequence_ms = 0;
  int queue_to_batch_ratio = 10;            // waiting room Q = ratio · N, as the optimizer's
  std::map<std::string, double> costs;      // per GPU type (whole device, per hour); default: the catalog's
  sizing::SliceCostRule cost_rule = sizing::SliceCostRule::compute;
  double report_percentile = 95;            // the percentile of TTFT and ITL reported and used by the Pareto flag
  int threads = 1;                          // 0 = hardware concurrency; the result does not depend on it
  double rate_rel_tol = 1e-6;               // λ*'s relative precision
};

/// One configuration and its estimate.
struct Row {
  std::string model, accelerator, gpu, profile;  // profile "" for a whole GPU
  int tp = 1, pp = 1, max_num_seqs = 0, max_num_batched_tokens = 0;
  std::string link;          // "nvlink" | "pcie" | "" (tp 1)
  double gpus_per_replica = 0;  // t·p whole GPUs, or the slice's share of one
  bool feasible = false;
  // Why not: an invalid configuration (the message names it: tensor parallelism the GPU cannot host,
  // a degree that does not divide the heads, ...), weightsDoNotFit, contextDoesNotFit, noBatch, or slo
  // (no rate meets the SLOs, with the violated targets in `binding`).
  std::string reason;
  double alpha_ms = 0, beta_ms = 0, gamma_ms = 0;
  int batch = 0;             // N per engine (with a pipeline: per virtual engine)
  long long kv_capacity_tokens = 0;
  std::string bound;         // "memory" | "compute" at the full batch
  double rate_per_replica_rps = 0;  // λ*: the highest rate one replica serves within the SLOs
  std::string binding;       // the SLO that limits it ("TTFT_p95", "ITL", "stability", ...)
  int replicas = 0;          // ⌈load / λ*⌉
  double cost_per_replica = 0, cost = 0;
  double qps_per_dollar = 0, qps_per_gpu = 0, qps_per_watt = 0;  // at λ*, per replica
  double power_w = 0;        // one replica's power at λ* (the catalog's curve at its batch fill)
  // At the operating point (the load shared by the replicas): means and the report percentile.
  double ttft_ms = 0, itl_ms = 0, e2e_ms = 0, ttft_pct_ms = 0, itl_pct_ms = 0;
  bool pareto = false;       // not dominated in (cost, TTFT and ITL at the report percentile)
};

struct Result {
  std::vector<Row> rows;     // in the space's order
  int evaluated = 0;         // configurations that reached the queueing model
};

/// Screens the space. Throws InvalidArgument on bad input (unknown model or accelerator, an empty
/// space, bad numbers); a configuration that cannot run is an infeasible row with its reason.
Result screen(const Space& space, const Workload& workload, const std::vector<queue::Constraint>& slo,
              const sizing::Catalog& catalog, const sizing::ModelRegistry& registry, const Options& options = {});

/// Marks the rows not dominated in (cost, ttft_pct_ms, itl_pct_ms) among the feasible ones: a row is
/// dominated when another is no worse in all three and better in one. Ties keep both.
void mark_pareto(std::vector<Row>& rows);

}  // namespace inferno::search
