#include "inferno/search/screen.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <thread>

#include "inferno/error.hpp"
#include "inferno/optimizer/candidates.hpp"
#include "inferno/queue/analyzer.hpp"

namespace inferno::search {

namespace {

constexpr int kMaxReplicas = 1000000;

void require_list(bool nonempty, const char* field) {
  if (!nonempty) throw InvalidArgument(std::string("space.") + field + " is empty: the search space needs at least one value");
}

void require_positive_ints(const std::vector<int>& values, const char* field, int upper) {
  require_list(!values.empty(), field);
  for (int v : values) require(v >= 1 && v <= upper, std::string("space.") + field, "integers in [1, " + std::to_string(upper) + "]", v);
}

void validate(const Space& space, const Workload& w, const std::vector<queue::Constraint>& slo, const sizing::Catalog& catalog,
              const sizing::ModelRegistry& registry, const Options& o) {
  require_list(!space.models.empty(), "models");
  require_list(!space.accelerators.empty(), "accelerators");
  for (const auto& m : space.models)
    if (!registry.count(m)) {
      std::string known;
      for (const auto& [name, arch] : registry) known += (known.empty() ? "" : ", ") + name;
      throw InvalidArgument("space.models: unknown model \"" + m + "\"; known: " + known);
    }
  for (const auto& a : space.accelerators) (void)catalog.accelerator(a);  // throws, listing the names
  require_positive_ints(space.tensor_parallel, "tensorParallel", sizing::kMaxNodeGpus);
  require_positive_ints(space.pipeline_parallel, "pipelineParallel", 1024);
  require_positive_ints(space.max_num_seqs, "maxNumSeqs", 1000000);
  require_positive_ints(space.max_num_batched_tokens, "maxNumBatchedTokens", 100000000);
  space.serving.validate();
  require_finite_in("workload.rateRps", w.rate_rps, 0, true, 1e9);
  require_finite_in("workload.inTokens", w.in_tokens, 0, false, 1e7);
  require_finite_in("workload.outTokens", w.out_tokens, 1, false, 1e7);
  require_finite_in("workload.arrivalCov", w.arrival_cov, 0, false, 100);
  require_finite_in("workload.inTokensSpread", w.in_tokens_spread, 0, false, 1);
  for (const auto& c : slo) {
    if (c.metric == queue::TargetMetric::loss) throw InvalidArgument("slo: allowed targets are TTFT, ITL, E2E and wait times");
    require(std::isfinite(c.target) && c.target > 0, "slo." + queue::constraint_name(c), "a finite number > 0", c.target);
    require(c.percentile == 0 || (std::isfinite(c.percentile) && c.percentile > 0 && c.percentile < 100),
            "slo." + queue::constraint_name(c) + " percentile", "0 (the mean) or in (0, 100)", c.percentile);
    if (c.metric == queue::TargetMetric::e2e && c.percentile != 0)
      throw InvalidArgument("slo: an end-to-end target is a mean (percentile 0); its percentiles are not modelled, the simulator measures them");
  }
  o.efficiency.validate();
  if (o.service_model != "iteration" && o.service_model != "vllm")
    throw InvalidArgument("serviceModel: unknown \"" + o.service_model + "\"; allowed: iteration, vllm");
  require_finite_in("perSequenceMs", o.per_sequence_ms, 0, false, 1e6);
  require(o.queue_to_batch_ratio >= 0 && o.queue_to_batch_ratio <= 100000, "queueToBatchRatio", "an integer in [0, 100000]",
          o.queue_to_batch_ratio);
  require(std::isfinite(o.report_percentile) && o.report_percentile > 0 && o.report_percentile < 100, "reportPercentile",
          "in (0, 100)", o.report_percentile);
  for (const auto& [name, cost] : o.costs) {
    if (!catalog.find_gpu(name) && o.cost_rule != sizing::SliceCostRule::given) (void)catalog.accelerator(name);
    require_finite_in("costs." + name, cost, 0, true, sizing::kMaxCost);
  }
  require(std::isfinite(o.rate_rel_tol) && o.rate_rel_tol >= 1e-12 && o.rate_rel_tol <= 0.01, "rateRelTol", "in [1e-12, 0.01]",
          o.rate_rel_tol);
  require(o.threads >= 0 && o.threads <= 1024, "threads", "an integer in [0, 1024] (0 = every core)", o.threads);
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

// One configuration, from the roofline to the operating point.
void evaluate(const Space& space, const Workload& w, const queue::Targets& targets, const sizing::Catalog& catalog,
              const sizing::ModelRegistry& registry, const Options& o, Row& r, bool& reached_queue) {
  const sizing::Accelerator acc = catalog.accelerator(r.accelerator);
  r.gpu = acc.gpu->id;
  r.profile = acc.profile ? acc.profile->name : "";
  sizing::ServingOpts serving = space.serving;
  serving.tp = r.tp;
  serving.pp = r.pp;
  serving.max_num_seqs = r.max_num_seqs;
  serving.max_num_batched_tokens = r.max_num_batched_tokens;
  if (acc.whole()) {
    r.gpus_per_replica = static_cast<double>(r.tp) * r.pp;
  } else {
    const double compute = static_cast<double>(acc.units) / acc.gpu_units;
    const double memory = acc.gpu_mem_slices > 0 ? static_cast<double>(acc.mem_slices) / acc.gpu_mem_slices : 0.0;
    r.gpus_per_replica = std::max(compute, memory);
  }
  sizing::RecommendOptions cost_rule;
  cost_rule.costs = o.costs;
  cost_rule.cost_rule = o.cost_rule;
  r.cost_per_replica = sizing::replica_cost(acc, cost_rule) * (acc.whole() ? r.tp * r.pp : 1);
  sizing::Estimate est;
  try {
    est = sizing::derive(registry.at(r.model), serving, acc, o.efficiency, sizing::Workload{w.in_tokens, w.out_tokens, 0});
    if (acc.whole()) r.link = sizing::tensor_parallel_link(*acc.gpu, r.tp);
  } catch (const InvalidArgument& e) {
    r.reason = e.what();
    return;
  }
  r.alpha_ms = est.alpha_ms;
  r.beta_ms = est.beta_ms;
  r.gamma_ms = est.gamma_ms;
  r.kv_capacity_tokens = est.kv_capacity_tokens;
  r.bound = est.bound;
  if (!est.feasible) {
    r.reason = est.reason;
    return;
  }
  // A pipeline of pp stages runs pp virtual engines, each a batch of its own passing every stage:
  // pp servers of the whole model's iteration time, sharing the load (docs/search.md).
  r.batch = est.n_max / r.pp;
  if (r.batch < 1) {
    r.reason = "noBatch";
    return;
  }
  queue::QueueConfig config;
  config.service_model = o.service_model;
  config.params = {{"alpha", est.alpha_ms}, {"beta", est.beta_ms}, {"gamma", est.gamma_ms}};
  if (o.service_model == "vllm") {
    config.params["delta"] = o.per_sequence_ms;
    config.params["epsilon"] = o.efficiency.prefill_attention ? 0.0 : est.epsilon_ms;
  }
  config.shape = queue::RequestShape{w.in_tokens, w.out_tokens, r.max_num_batched_tokens};
  config.max_batch = r.batch;
  config.max_queue = static_cast<std::int64_t>(o.queue_to_batch_ratio) * r.batch;
  config.options.arrival_cov = w.arrival_cov;
  config.options.in_tokens_spread = w.in_tokens_spread;
  std::unique_ptr<queue::QueueAnalyzer> analyzer;
  try {
    analyzer = std::make_unique<queue::QueueAnalyzer>(config);
  } catch (const InvalidArgument& e) {
    r.reason = std::string("the derived parameters are outside the queueing model's ranges: ") + e.what();
    return;
  }
  reached_queue = true;
  queue::SizeOptions size_options;
  size_options.per_constraint = false;
  // A search compares configurations: λ* to 1e-6 relative is far finer than the model's accuracy,
  // and stops the refinement 20 probes earlier than the default 1e-10 (each probe of a percentile
  // target solves the chain and inverts a distribution).
  size_options.rate_rel_tol = o.rate_rel_tol;
  const queue::SizeResult sized = analyzer->max_rate(targets, size_options);
  r.binding = sized.binding;
  if (sized.status == queue::SizeStatus::infeasible || !(sized.rate_rps > 0)) {
    r.reason = "slo";
    r.binding = join(sized.violated);
    return;
  }
  r.rate_per_replica_rps = r.pp * sized.rate_rps;
  const double replicas = std::ceil(w.rate_rps / r.rate_per_replica_rps * (1 - 1e-12));
  if (replicas > kMaxReplicas) {
    r.reason = "replicas";
    return;
  }
  r.replicas = std::max(1, static_cast<int>(replicas));
  r.cost = r.cost_per_replica * r.replicas;
  const sizing::PowerSpec& pw = acc.gpu->power;
  const auto unit = optimizer::unit_power_w(optimizer::PowerCurve{pw.idle_w, pw.mid_power_w, pw.mid_util, pw.full_w},
                                            sized.metrics.rho);
  r.power_w = unit ? *unit * r.gpus_per_replica : 0.0;
  r.qps_per_dollar = r.cost_per_replica > 0 ? r.rate_per_replica_rps / r.cost_per_replica : 0.0;
  r.qps_per_gpu = r.rate_per_replica_rps / r.gpus_per_replica;
  r.qps_per_watt = r.power_w > 0 ? r.rate_per_replica_rps / r.power_w : 0.0;
  queue::Evaluation ev;
  analyzer->evaluate(w.rate_rps / r.replicas / r.pp, ev);
  r.ttft_ms = ev.metrics.ttft_ms;
  r.itl_ms = ev.metrics.itl_ms;
  r.e2e_ms = ev.metrics.resp_time_ms;
  const double p = o.report_percentile / 100.0;
  r.ttft_pct_ms = analyzer->ttft_quantile(ev, p);
  r.itl_pct_ms = analyzer->itl_quantile(ev, p);
  r.feasible = true;
}

}  // namespace

std::size_t Space::size() const {
  std::size_t degrees = 0;
  for (const auto& a : accelerators) degrees += a.find(':') == std::string::npos ? tensor_parallel.size() * pipeline_parallel.size() : 1;
  return models.size() * degrees * max_num_seqs.size() * max_num_batched_tokens.size();
}

void mark_pareto(std::vector<Row>& rows) {
  std::vector<std::size_t> feasible;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    rows[i].pareto = false;
    if (rows[i].feasible) feasible.push_back(i);
  }
  // Sorted by cost, a row can only be dominated by rows no dearer: those before it and its ties.
  std::stable_sort(feasible.begin(), feasible.end(), [&](std::size_t a, std::size_t b) { return rows[a].cost < rows[b].cost; });
  for (std::size_t k = 0; k < feasible.size(); ++k) {
    const Row& r = rows[feasible[k]];
    bool dominated = false;
    for (std::size_t j = 0; j < feasible.size() && !dominated; ++j) {
      if (j == k) continue;
      const Row& q = rows[feasible[j]];
      if (q.cost > r.cost) break;
      const bool no_worse = q.cost <= r.cost && q.ttft_pct_ms <= r.ttft_pct_ms && q.itl_pct_ms <= r.itl_pct_ms;
      const bool better = q.cost < r.cost || q.ttft_pct_ms < r.ttft_pct_ms || q.itl_pct_ms < r.itl_pct_ms;
      dominated = no_worse && better;
    }
    rows[feasible[k]].pareto = !dominated;
  }
}

Result screen(const Space& space, const Workload& w, const std::vector<queue::Constraint>& slo, const sizing::Catalog& catalog,
              const sizing::ModelRegistry& registry, const Options& o) {
  validate(space, w, slo, catalog, registry, o);
  Result out;
  out.rows.reserve(space.size());
  for (const auto& model : space.models)
    for (const auto& accelerator : space.accelerators) {
      // A MIG slice serves alone (no peer-to-peer between instances): only tp = pp = 1 is a configuration.
      const bool slice = accelerator.find(':') != std::string::npos;
      const std::vector<int> one{1};
      for (int tp : slice ? one : space.tensor_parallel)
        for (int pp : slice ? one : space.pipeline_parallel) {
          for (int seqs : space.max_num_seqs)
            for (int tokens : space.max_num_batched_tokens) {
              Row r;
              r.model = model;
              r.accelerator = accelerator;
              r.tp = tp;
              r.pp = pp;
              r.max_num_seqs = seqs;
              r.max_num_batched_tokens = tokens;
              out.rows.push_back(std::move(r));
            }
        }
    }
  const queue::Targets targets{slo, 0};
  const std::size_t n = out.rows.size();
  std::vector<char> reached(n, 0);
  unsigned threads = o.threads > 0 ? static_cast<unsigned>(o.threads) : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, std::max<std::size_t>(1, n)));
  // Rows are independent: thread k takes rows k, k + threads, ... (interleaved, so that the costly
  // large-batch configurations spread evenly). The result does not depend on the thread count.
  std::vector<std::exception_ptr> failures(threads);
  auto work = [&](unsigned k) {
    try {
      for (std::size_t i = k; i < n; i += threads) {
        bool hit = false;
        evaluate(space, w, targets, catalog, registry, o, out.rows[i], hit);
        reached[i] = hit ? 1 : 0;
      }
    } catch (...) {
      failures[k] = std::current_exception();  // rethrown on the caller's thread
    }
  };
  if (threads == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    for (unsigned k = 0; k < threads; ++k) pool.emplace_back(work, k);
    for (auto& t : pool) t.join();
  }
  for (const auto& f : failures)
    if (f) std::rethrow_exception(f);
  for (char c : reached) out.evaluated += c;
  mark_pareto(out.rows);
  return out;
}

}  // namespace inferno::search
