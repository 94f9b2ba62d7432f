#pragma once
// Candidate generation (docs/optimizer.md §3): every (server, accelerator profile) allocation sized
// with the queueing core. Pure function of the System; runs in parallel, deterministically.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "inferno/queue/analyzer.hpp"
#include "inferno/queue/metrics.hpp"
#include "inferno/queue/targets.hpp"

#include "inferno/optimizer/system.hpp"

namespace inferno::optimizer {

/// One allocation of one server on one profile, feasible or not (then `reason` says why).
/// One heterogeneous part: replicas of one profile carrying a share of the server's demand.
struct Part {
  std::string accelerator, type;
  int replicas = 0;
  int batch = 0;
  long long queue = 0;
  long long cards = 0;
  double cost = 0;
  double arrival_rate_rps = 0;  // offered rate of each replica of this part
  double itl_ms = 0, ttft_ms = 0, rho = 0, power_w = 0;
};

struct Candidate {
  std::string server;
  std::size_t server_index = 0;  // position in System::servers()
  std::string accelerator;  // profile name; "" for a scaled-to-zero server without one
  std::string type;         // accelerator type
  std::string service_model;  // queue model used: iteration, iteration-v2, prefill-decode
  bool feasible = false;
  std::string reason;         // why infeasible: noTarget, unknownClass, unconverged, slo, ...
  std::string outcome;        // "full" or "scaledToZero" when feasible
  int batch = 0;              // N
  long long queue = 0;        // Q
  int replicas = 0;           // r
  int required_replicas = 0;  // ⌈R / rate*⌉ before the minNumReplicas floor
  double cost = 0;            // c_g · a · r
  double objective = 0;       // objective coefficient (cost for the "cost" objective)
  double value = 0;           // objective plus the transition penalty (docs/optimizer.md §3)
  long long cards = 0;            // r · a · multiplicity, physical cards used
  double demand_rps = 0;      // R: total demand of the server
  double rate_per_replica_rps = 0;  // rate*: SLO-feasible accepted throughput of one replica
  double max_rpm = 0;               // 60 · rate*
  double itl_ms = 0, ttft_ms = 0;   // predicted at the actual per-replica load R / r
  double rho = 0, busy = 0, blocking_prob = 0;
  int units_per_replica = 0;  // a: profile units per replica (perf accCount)
  long long cards_per_replica = 0;  // a · multiplicity (each at most 1024)
  double power_w = 0;         // r · a · P_g(u) at the actual load; 0 when unknown
  bool power_known = false;   // the profile has a valid power curve
  // Outcome of the chosen allocation (filled by the solvers; a full candidate meets its SLOs).
  bool slo_met = false;
  bool saturated = false;       // demand above r · maxRPM
  double served_rpm = 0;        // accepted requests per minute over all replicas
  std::vector<Part> parts;      // heterogeneous allocations only
};

// The value of an allocation is its objective minus that of the server's current allocation,
// plus penalties for changing it (docs/optimizer.md §3). Its three parts, shared by the
// candidates' values, the exact MULTI model (which needs them linear) and heterogeneous
// allocations:

/// Objective coefficient of an allocation (docs/optimizer.md §5): its cost, its power, or
/// cost + powerPrice·power, as the options' `objective` says.
double objective_of(const OptimizerSpec& options, double cost, double power_w);
/// The current allocation's objective as values count it: its cost, or 0 when the objective is
/// power (unknown for the current allocation). A per-server constant: it shifts, never reorders.
double current_objective(const OptimizerSpec& options, double current_cost);
/// Weight of the change penalties: `changeWeight` when the objective is power (not in the
/// penalties' cost unit), else 1.
double change_penalty_weight(const OptimizerSpec& options);
/// The weighted penalty of moving to another accelerator profile whose allocation costs `new_cost`.
double accelerator_change_value(const OptimizerSpec& options, double current_cost, double new_cost);

/// Transition-penalised value of an allocation with objective coefficient `objective` (docs/optimizer.md §3):
/// 0 when profile and replicas are unchanged, else the objective change plus change penalties.
double transition_value(const System& system, const Server& server, const std::string& accelerator,
                        int replicas, double cost, double objective);

/// How the optimizer sizes one replica (QueueAnalyzer::max_rate options): the joint search only,
/// with an 8-point first scan. Its λ* equals the default search's within the 1e-10 tolerance.
queue::SizeOptions optimizer_size_options();

/// Power of one unit of `curve` at utilisation u in [0, 1] (docs/optimizer.md §5); nullopt if the curve is
/// not valid (0 < midUtil < 1, idle <= mid <= full, not all zero).
std::optional<double> unit_power_w(const PowerCurve& curve, double utilisation);

/// One replica's sizing (docs/optimizer.md §3), the one sizer behind both the optimizer's
/// candidates and sizing's open-loop recommendation (docs/sizing.md §5).
struct ReplicaSizing {
  int batch = 0;            // the batch cap chosen; 0: no cap meets the targets, even at vanishing load
  long long queue = 0;      // waiting room per replica (options' queue rule)
  double rate_rps = 0;      // largest throughput per replica within the targets (λ*), req/s
  int replicas = 0;         // replicas for the demand (at least min_replicas); 0: none can serve it
  int required_replicas = 0;  // for the demand alone
};

/// Sizes replicas of the model `full` analyses (built for batch caps up to at least n_hi): the
/// batch cap by options.batch_size_policy within [1, n_hi] (n_ref: the cap the reference policy
/// takes), the waiting room by the options' queue rule, λ* within `target`, then
/// ceil(demand / λ*) replicas.
ReplicaSizing size_replicas(std::shared_ptr<const queue::QueueAnalyzer> full, const ModelTarget& target,
                            double demand_rps, int min_replicas, int n_ref, int n_hi, const OptimizerSpec& options);

/// Metrics of `candidate`'s configuration (server, profile, N, Q) at another per-replica rate:
/// used for best-effort allocations (overload) and heterogeneous parts (load split).
queue::Metrics analyze_candidate(const System& system, const Candidate& candidate, double rate_rps);

/// The candidate with k replicas instead of its own r (k >= 1), metrics, cost, value and power
/// recomputed at the rate R/k. The result does not meet its SLOs when k < required replicas.
Candidate with_replicas(const System& system, const Candidate& candidate, int k);

/// Candidates of every server, in server order, then profile-name order. Options come from
/// System::options(); `threads` 0 = hardware concurrency. The result does not depend on it.
std::vector<Candidate> generate_candidates(const System& system, int threads = 0);

}  // namespace inferno::optimizer
