// Candidate generation (docs/optimizer.md §3): size every (server, profile) with the queueing
// core, choose the batch size, count replicas and price the transition from the current state.
#include "inferno/optimizer/candidates.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <tuple>
#include <thread>

#include "inferno/error.hpp"
#include "inferno/queue/analyzer.hpp"

namespace inferno::optimizer {

namespace {

using queue::QueueAnalyzer;

constexpr int kNoReplicas = std::numeric_limits<int>::max();

// One (server, profile) to evaluate; profile is null for a per-server row (no profiles at all).
struct Task {
  const Server* server;
  const AcceleratorProfile* profile;
  const PerfRecord* perf;
  std::string reason;  // pre-determined infeasibility (noTarget, ...)
};

std::string service_model_for(const PerfRecord& p, const OptimizerSpec& o, std::string& reason) {
  if (p.format == PerfFormat::decode_prefill) {
    if (o.queue_model == QueueModel::automatic || o.queue_model == QueueModel::v1) return "prefill-decode";
    reason = std::string("queueModel ") + enum_name(kQueueModels, o.queue_model) +
             " needs perfParms, this record has decodeParms/prefillParms";
    return "";
  }
  if (o.queue_model == QueueModel::v1) {
    reason = "queueModel v1 needs decodeParms/prefillParms, this record has perfParms";
    return "";
  }
  if (o.queue_model == QueueModel::vllm) return "vllm";
  if (o.queue_model == QueueModel::v2 || (o.queue_model == QueueModel::automatic && o.perf_model_version == PerfModelVersion::v2))
    return "iteration-v2";
  return "iteration";
}

queue::ModelParams params_for(const PerfRecord& p, const std::string& service_model) {
  if (p.format == PerfFormat::decode_prefill)
    return {{"decode_alpha", p.decode_alpha}, {"decode_beta", p.decode_beta},
            {"prefill_gamma", p.prefill_gamma}, {"prefill_delta", p.prefill_delta}};
  if (service_model == "vllm")
    return {{"alpha", p.alpha}, {"beta", p.beta}, {"gamma", p.gamma}, {"delta", p.delta}, {"epsilon", p.epsilon}};
  return {{"alpha", p.alpha}, {"beta", p.beta}, {"gamma", p.gamma}};
}


}  // namespace

double objective_of(const OptimizerSpec& o, double cost, double power_w) {
  if (o.objective == Objective::power) return power_w;
  if (o.objective == Objective::weighted) return cost + o.power_price * power_w;
  return cost;
}

double current_objective(const OptimizerSpec& o, double current_cost) {
  return o.objective == Objective::power ? 0.0 : current_cost;
}

double change_penalty_weight(const OptimizerSpec& o) { return o.objective == Objective::power ? o.change_weight : 1.0; }

double accelerator_change_value(const OptimizerSpec& o, double current_cost, double new_cost) {
  return change_penalty_weight(o) * o.accelerator_change_penalty * (current_cost + new_cost);
}

double transition_value(const System& sys, const Server& s, const std::string& accelerator,
                        int replicas, double cost, double objective) {
  const OptimizerSpec& o = sys.options();
  if (accelerator == s.current.accelerator && replicas == s.current.num_replicas) return 0.0;
  const double cost_a = sys.current_cost(s);
  const double change = accelerator == s.current.accelerator
                            ? change_penalty_weight(o) * o.replica_change_penalty *
                                  std::abs(replicas - s.current.num_replicas)
                            : accelerator_change_value(o, cost_a, cost);
  return (objective - current_objective(o, cost_a)) + change;
}

std::optional<double> unit_power_w(const PowerCurve& p, double u) {
  const bool all_zero = p.idle_w == 0 && p.mid_power_w == 0 && p.full_w == 0;
  if (all_zero || !(p.mid_util > 0 && p.mid_util < 1) || !(p.idle_w <= p.mid_power_w && p.mid_power_w <= p.full_w))
    return std::nullopt;
  u = std::clamp(u, 0.0, 1.0);
  if (u <= p.mid_util) return p.idle_w + (p.mid_power_w - p.idle_w) * u / p.mid_util;
  return p.mid_power_w + (p.full_w - p.mid_power_w) * (u - p.mid_util) / (1.0 - p.mid_util);
}

namespace {

// The reference's one-metric bisection (docs/optimizer.md §3, sizeSemantics "reference"): kept only to
// reproduce stored reference outputs, including its quirks (last midpoint, direction test).
double reference_limit(const QueueAnalyzer& q, double lo, double hi, double target,
                       double (*metric)(const queue::Metrics&), bool& infeasible) {
  constexpr double kTolerance = 1e-6;
  const double f_lo = metric(q.analyze(lo)), f_hi = metric(q.analyze(hi));
  if (std::abs(f_lo - target) / target <= kTolerance) return lo;
  if (std::abs(f_hi - target) / target <= kTolerance) return hi;
  const bool increasing = f_lo < f_hi;
  if (increasing ? target < f_lo : target > f_lo) {
    infeasible = true;
    return 0;
  }
  if (increasing ? target > f_hi : target < f_hi) return hi;
  double mid = lo;
  for (int i = 0; i < 100; ++i) {
    mid = 0.5 * (lo + hi);
    const double f = metric(q.analyze(mid));
    if (std::abs(f - target) / target <= kTolerance) break;
    if ((f < target) == increasing) lo = mid; else hi = mid;
  }
  return mid;
}

// λ* found by the sizers of one model (same perf record and request shape): a rate feasible for
// targets A is feasible for any targets B that are all at least as loose, so B's search can start
// there instead of at zero load.
struct RateBoard {
  struct Entry {
    int batch;
    long long queue;
    double ttft_ms, itl_ms;  // the targets it met (0 = none)
    double rate_rps;         // λ*
  };
  std::vector<Entry> entries;

  double start_for(int batch, long long queue, const ModelTarget& t) const {
    const auto looser = [](double mine, double theirs) { return mine <= 0 || (theirs > 0 && theirs <= mine); };
    double start = 0;
    for (const Entry& e : entries)
      if (e.batch == batch && e.queue == queue && looser(t.ttft_ms, e.ttft_ms) && looser(t.itl_ms, e.itl_ms))
        start = std::max(start, e.rate_rps);
    return start;
  }
};

}  // namespace

queue::SizeOptions optimizer_size_options() {
  queue::SizeOptions o;
  o.per_constraint = false;  // λ* only: no per-target limits
  o.grid_points = 8;         // the optimizer's mean targets are monotone: a coarser first scan
  return o;
}

namespace {

// SLO-feasible throughput f(N) of one replica; every N's analyzer is sliced from one analyzer
// of the model built for the largest N.
class Sizer {
 public:
  // `fixed_queue`: the server's own waiting room, if it has one; `board` null: none (targets on
  // percentiles do not share one: "looser" compares means).
  Sizer(std::shared_ptr<const QueueAnalyzer> full, std::optional<long long> fixed_queue, const OptimizerSpec& options,
        const ModelTarget& target, RateBoard* board)
      : full_(std::move(full)), board_(target.on_means() ? board : nullptr), fixed_queue_(fixed_queue), options_(options),
        target_(target) {
    if (target.ttft_ms > 0) targets_.constraints.push_back({queue::TargetMetric::ttft, target.ttft_percentile, target.ttft_ms});
    if (target.itl_ms > 0) targets_.constraints.push_back({queue::TargetMetric::itl, target.itl_percentile, target.itl_ms});
    if (options.max_blocking_prob)
      targets_.constraints.push_back({queue::TargetMetric::loss, 0, *options.max_blocking_prob});
    targets_.tps = target.tps;  // caps the rate at 0.9·λ_max (docs/optimizer.md §1)
  }

  void set_shared(bool shared) { shared_ = shared; }

  long long queue_size(int batch) const {
    if (fixed_queue_) return *fixed_queue_;
    if (options_.max_queue_size) return *options_.max_queue_size;
    return options_.queue_size_policy == QueueSizePolicy::zero ? 0 : static_cast<long long>(options_.queue_to_batch_ratio) * batch;
  }
  /// The analyzer of batch cap N (sliced once, then kept: the search revisits N).
  const QueueAnalyzer& analyzer(int batch) const {
    auto it = analyzers_.find(batch);
    if (it == analyzers_.end()) it = analyzers_.emplace(batch, QueueAnalyzer(*full_, batch, queue_size(batch))).first;
    return it->second;
  }
  /// f(N) >= theta, decided from one or two analyze() calls instead of a full sizing: with the
  /// mean targets monotone in the rate, f(N) >= theta iff every target holds at the offered rate
  /// whose accepted throughput is theta (exact semantics only; the search confirms its result).
  bool at_least(int batch, double theta) {
    if (batch < 1) return false;
    if (static_cast<std::size_t>(batch) < cache_.size() && cache_[batch] >= 0) return cache_[batch] >= theta;
    // Exact f(N) where it will be reused: in reference semantics, and when servers share this
    // sizer (their searches mostly visit the same N).
    // and whenever a target is a percentile (the check below reads means).
    if (options_.size_semantics == SizeSemantics::reference || shared_ || !target_.on_means()) return rate(batch) >= theta;
    const QueueAnalyzer& q = analyzer(batch);
    const double cap = target_.tps > 0 ? 0.9 * q.max_rate_rps() : q.max_rate_rps();
    double lambda = std::max(theta, q.min_rate_rps());
    q.evaluate(lambda, scratch_);  // reuses the scratch buffers: no allocation per call
    const queue::Metrics& m = scratch_.metrics;
    for (int i = 0; i < 4 && m.throughput_rps < theta * (1 - 1e-13) && lambda <= cap; ++i) {
      lambda *= theta / m.throughput_rps;  // X(λ) = λ(1 - p_K): a few fixed-point steps
      q.evaluate(lambda, scratch_);
    }
    if (lambda > cap || m.throughput_rps < theta * (1 - 1e-13)) return false;
    if (target_.ttft_ms > 0 && m.ttft_ms > target_.ttft_ms) return false;
    if (target_.itl_ms > 0 && m.itl_ms > target_.itl_ms) return false;
    if (options_.max_blocking_prob && m.loss_prob > *options_.max_blocking_prob) return false;
    if (hint_.size() <= static_cast<std::size_t>(batch)) hint_.resize(static_cast<std::size_t>(batch) + 1, 0.0);
    hint_[batch] = std::max(hint_[batch], lambda);  // feasible: where a later sizing of N can start
    return true;
  }

  double rate(int batch) {
    if (batch < 1) return 0.0;
    if (static_cast<std::size_t>(batch) < cache_.size() && cache_[batch] >= 0) return cache_[batch];
    const double f = options_.size_semantics == SizeSemantics::reference && target_.on_means() ? reference_rate(batch) : exact_rate(batch);
    if (cache_.size() <= static_cast<std::size_t>(batch)) cache_.resize(static_cast<std::size_t>(batch) + 1, -1.0);
    cache_[batch] = f;
    return f;
  }

 private:
  double exact_rate(int batch) const {
    queue::SizeOptions only_joint = optimizer_size_options();
    if (static_cast<std::size_t>(batch) < hint_.size()) only_joint.start_rps = hint_[batch];
    const long long queue = queue_size(batch);
    // A rate that met targets at least as strict, on the same configuration, is feasible here.
    // (The maxBlockingProb limit is the same for every server.)
    if (board_) only_joint.start_rps = std::max(only_joint.start_rps, board_->start_for(batch, queue, target_));
    const auto r = analyzer(batch).max_rate(targets_, only_joint);
    if (r.status == queue::SizeStatus::infeasible) return 0.0;
    if (board_ && target_.tps <= 0)  // a TPS cap is not a latency target: do not pass it on
      board_->entries.push_back({batch, queue, target_.ttft_ms, target_.itl_ms, r.rate_rps});
    return r.metrics.throughput_rps;
  }
  double reference_rate(int batch) const {
    const QueueAnalyzer& q = analyzer(batch);
    const double lo = q.min_rate_rps(), hi = q.max_rate_rps();
    double limit = target_.tps > 0 ? 0.9 * hi : hi;
    bool infeasible = false;
    if (target_.ttft_ms > 0)
      limit = std::min(limit, reference_limit(q, lo, hi, target_.ttft_ms, [](const queue::Metrics& m) { return m.ttft_ms; }, infeasible));
    if (target_.itl_ms > 0)
      limit = std::min(limit, reference_limit(q, lo, hi, target_.itl_ms, [](const queue::Metrics& m) { return m.itl_ms; }, infeasible));
    if (options_.max_blocking_prob) {  // not a reference feature: the exact limit, as documented
      queue::Targets loss;
      loss.constraints.push_back({queue::TargetMetric::loss, 0, *options_.max_blocking_prob});
      const auto r = q.max_rate(loss);
      if (r.status == queue::SizeStatus::infeasible) infeasible = true;
      else limit = std::min(limit, r.metrics.offered_rps);
    }
    if (infeasible) return 0.0;
    return q.analyze(limit).throughput_rps;
  }

  std::shared_ptr<const QueueAnalyzer> full_;
  RateBoard* board_;  // of the model's unit; null = none
  bool shared_ = false;
  std::optional<long long> fixed_queue_;
  const OptimizerSpec& options_;
  ModelTarget target_;
  queue::Targets targets_;
  std::vector<double> cache_;  // f(N) by N, -1 = not yet evaluated
  std::vector<double> hint_;   // by N: the largest rate at_least() found feasible, 0 = none
  mutable std::map<int, QueueAnalyzer> analyzers_;
  queue::Evaluation scratch_;
};

int replicas_for(double demand, double rate, int floor_replicas) {
  if (demand <= 0) return floor_replicas;
  if (!(rate > 0)) return kNoReplicas;
  const double ratio = std::ceil(demand / rate - 1e-9);  // tolerance: an exact integer ratio stays
  if (ratio >= static_cast<double>(kNoReplicas)) return kNoReplicas;
  return std::max(static_cast<int>(ratio), floor_replicas);
}

// Batch size per the policy (docs/optimizer.md §3); 0 when no N is feasible.
// `fixed_batch` > 0: the server's own batch cap.
int choose_batch(Sizer& f, int fixed_batch, int min_replicas, const OptimizerSpec& o, int n_ref, int n_hi, double demand) {
  if (fixed_batch > 0) return f.rate(fixed_batch) > 0 ? fixed_batch : 0;
  if (o.batch_size_policy == BatchSizePolicy::reference) return f.rate(n_ref) > 0 ? n_ref : 0;
  const double band = 1.0 - o.onset_epsilon / 2.0;
  auto smallest_at_least = [&](double threshold, int hi) {  // f non-decreasing up to its plateau
    int lo = 1;
    while (lo < hi) {
      const int mid = lo + (hi - lo) / 2;
      if (f.at_least(mid, threshold)) hi = mid; else lo = mid + 1;
    }
    return hi;
  };
  if (o.batch_size_policy == BatchSizePolicy::onset) {
    const double anchor = f.rate(n_hi);
    return anchor > 0 ? smallest_at_least(band * anchor, n_hi) : 0;
  }
  // "cheapest": the fewest replicas, then the smallest N keeping near-peak capacity.
  if (o.batch_search == BatchSearch::exhaustive) {
    int best_r = kNoReplicas;
    double peak = 0;
    for (int n = 1; n <= n_hi; ++n) {
      best_r = std::min(best_r, replicas_for(demand, f.rate(n), min_replicas));
      peak = std::max(peak, f.rate(n));
    }
    if (!(peak > 0)) return 0;
    for (int n = 1; n <= n_hi; ++n)
      if (replicas_for(demand, f.rate(n), min_replicas) == best_r && f.rate(n) >= band * peak) return n;
    return 0;  // unreachable: the argmax of f attains best_r
  }
  double anchor = f.rate(n_hi);
  if (!(anchor > 0) && n_ref != n_hi && f.rate(n_ref) > 0) {
    n_hi = n_ref;
    anchor = f.rate(n_ref);
  }
  if (!(anchor > 0)) return 0;
  const int best_r = replicas_for(demand, anchor, min_replicas);
  const double threshold = std::max(demand > 0 ? demand / best_r : 0.0, band * anchor);
  const int n = smallest_at_least(threshold, n_hi);
  return replicas_for(demand, f.rate(n), min_replicas) == best_r ? n : n_hi;  // confirm
}

double demand_of(const OptimizerSpec& o, const Server& s, const ModelTarget& target) {
  const double m = s.current.load.out_tokens;
  const double arrivals = s.current.load.arrival_rate_rpm / 60.0;
  const double tps_demand = target.tps > 0 && m > 0 ? target.tps / m : 0.0;
  return target.tps > 0 ? (o.tps_demand == TpsDemand::max ? std::max(arrivals, tps_demand) : tps_demand) : arrivals;
}

int reference_batch(const PerfRecord& p, double out_tokens) {
  const long long budget = static_cast<long long>(p.max_batch_size) * p.at_tokens;
  return std::max(1, static_cast<int>(std::min<double>(std::floor(static_cast<double>(budget) / out_tokens), kMaxBatchLimit)));
}

// The service model of server s on perf record p, sized for batch caps up to n_model.
std::shared_ptr<const queue::ServiceModel> build_model(const std::string& service_model, const Server& s,
                                                       const PerfRecord& p, const OptimizerSpec& o, int n_model) {
  queue::QueueConfig config;
  config.service_model = service_model;
  config.params = params_for(p, service_model);
  // The queueing models need at least one output token; fewer is sized as one (diagnosed on load).
  config.shape = queue::RequestShape{s.current.load.in_tokens, std::max(1.0, s.current.load.out_tokens), o.max_num_tokens};
  config.max_batch = n_model;
  config.max_queue = 0;
  return QueueAnalyzer(config).model_ptr();
}

// Fills the load-dependent fields of c (metrics, power, objective, value) for r replicas at
// per-replica rate `rate_rps`.
void price(const System& sys, const Server& s, const AcceleratorProfile& g, const queue::Metrics& met, Candidate& c) {
  const OptimizerSpec& o = sys.options();
  c.cost = g.cost * c.units_per_replica * c.replicas;
  c.cards = static_cast<long long>(c.replicas) * c.cards_per_replica;
  c.itl_ms = met.itl_ms;
  c.ttft_ms = met.ttft_ms;
  c.rho = met.rho;
  c.busy = met.busy_prob;
  c.blocking_prob = met.loss_prob;
  c.served_rpm = 60.0 * c.replicas * met.throughput_rps;
  const auto unit = unit_power_w(g.power, o.power_utilization == PowerUtilization::busy ? met.busy_prob : met.rho);
  c.power_known = unit.has_value();
  c.power_w = unit ? c.replicas * c.units_per_replica * *unit : 0.0;
  c.objective = objective_of(o, c.cost, c.power_w);
  c.value = transition_value(sys, s, c.accelerator, c.replicas, c.cost, c.objective);
}

// f(N) depends on the perf record, the request shape, the targets and the queue rule, not on the
// load: servers that agree on these share one model and one f(N) cache (one slot per group).
struct SizingSlot {
  std::unique_ptr<Sizer> sizer;
  bool shared = false;  // more than one server uses this slot
};

// Servers whose candidates on one profile use the same service model (perf record, request shape,
// batch ceiling) form a unit: one model, one full analyzer and one rate board for all of them.
struct ModelSlot {
  bool tried = false;
  std::shared_ptr<const QueueAnalyzer> full;
  std::string error;
  RateBoard board;
};

Candidate evaluate(const System& sys, const Task& task, ModelSlot& unit, SizingSlot& slot) {
  const Server& s = *task.server;
  const OptimizerSpec& o = sys.options();
  Candidate c;
  c.server = s.name;
  c.server_index = static_cast<std::size_t>(task.server - sys.servers().data());
  if (task.profile) {
    c.accelerator = task.profile->name;
    c.type = task.profile->type;
  }
  if (!task.reason.empty()) {
    c.reason = task.reason;
    return c;
  }
  const AcceleratorProfile& g = *task.profile;
  const PerfRecord& p = *task.perf;
  c.units_per_replica = p.acc_count;
  c.cards_per_replica = static_cast<long long>(p.acc_count) * g.multiplicity;
  const ModelTarget& target = sys.find_class(s.service_class)->targets.at(s.model);
  const double m = s.current.load.out_tokens;
  // No output tokens is zero load (docs/optimizer.md §3): only the minNumReplicas floor, which brought us
  // here, sets the replicas, and N_hi is the unscaled perf maxBatchSize.
  c.demand_rps = m > 0 ? demand_of(o, s, target) : 0.0;
  if (p.unconverged()) {
    c.reason = "unconverged";
    return c;
  }
  c.service_model = service_model_for(p, o, c.reason);
  if (c.service_model.empty()) return c;

  const int n_ref = m > 0 ? reference_batch(p, std::max(1.0, m)) : std::max(1, p.max_batch_size);
  const int n_hi = o.batch_search_max > 0 ? o.batch_search_max : n_ref;
  if (!unit.tried) {
    unit.tried = true;
    try {
      const auto model = build_model(c.service_model, s, p, o, std::max({n_hi, n_ref, s.max_batch_size}));
      unit.full = std::make_shared<const QueueAnalyzer>(model, model->max_batch(), 0, queue::AnalyzerOptions{});
    } catch (const InvalidArgument& e) {
      unit.error = e.what();
    }
  }
  if (!unit.full) {
    c.reason = "invalidModel: " + unit.error;
    return c;
  }
  if (!slot.sizer) {
    slot.sizer = std::make_unique<Sizer>(unit.full, s.max_queue, o, target, &unit.board);
    slot.sizer->set_shared(slot.shared);
  }
  Sizer& f = *slot.sizer;
  c.batch = choose_batch(f, s.max_batch_size, s.min_replicas, o, n_ref, n_hi, c.demand_rps);
  if (c.batch == 0) {
    c.reason = "slo";  // no batch size meets the SLOs, even at vanishing load
    return c;
  }
  c.queue = f.queue_size(c.batch);
  c.rate_per_replica_rps = f.rate(c.batch);
  c.max_rpm = 60.0 * c.rate_per_replica_rps;
  c.required_replicas = c.demand_rps > 0 ? replicas_for(c.demand_rps, c.rate_per_replica_rps, 0) : 0;
  c.replicas = replicas_for(c.demand_rps, c.rate_per_replica_rps, s.min_replicas);
  if (c.replicas == kNoReplicas) {
    c.reason = "slo";
    return c;
  }
  const QueueAnalyzer& at = f.analyzer(c.batch);
  // Predictions at the actual per-replica load; at the bottom of the range without demand.
  price(sys, s, g, at.analyze(c.demand_rps > 0 ? c.demand_rps / c.replicas : at.min_rate_rps()), c);
  c.feasible = true;
  c.outcome = "full";
  c.slo_met = true;
  return c;
}

}  // namespace

ReplicaSizing size_replicas(std::shared_ptr<const queue::QueueAnalyzer> full, const ModelTarget& target,
                            double demand_rps, int min_replicas, int n_ref, int n_hi, const OptimizerSpec& options) {
  if (!full) throw InvalidArgument("size_replicas: no model");
  if (n_hi < 1 || n_ref < 1 || n_hi > full->max_batch() || n_ref > full->max_batch())
    throw InvalidArgument("size_replicas: batch caps n_ref " + std::to_string(n_ref) + " and n_hi " + std::to_string(n_hi) +
                          " must be in [1, " + std::to_string(full->max_batch()) + "] (the model's)");
  if (!(std::isfinite(demand_rps) && demand_rps >= 0))
    throw InvalidArgument("size_replicas: demand must be a finite number >= 0 (req/s), got " + format_number(demand_rps));
  Sizer f(std::move(full), std::nullopt, options, target, nullptr);
  ReplicaSizing out;
  out.batch = choose_batch(f, 0, min_replicas, options, n_ref, n_hi, demand_rps);
  if (out.batch == 0) return out;
  out.queue = f.queue_size(out.batch);
  out.rate_rps = f.rate(out.batch);
  const int replicas = replicas_for(demand_rps, out.rate_rps, min_replicas);
  out.replicas = replicas == kNoReplicas ? 0 : replicas;
  const int required = demand_rps > 0 ? replicas_for(demand_rps, out.rate_rps, 0) : 0;
  out.required_replicas = required == kNoReplicas ? 0 : required;
  return out;
}

queue::Metrics analyze_candidate(const System& sys, const Candidate& c, double rate_rps) {
  const Server& s = sys.servers().at(c.server_index);
  const PerfRecord* p = sys.find_perf(s.model, c.accelerator);
  if (!p || c.batch < 1 || c.service_model.empty())
    throw InvalidArgument("candidate " + c.server + " on '" + c.accelerator + "' has no queueing configuration");
  const QueueAnalyzer q(build_model(c.service_model, s, *p, sys.options(), c.batch), c.batch, c.queue,
                        queue::AnalyzerOptions{});
  return q.analyze(rate_rps);
}

Candidate with_replicas(const System& sys, const Candidate& full, int k) {
  if (k < 1) throw InvalidArgument("with_replicas: k must be >= 1, got " + std::to_string(k));
  Candidate c = full;
  c.replicas = k;
  const Server& s = sys.servers().at(c.server_index);
  const queue::Metrics met = analyze_candidate(sys, c, c.demand_rps > 0 ? c.demand_rps / k : full.rate_per_replica_rps);
  price(sys, s, *sys.find_accelerator(c.accelerator), met, c);
  c.slo_met = k >= c.required_replicas && k >= s.min_replicas;
  c.saturated = c.demand_rps > k * c.rate_per_replica_rps * (1 + 1e-12);
  c.outcome = c.slo_met ? "full" : "bestEffort";
  return c;
}

std::vector<Candidate> generate_candidates(const System& sys, int threads) {
  const OptimizerSpec& o = sys.options();
  if (o.objective != Objective::cost)
    for (const auto& a : sys.accelerators())
      if (!unit_power_w(a.power, 0.5) && std::any_of(sys.perf_records().begin(), sys.perf_records().end(),
                                                      [&](const PerfRecord& p) { return p.accelerator == a.name; }))
        throw InvalidArgument("accelerators (" + a.name + "): objective '" + enum_name(kObjectives, o.objective) +
                              "' needs a valid power curve (0 < midUtil < 1, idle <= midPower <= full, not all zero)");

  std::vector<Task> tasks;
  std::vector<Candidate> zero;  // scaled-to-zero rows, placed by server
  std::vector<std::size_t> zero_at;
  for (const Server& s : sys.servers()) {
    const ServiceClass* cls = sys.find_class(s.service_class);
    std::string reason;
    if (!cls) reason = "unknownClass";
    else if (!cls->targets.count(s.model)) reason = "noTarget";
    std::vector<const AcceleratorProfile*> profiles;
    if (s.keep_accelerator && !s.current.accelerator.empty()) {
      const AcceleratorProfile* a = sys.find_accelerator(s.current.accelerator);
      if (!a) reason = reason.empty() ? "keepAcceleratorUnknown" : reason;
      else profiles.push_back(a);
    } else {
      for (const auto& a : sys.accelerators())
        if (sys.find_perf(s.model, a.name)) profiles.push_back(&a);
    }
    std::sort(profiles.begin(), profiles.end(),
              [](const auto* x, const auto* y) { return x->name < y->name; });
    if (reason.empty() && profiles.empty()) reason = "noPerfData";
    if (!reason.empty()) {
      tasks.push_back({&s, nullptr, nullptr, reason});
      continue;
    }
    const ModelTarget& target = cls->targets.at(s.model);
    const double demand = target.tps > 0 ? target.tps : s.current.load.arrival_rate_rpm;
    if ((demand == 0 || s.current.load.out_tokens == 0) && s.min_replicas == 0) {
      // Zero demand and no replica floor: one scaled-to-zero outcome, whatever the profiles.
      Candidate c;
      c.server = s.name;
      c.accelerator = s.current.accelerator;
      if (const AcceleratorProfile* a = sys.find_accelerator(c.accelerator)) c.type = a->type;
      c.feasible = true;
      c.outcome = "scaledToZero";
      c.server_index = static_cast<std::size_t>(&s - sys.servers().data());
      c.value = -current_objective(o, sys.current_cost(s));
      zero.push_back(c);
      zero_at.push_back(tasks.size());
      continue;
    }
    for (const auto* a : profiles) tasks.push_back({&s, a, sys.find_perf(s.model, a->name), ""});
  }

  // Units: tasks on the same service model (perf record, request shape, batch ceiling); inside a
  // unit, groups of tasks that share one sizing (same targets and queue rule). Units keep their
  // first-appearance order and run sequentially inside one worker, so the result does not depend
  // on the thread count.
  std::vector<std::vector<std::vector<std::size_t>>> units;
  {
    using UnitKey = std::tuple<std::size_t, double, double, int>;
    using GroupKey = std::tuple<double, double, double, double, double, long long, bool>;
    std::map<UnitKey, std::size_t> unit_of;
    std::vector<std::map<GroupKey, std::size_t>> group_of;
    const PerfRecord* perf0 = sys.perf_records().data();
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      const Task& t = tasks[i];
      if (!t.reason.empty() || !t.perf) {
        units.push_back({{i}});
        group_of.emplace_back();
        continue;
      }
      const Server& s = *t.server;
      const ModelTarget& target = sys.find_class(s.service_class)->targets.at(s.model);
      const UnitKey ukey{static_cast<std::size_t>(t.perf - perf0), s.current.load.in_tokens,
                         s.current.load.out_tokens, s.max_batch_size};
      const auto [u, new_unit] = unit_of.emplace(ukey, units.size());
      if (new_unit) {
        units.emplace_back();
        group_of.emplace_back();
      }
      const GroupKey gkey{target.ttft_ms, target.itl_ms, target.tps, target.ttft_percentile, target.itl_percentile,
                          s.max_queue.value_or(-1), s.max_queue.has_value()};
      const auto [g, new_group] = group_of[u->second].emplace(gkey, units[u->second].size());
      if (new_group) units[u->second].emplace_back();
      units[u->second][g->second].push_back(i);
    }
  }
  std::vector<Candidate> results(tasks.size());
  unsigned workers = threads > 0 ? static_cast<unsigned>(threads) : std::max(1u, std::thread::hardware_concurrency());
  workers = static_cast<unsigned>(std::min<std::size_t>(workers, std::max<std::size_t>(1, units.size())));
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t u = next++; u < units.size(); u = next++) {
      ModelSlot unit;
      for (const auto& group : units[u]) {
        SizingSlot slot;
        slot.shared = group.size() > 1;
        for (std::size_t i : group) {
          try {
            results[i] = evaluate(sys, tasks[i], unit, slot);
          } catch (const std::exception& e) {  // a worker must never throw: record it on the row
            results[i] = Candidate{};
            results[i].server = tasks[i].server->name;
            results[i].reason = std::string("invalidModel: ") + e.what();
          }
        }
      }
    }
  };
  std::vector<std::thread> pool;  // the calling thread is one of the workers
  for (unsigned t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  // Merge the scaled-to-zero rows back in server order.
  std::vector<Candidate> out;
  out.reserve(results.size() + zero.size());
  std::size_t z = 0;
  for (std::size_t i = 0; i <= results.size(); ++i) {
    while (z < zero.size() && zero_at[z] == i) out.push_back(std::move(zero[z++]));
    if (i < results.size()) out.push_back(std::move(results[i]));
  }
  return out;
}

}  // namespace inferno::optimizer
