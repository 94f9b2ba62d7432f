// optimize(): runs the solver chosen by the options (docs/optimizer.md §4.1, §4.7) and turns its
// assignment into a Solution with the common post-processing of docs/optimizer.md §4.7.
#include <algorithm>
#include <set>
#include <tuple>

#include "inferno/error.hpp"
#include "solvers.hpp"

namespace inferno::optimizer {

bool candidate_before(const Candidate& a, const Candidate& b) {
  return std::tie(a.value, a.cost, a.cards, a.accelerator) < std::tie(b.value, b.cost, b.cards, b.accelerator);
}

namespace detail {

std::vector<ServerCandidates> group_candidates(const System& sys, const std::vector<Candidate>& candidates) {
  std::vector<ServerCandidates> groups(sys.servers().size());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    groups[i].server = i;
    const ServiceClass* c = sys.find_class(sys.servers()[i].service_class);
    groups[i].priority = c ? c->priority : 100;
  }
  for (const Candidate& c : candidates) {
    if (c.server_index >= groups.size() || sys.servers()[c.server_index].name != c.server)
      throw InvalidArgument("candidate of server '" + c.server + "' does not belong to this system");
    ServerCandidates& g = groups[c.server_index];
    g.all.push_back(&c);
    if (!c.feasible) continue;
    if (c.outcome == "scaledToZero") g.zero = &c;
    else if (c.replicas >= 1) g.full.push_back(&c);
  }
  for (auto& g : groups)
    std::stable_sort(g.full.begin(), g.full.end(), [](const Candidate* a, const Candidate* b) { return candidate_before(*a, *b); });
  return groups;
}

Capacity remaining_capacity(const System& sys, const std::vector<ServerCandidates>& groups, const Assignment& a) {
  Capacity left;
  for (const auto& [type, cards] : sys.capacity()) left[type] = cards;
  for (const auto& g : groups) {
    if (a.full[g.server] >= 0) {
      const Candidate& c = *g.full[static_cast<std::size_t>(a.full[g.server])];
      left[c.type] -= c.cards;
    }
    if (a.partial[g.server]) left[a.partial[g.server]->type] -= a.partial[g.server]->cards;
    for (const auto& [j, y] : a.parts[g.server]) {
      const Candidate& c = *g.full[static_cast<std::size_t>(j)];
      left[c.type] -= static_cast<long long>(y) * c.cards_per_replica;
    }
  }
  return left;
}

std::vector<int> service_vector(const std::vector<ServerCandidates>& groups, const Assignment& a) {
  std::map<int, int> served;
  for (const auto& g : groups)
    if (!g.full.empty()) served[g.priority] += a.full[g.server] >= 0 || !a.parts[g.server].empty() ? 1 : 0;
  std::vector<int> out;
  for (const auto& [p, n] : served) out.push_back(n);
  return out;
}

double full_value(const std::vector<ServerCandidates>& groups, const Assignment& a) {
  double j = 0;
  for (const auto& g : groups)
    if (a.full[g.server] >= 0) j += g.full[static_cast<std::size_t>(a.full[g.server])]->value;
  return j;
}

}  // namespace detail

namespace {

using namespace detail;

// "slo on A100, L4; unconverged on G2": why a server has no feasible candidate.
std::string reasons_of(const std::vector<const Candidate*>& rows) {
  std::map<std::string, std::vector<std::string>> by_reason;
  for (const Candidate* c : rows) by_reason[c->reason].push_back(c->accelerator);
  std::string out;
  for (const auto& [reason, accs] : by_reason) {
    out += (out.empty() ? "" : "; ") + reason;
    std::string names;
    for (const auto& a : accs)
      if (!a.empty()) names += (names.empty() ? "" : ", ") + a;
    if (!names.empty()) out += " on " + names;
  }
  return out;
}

// One allocation from several profiles: parts with the load split of docs/optimizer.md §4.5.
Candidate heterogeneous(const System& sys, const ServerCandidates& g, const std::vector<std::pair<int, int>>& parts) {
  if (parts.size() == 1) {
    const Candidate& c = *g.full[static_cast<std::size_t>(parts[0].first)];
    return parts[0].second == c.replicas ? c : with_replicas(sys, c, parts[0].second);
  }
  const Server& s = sys.servers()[g.server];
  const OptimizerSpec& o = sys.options();
  double capacity_rps = 0;
  for (const auto& [j, y] : parts) capacity_rps += g.full[static_cast<std::size_t>(j)]->rate_per_replica_rps * y;
  Candidate out;
  const Candidate* primary = nullptr;
  double objective = 0;
  bool changes_profile = false;
  double changed_cost = 0;
  out.power_known = true;
  for (const auto& [j, y] : parts) {
    const Candidate& c = *g.full[static_cast<std::size_t>(j)];
    const AcceleratorProfile& profile = *sys.find_accelerator(c.accelerator);
    const double share = c.rate_per_replica_rps * y / capacity_rps;
    const double rate = c.demand_rps > 0 ? c.demand_rps * c.rate_per_replica_rps / capacity_rps : c.rate_per_replica_rps;
    const queue::Metrics met = analyze_candidate(sys, c, rate);
    const auto unit = unit_power_w(profile.power,
                                   o.power_utilization == PowerUtilization::busy ? met.busy_prob : met.rho);
    Part p{c.accelerator, c.type, y, c.batch, c.queue, y * c.cards_per_replica, profile.cost * c.units_per_replica * y, rate,
           met.itl_ms, met.ttft_ms, met.rho, unit ? y * c.units_per_replica * *unit : 0.0};
    out.power_known = out.power_known && unit.has_value();
    out.replicas += y;
    out.cost += p.cost;
    out.cards += p.cards;
    out.power_w += p.power_w;
    out.itl_ms += share * met.itl_ms;
    out.ttft_ms += share * met.ttft_ms;
    out.rho += share * met.rho;
    out.busy += share * met.busy_prob;
    out.blocking_prob += share * met.loss_prob;
    out.served_rpm += 60.0 * y * met.throughput_rps;
    out.max_rpm += 60.0 * y * c.rate_per_replica_rps;
    objective += objective_of(o, p.cost, p.power_w);
    if (c.accelerator != s.current.accelerator) {
      changes_profile = true;
      changed_cost += p.cost;
    }
    out.parts.push_back(p);
  }
  // Primary part: the largest cost, ties by name.
  std::size_t best = 0;
  for (std::size_t i = 1; i < out.parts.size(); ++i)
    if (std::tie(out.parts[i].cost, out.parts[best].accelerator) > std::tie(out.parts[best].cost, out.parts[i].accelerator)) best = i;
  for (const auto& [j, y] : parts)
    if (g.full[static_cast<std::size_t>(j)]->accelerator == out.parts[best].accelerator) primary = g.full[static_cast<std::size_t>(j)];
  out.server = primary->server;
  out.server_index = primary->server_index;
  out.accelerator = primary->accelerator;
  out.type = primary->type;
  out.service_model = primary->service_model;
  out.batch = primary->batch;
  out.queue = primary->queue;
  out.demand_rps = primary->demand_rps;
  out.rate_per_replica_rps = capacity_rps / out.replicas;  // mean over the parts
  out.max_rpm /= out.replicas;
  out.required_replicas = out.replicas;
  out.units_per_replica = primary->units_per_replica;
  out.cards_per_replica = primary->cards_per_replica;
  out.objective = objective;
  const double cost_a = sys.current_cost(s);
  out.value = objective - current_objective(o, cost_a) +
              (changes_profile ? accelerator_change_value(o, cost_a, changed_cost) : 0.0);
  out.feasible = true;
  out.outcome = "full";
  out.slo_met = true;
  return out;
}

Solution finish(const System& sys, const std::vector<ServerCandidates>& groups, const Assignment& a, bool limited,
                SolverReport report) {
  Solution out;
  out.limited = limited;
  out.solver = std::move(report);
  if (limited)
    for (const auto& [type, units] : sys.capacity()) out.by_type[type].limit = units;
  bool all_served = true;
  for (const auto& g : groups) {
    const Server& s = sys.servers()[g.server];
    std::optional<Candidate> chosen;
    if (g.zero) {
      chosen = *g.zero;
      chosen->slo_met = true;
    } else if (!a.parts[g.server].empty()) {
      chosen = heterogeneous(sys, g, a.parts[g.server]);
    } else if (a.full[g.server] >= 0) {
      chosen = *g.full[static_cast<std::size_t>(a.full[g.server])];
    } else if (a.partial[g.server]) {
      chosen = *a.partial[g.server];
    }
    Change change;
    change.from_accelerator = s.current.accelerator;
    change.from_replicas = s.current.num_replicas;
    const double cost_before = sys.current_cost(s);
    if (!chosen) {
      all_served = false;
      if (g.full.empty()) out.unallocated.push_back({s.name, "noCandidates", reasons_of(g.all)});
      else out.unallocated.push_back({s.name, "capacity", "no capacity left for any of its " + std::to_string(g.full.size()) + " feasible candidates"});
      change.cost_delta = -cost_before;
    } else {
      if (chosen->outcome == "bestEffort") all_served = false;
      out.total_cost += chosen->cost;
      out.total_value += chosen->value;
      out.total_power_w += chosen->power_w;
      if (chosen->replicas > 0 && !chosen->power_known) out.power_known = false;
      if (chosen->parts.empty() && chosen->replicas > 0) {
        TypeUsage& use = out.by_type[chosen->type];
        use.units += chosen->cards;
        use.cost += chosen->cost;
        if (chosen->cards_per_replica < sys.units_per_card(chosen->type)) use.slices += chosen->replicas;
      }
      for (const Part& p : chosen->parts) {
        TypeUsage& use = out.by_type[p.type];
        use.units += p.cards;
        use.cost += p.cost;
        if (p.replicas > 0 && p.cards < static_cast<long long>(p.replicas) * sys.units_per_card(p.type)) use.slices += p.replicas;
      }
      change.to_accelerator = chosen->accelerator;
      change.to_replicas = chosen->replicas;
      change.cost_delta = chosen->cost - cost_before;
      out.allocations.push_back(std::move(*chosen));
    }
    out.diff[s.name] = change;
  }
  out.status = all_served ? "ok" : "partial";
  for (auto& [type, use] : out.by_type) use.units_per_card = sys.units_per_card(type);
  if (limited)
    for (const auto& [type, use] : out.by_type)
      if (use.units > use.limit.value_or(0)) {
        out.status = "error";
        out.diagnostics.push_back({"allocationByType." + type, "post-check failed: " + std::to_string(use.units) +
                                                                  " units used, capacity " + std::to_string(use.limit.value_or(0))});
      }
  if (!out.power_known)
    out.diagnostics.push_back({"totalPower", "some allocated profiles have no valid power curve; their power counts as 0"});
  for (const auto& d : sys.diagnostics()) out.diagnostics.push_back(d);
  return out;
}

// J of the full and heterogeneous allocations of an assignment.
double assignment_value(const System& sys, const std::vector<ServerCandidates>& groups, const Assignment& a) {
  double j = full_value(groups, a);
  for (const auto& g : groups)
    if (!a.parts[g.server].empty()) j += heterogeneous(sys, g, a.parts[g.server]).value;
  return j;
}

Assignment separable(const std::vector<ServerCandidates>& groups) {
  Assignment a = empty_assignment(groups.size());
  for (const auto& g : groups)
    if (!g.full.empty()) a.full[g.server] = 0;
  return a;
}

bool better(const std::vector<int>& served_m, double j_m, const std::vector<int>& served_g, double j_g) {
  if (served_m != served_g) return served_m > served_g;  // lexicographic, higher priority first
  return j_m < j_g - 1e-9 * std::max(1.0, std::abs(j_g));
}

}  // namespace

Solution optimize(const System& sys, const std::vector<Candidate>& candidates) {
  const OptimizerSpec& o = sys.options();
  const auto began = Clock::now();
  // The budget is capped at a year so that the deadline cannot overflow the clock's range.
  const double budget_sec = std::min(o.milp_time_limit_sec, 365.0 * 86400.0);
  const auto deadline = began + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(budget_sec));
  const std::vector<ServerCandidates> groups = group_candidates(sys, candidates);
  const bool limited = !o.unlimited && o.solver != Solver::unlimited;
  SolverReport report;
  Assignment chosen;
  auto elapsed_ms = [&] { return std::chrono::duration<double, std::milli>(Clock::now() - began).count(); };

  if (!limited) {
    const bool exact_model = o.solver == Solver::milp || (o.heterogeneous && o.solver == Solver::automatic);
    bool solved = false;
    if (exact_model) {
      MilpOutcome m = o.heterogeneous ? solve_multi(sys, groups, false, deadline)
                                      : solve_single(sys, groups, false, false, nullptr, deadline);
      report = m.report;
      solved = m.has_solution;
      if (solved) chosen = std::move(m.assignment);
    }
    if (!solved) {
      chosen = separable(groups);
      if (exact_model) report.fallback = "unlimited";
      else report = SolverReport{"unlimited", "exact", full_value(groups, chosen), full_value(groups, chosen), 0.0, 0, "", "", std::nullopt, std::nullopt};
    }
  } else if (o.solver == Solver::greedy) {
    chosen = greedy(sys, groups, true);
    report.algorithm = "greedy";
    report.status = "heuristic";
    // Never leave a server under-served when a full assignment exists (ours; the reference
    // presets turn it off with greedyRefine): when the refined greedy still misses servers, ask
    // SINGLE-LEX whether more fit in full, and fall back to its assignment if they do. Not with
    // interleaved best effort (delayedBestEffort false and a policy): there, partial capacity for
    // priority p before full allocations of p+1 is the requested schedule.
    const bool interleaved = !o.delayed_best_effort && o.saturation_policy != SaturationPolicy::none;
    if (o.greedy_refine && !interleaved && !chosen.unserved.empty()) {
      MilpOutcome m = solve_single(sys, groups, true, true, &chosen, deadline);
      if (m.has_solution && service_vector(groups, m.assignment) > service_vector(groups, chosen)) {
        const std::size_t missed = chosen.unserved.size();
        chosen = std::move(m.assignment);
        chosen.unserved.clear();
        for (std::size_t s : initial_order(sys, groups))
          if (chosen.full[s] < 0) chosen.unserved.push_back(s);
        Capacity left = remaining_capacity(sys, groups, chosen);
        best_effort(sys, groups, chosen.unserved, o.saturation_policy, left, chosen);
        report.fallback = m.report.algorithm;
        report.message = "the greedy left " + std::to_string(missed) + " server(s) without a full allocation; " +
                         m.report.algorithm + " (" + m.report.status + ") serves more in full";
      }
    }
    report.objective = full_value(groups, chosen);
  } else {  // auto or milp
    Assignment g = greedy(sys, groups, false);
    const double j_g = assignment_value(sys, groups, g);
    MilpOutcome m;
    if (o.heterogeneous) {
      m = solve_multi(sys, groups, true, deadline);
      if (m.report.status == "infeasible") {
        const std::string note = "MULTI is infeasible: not every server can be served in full; ";
        m = solve_single(sys, groups, true, true, &g, deadline);
        m.report.message = note + m.report.message;
      }
    } else {
      const bool all_full = g.unserved.empty();
      m = solve_single(sys, groups, true, !all_full, &g, deadline);
      if (all_full && m.report.status == "infeasible") m = solve_single(sys, groups, true, true, &g, deadline);
    }
    report = m.report;
    report.greedy_objective = j_g;
    report.greedy_unserved = static_cast<int>(g.unserved.size());
    const bool take_milp =
        m.has_solution && (o.solver == Solver::milp || better(service_vector(groups, m.assignment),
                                                        assignment_value(sys, groups, m.assignment),
                                                        service_vector(groups, g), j_g));
    if (take_milp) {
      chosen = std::move(m.assignment);
      chosen.unserved.clear();
      for (std::size_t s : initial_order(sys, groups))
        if (chosen.full[s] < 0 && chosen.parts[s].empty()) chosen.unserved.push_back(s);
    } else {
      chosen = std::move(g);
      report.fallback = "greedy";
      if (!m.has_solution && report.message.empty()) report.message = "no MILP solution: " + report.status;
      report.objective = j_g;
    }
    // Best effort after every full assignment (delayed semantics, docs/optimizer.md §4.7 step 4).
    Capacity left = remaining_capacity(sys, groups, chosen);
    best_effort(sys, groups, chosen.unserved, o.saturation_policy, left, chosen);
  }
  report.time_ms = elapsed_ms();
  return finish(sys, groups, chosen, limited, std::move(report));
}

Solution optimize(const System& sys) { return optimize(sys, generate_candidates(sys, sys.options().threads)); }

System apply(const System& sys, const Solution& solution) {
  System out = sys;
  std::map<std::string, const Candidate*> chosen;
  for (const Candidate& c : solution.allocations) chosen[c.server] = &c;
  for (Server& s : out.servers_) {
    AllocationData next;
    next.load = s.current.load;
    const auto it = chosen.find(s.name);
    if (it != chosen.end() && it->second->replicas > 0) {
      const Candidate& c = *it->second;
      next.accelerator = c.accelerator;
      next.num_replicas = c.replicas;
      next.max_batch = c.batch;
      next.cost = c.cost;
      next.itl_ms = c.itl_ms;
      next.ttft_ms = c.ttft_ms;
    } else {
      next.cost = 0.0;  // nothing deployed: no current cost
    }
    s.current = next;
  }
  return out;
}

}  // namespace inferno::optimizer
