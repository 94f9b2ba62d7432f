// Exact models solved with HiGHS (docs/optimizer.md §4.5, §4.6): SINGLE, SINGLE-LEX and MULTI, with
// an honest status, a shared time budget, post-solve verification and a canonical optimum.
#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <stdexcept>

#include "inferno/error.hpp"
#include "inferno/optimizer/highs_info.hpp"
#include "interfaces/highs_c_api.h"
#include "solvers.hpp"

namespace inferno::optimizer::detail {

namespace {

// HighsModelStatus::kMemoryLimit, which the C header does not name.
constexpr HighsInt kHighsModelStatusMemoryLimit = 18;

// A MILP in row-wise sparse form, built incrementally.
struct Model {
  double offset = 0;  // objective constant
  std::vector<double> cost, lower, upper;
  std::vector<HighsInt> integrality;
  std::vector<double> row_lower, row_upper;
  std::vector<HighsInt> start, index;
  std::vector<double> value;

  int add_col(double c, double lo, double hi, bool integer) {
    cost.push_back(c);
    lower.push_back(lo);
    upper.push_back(hi);
    integrality.push_back(integer ? kHighsVarTypeInteger : kHighsVarTypeContinuous);
    return static_cast<int>(cost.size()) - 1;
  }
  void add_row(double lo, double hi, const std::vector<std::pair<int, double>>& terms) {
    start.push_back(static_cast<HighsInt>(index.size()));
    for (const auto& [col, coef] : terms) {
      index.push_back(col);
      value.push_back(coef);
    }
    row_lower.push_back(lo);
    row_upper.push_back(hi);
  }
  std::size_t cols() const { return cost.size(); }
};

struct Run {
  std::string status;  // optimal, feasible, infeasible, timeLimitNoSolution, error
  std::vector<double> x;
  double objective = 0;
  std::optional<double> bound, gap;
  std::string message;
};

constexpr double kInfinity = 1e30;  // HiGHS treats |bound| >= 1e20 as infinite

double remaining_sec(Clock::time_point deadline) {
  return std::chrono::duration<double>(deadline - Clock::now()).count();
}

Run run(const Model& m, const OptimizerSpec& o, Clock::time_point deadline, const std::vector<double>* start) {
  Run r;
  const double budget = remaining_sec(deadline);
  if (m.cols() == 0) {  // nothing to decide: never call HiGHS on an empty model
    r.status = "optimal";
    return r;
  }
  if (!(budget > 0)) {
    r.status = "timeLimitNoSolution";
    r.message = "the MILP time budget (milpTimeLimitSec) was used up before this solve";
    return r;
  }
  std::unique_ptr<void, void (*)(void*)> h(Highs_create(), Highs_destroy);
  if (!h) throw std::runtime_error("HiGHS: cannot create a solver instance");
  if (Highs_getSizeofHighsInt(h.get()) != sizeof(HighsInt))
    throw std::runtime_error("HiGHS: the loaded libhighs (" + std::string(Highs_version()) + ") uses " +
                             std::to_string(8 * Highs_getSizeofHighsInt(h.get())) + "-bit HighsInt, but inferno was "
                             "compiled against HiGHS headers with " + std::to_string(8 * sizeof(HighsInt)) + "-bit HighsInt");
  Highs_setBoolOptionValue(h.get(), "output_flag", 0);
  Highs_setDoubleOptionValue(h.get(), "time_limit", budget);
  Highs_setDoubleOptionValue(h.get(), "mip_rel_gap", 0.0);
  Highs_setDoubleOptionValue(h.get(), "mip_abs_gap", o.mip_abs_gap);
  Highs_setIntOptionValue(h.get(), "threads", std::max(1, o.milp_threads));
  Highs_setIntOptionValue(h.get(), "random_seed", 0);
  if (o.milp_node_limit > 0) Highs_setIntOptionValue(h.get(), "mip_max_nodes", o.milp_node_limit);
  const auto cols = static_cast<HighsInt>(m.cols());
  const auto rows = static_cast<HighsInt>(m.row_lower.size());
  if (Highs_passMip(h.get(), cols, rows, static_cast<HighsInt>(m.index.size()), kHighsMatrixFormatRowwise,
                    kHighsObjSenseMinimize, m.offset, m.cost.data(), m.lower.data(), m.upper.data(),
                    m.row_lower.data(), m.row_upper.data(), m.start.data(), m.index.data(), m.value.data(),
                    m.integrality.data()) == kHighsStatusError) {
    r.status = "error";
    r.message = "HiGHS rejected the model";
    return r;
  }
  if (start) Highs_setSolution(h.get(), start->data(), nullptr, nullptr, nullptr);
  if (Highs_run(h.get()) == kHighsStatusError) {
    r.status = "error";
    r.message = "HiGHS run failed";
  }
  const HighsInt status = Highs_getModelStatus(h.get());
  HighsInt primal = 0;
  Highs_getIntInfoValue(h.get(), "primal_solution_status", &primal);
  double bound = 0, gap = 0;
  Highs_getDoubleInfoValue(h.get(), "mip_dual_bound", &bound);
  Highs_getDoubleInfoValue(h.get(), "mip_gap", &gap);
  const bool has_primal = primal == kHighsSolutionStatusFeasible;
  if (status == kHighsModelStatusOptimal && has_primal) {
    r.status = "optimal";
  } else if (status == kHighsModelStatusTimeLimit || status == kHighsModelStatusIterationLimit || status == kHighsModelStatusSolutionLimit ||
             status == kHighsModelStatusInterrupt || status == kHighsModelStatusMemoryLimit) {
    r.status = has_primal ? "feasible" : "timeLimitNoSolution";
    r.message = "HiGHS stopped at a limit (model status " + std::to_string(status) + ")";
  } else if (status == kHighsModelStatusInfeasible) {
    r.status = "infeasible";
  } else {
    r.status = "error";
    r.message = "HiGHS model status " + std::to_string(status);
  }
  if (r.status == "optimal" || r.status == "feasible") {
    r.x.assign(m.cols(), 0.0);
    Highs_getSolution(h.get(), r.x.data(), nullptr, nullptr, nullptr);
    r.objective = Highs_getObjectiveValue(h.get());
    if (std::isfinite(bound)) r.bound = bound;
    if (std::isfinite(gap)) r.gap = gap;
    if (r.status == "optimal") r.bound = r.objective;
  }
  return r;
}

// Rounds the solution, rejecting any variable more than 1e-6 from an integer (docs/optimizer.md §4.6); a
// rejection makes the outcome an error.
bool integral(const Model& m, const std::vector<double>& x, std::vector<long long>& v, MilpOutcome& out) {
  v.resize(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double r = std::round(x[i]);
    if (m.integrality[i] == kHighsVarTypeInteger && std::abs(x[i] - r) > 1e-6) {
      out.report.status = "error";
      out.report.message = "post-solve check: column " + std::to_string(i) + " = " + format_number(x[i]) + " is not integral";
      return false;
    }
    v[i] = static_cast<long long>(r);
  }
  return true;
}

Capacity capacity_of(const System& sys) {
  Capacity cap;
  for (const auto& [type, cards] : sys.capacity()) cap[type] = cards;
  return cap;
}

// Distinct priorities of the servers in the model, ascending.
std::vector<int> priorities(const std::vector<ServerCandidates>& groups) {
  std::set<int> p;
  for (const auto& g : groups)
    if (!g.full.empty()) p.insert(g.priority);
  return {p.begin(), p.end()};
}

// Post-solve capacity check in integers; marks the outcome as an error when it fails.
bool within_capacity(const System& sys, const std::vector<ServerCandidates>& groups, MilpOutcome& out) {
  for (const auto& [type, cards] : remaining_capacity(sys, groups, out.assignment))
    if (cards < 0) {
      out.report.status = "error";
      out.report.message = "post-solve check: capacity of type " + type + " exceeded by " + std::to_string(-cards) + " cards";
      return false;
    }
  return true;
}

}  // namespace

MilpOutcome solve_single(const System& sys, const std::vector<ServerCandidates>& groups, bool limited,
                         bool lexicographic, const Assignment* warm, Clock::time_point deadline) {
  const OptimizerSpec& o = sys.options();
  MilpOutcome out;
  out.report.algorithm = lexicographic ? "milp-single-lex" : "milp-single";
  const auto began = Clock::now();

  // Columns x_ij, one per full candidate; remember (server, candidate index) per column.
  Model base;
  std::vector<std::pair<std::size_t, int>> col_of;
  std::vector<std::vector<int>> cols_by_server(groups.size());
  for (const auto& g : groups)
    for (std::size_t j = 0; j < g.full.size(); ++j) {
      cols_by_server[g.server].push_back(base.add_col(g.full[j]->value, 0, 1, true));
      col_of.emplace_back(g.server, static_cast<int>(j));
    }
  for (const auto& g : groups) {
    if (g.full.empty()) continue;
    std::vector<std::pair<int, double>> terms;
    for (int c : cols_by_server[g.server]) terms.emplace_back(c, 1.0);
    base.add_row(lexicographic ? 0.0 : 1.0, 1.0, terms);
  }
  const Capacity cap = capacity_of(sys);
  std::map<std::string, std::vector<std::pair<int, double>>> by_type;
  for (std::size_t c = 0; c < col_of.size(); ++c) {
    const Candidate& cand = *groups[col_of[c].first].full[static_cast<std::size_t>(col_of[c].second)];
    by_type[cand.type].emplace_back(static_cast<int>(c), cand.cards);
  }
  if (limited)
    for (const auto& [type, terms] : by_type) {
      const auto it = cap.find(type);
      base.add_row(-kInfinity, it == cap.end() ? 0.0 : static_cast<double>(it->second), terms);
    }

  std::vector<double> start;
  if (warm) {
    start.assign(base.cols(), 0.0);
    for (const auto& g : groups)
      if (warm->full[g.server] >= 0) start[static_cast<std::size_t>(cols_by_server[g.server][static_cast<std::size_t>(warm->full[g.server])])] = 1.0;
  }
  const std::vector<double>* start_ptr = warm ? &start : nullptr;

  // Count rows Σ_{i in I_p} Σ_j x_ij >= S*_p of the lexicographic stages.
  auto count_terms = [&](int priority) {
    std::vector<std::pair<int, double>> terms;
    for (const auto& g : groups)
      if (g.priority == priority)
        for (int c : cols_by_server[g.server]) terms.emplace_back(c, 1.0);
    return terms;
  };
  Model model = base;
  bool proven = true;
  if (lexicographic) {
    for (int p : priorities(groups)) {
      Model stage = model;
      std::fill(stage.cost.begin(), stage.cost.end(), 0.0);
      stage.offset = 0;
      for (const auto& [c, coef] : count_terms(p)) stage.cost[static_cast<std::size_t>(c)] = -coef;
      Run r = run(stage, o, deadline, start_ptr);
      if (r.status != "optimal" && r.status != "feasible") {
        out.report.status = r.status;
        out.report.message = "priority " + std::to_string(p) + " stage: " + r.message;
        out.report.time_ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
        return out;
      }
      proven = proven && r.status == "optimal";
      const double served = std::round(-r.objective);
      model.add_row(served, kInfinity, count_terms(p));
    }
  }
  Run r = run(model, o, deadline, start_ptr);
  if (r.status != "optimal" && r.status != "feasible") {
    out.report.status = r.status;
    out.report.message = r.message;
    out.report.time_ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
    return out;
  }
  proven = proven && r.status == "optimal";
  out.report.status = proven ? "optimal" : "feasible";
  out.report.objective = r.objective;
  out.report.bound = proven ? r.objective : r.bound;
  out.report.gap = proven ? std::optional<double>(0.0) : r.gap;
  out.report.message = r.message;

  // Canonical optimum: among the optima, the smallest total candidate rank (docs/optimizer.md §4.6).
  if (proven && o.milp_canonical && model.cols() > 0) {
    Model canon = model;
    std::vector<std::pair<int, double>> objective_row;
    for (std::size_t c = 0; c < col_of.size(); ++c) {
      canon.cost[c] = col_of[c].second;
      objective_row.emplace_back(static_cast<int>(c), model.cost[c]);
    }
    canon.add_row(-kInfinity, r.objective + o.mip_abs_gap, objective_row);
    Run cr = run(canon, o, deadline, &r.x);
    if (cr.status == "optimal") r.x = cr.x;
  }

  std::vector<long long> x;
  if (!integral(model, r.x, x, out)) return out;
  out.assignment = empty_assignment(groups.size());
  for (std::size_t c = 0; c < col_of.size(); ++c) {
    if (x[c] == 0) continue;
    if (x[c] != 1 || out.assignment.full[col_of[c].first] >= 0) {
      out.report.status = "error";
      out.report.message = "post-solve check: server " + sys.servers()[col_of[c].first].name + " has more than one profile";
      return out;
    }
    out.assignment.full[col_of[c].first] = col_of[c].second;
  }
  for (const auto& g : groups)
    if (!g.full.empty() && out.assignment.full[g.server] < 0) {
      if (!lexicographic) {
        out.report.status = "error";
        out.report.message = "post-solve check: server " + sys.servers()[g.server].name + " is not assigned";
        return out;
      }
      out.assignment.unserved.push_back(g.server);
    }
  if (limited && !within_capacity(sys, groups, out)) return out;
  out.report.time_ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
  out.has_solution = true;
  return out;
}

MilpOutcome solve_multi(const System& sys, const std::vector<ServerCandidates>& groups, bool limited,
                        Clock::time_point deadline) {
  const OptimizerSpec& o = sys.options();
  MilpOutcome out;
  out.report.algorithm = "milp-multi";
  const auto began = Clock::now();
  // accelerator_change_value, linear in the costs: φ·cost_a on w (the current profile given up)
  // plus φ·cost per replica of another profile.
  const double phi = change_penalty_weight(o) * o.accelerator_change_penalty;

  Model m;
  struct Col {
    std::size_t server;
    int cand;
  };
  std::vector<Col> y_cols;  // per column: the candidate whose replicas it counts, or -1
  std::map<std::string, std::vector<std::pair<int, double>>> by_type;
  for (const auto& g : groups) {
    if (g.full.empty()) continue;
    const Server& s = sys.servers()[g.server];
    std::vector<std::pair<int, double>> demand, count, zs;
    int w = -1;
    const double cost_a = sys.current_cost(s);
    m.offset -= current_objective(o, cost_a);  // J counts the change from the current objective
    if (phi > 0 && !s.current.accelerator.empty()) w = m.add_col(phi * cost_a, 0, 1, true);
    for (std::size_t j = 0; j < g.full.size(); ++j) {
      const Candidate& c = *g.full[j];
      const double per_replica = c.objective / c.replicas;
      const bool other = c.accelerator != s.current.accelerator;
      const double penalty = other ? phi * c.cost / c.replicas : 0.0;
      const int y = m.add_col(per_replica + penalty, 0, c.replicas, true);
      const int z = m.add_col(0, 0, 1, true);
      y_cols.resize(m.cols(), {g.server, -1});  // w and z columns are not replicas
      y_cols[static_cast<std::size_t>(y)] = {g.server, static_cast<int>(j)};
      demand.emplace_back(y, c.rate_per_replica_rps);
      count.emplace_back(y, 1.0);
      zs.emplace_back(z, 1.0);
      by_type[c.type].emplace_back(y, c.cards_per_replica);
      m.add_row(-kInfinity, 0, {{y, 1.0}, {z, -static_cast<double>(c.replicas)}});  // y <= U z
      if (w >= 0 && other) m.add_row(-kInfinity, 0, {{z, 1.0}, {w, -1.0}});
    }
    const double demand_rps = g.full.front()->demand_rps;
    if (demand_rps > 0) m.add_row(demand_rps, kInfinity, demand);
    if (s.min_replicas > 0) m.add_row(s.min_replicas, kInfinity, count);
    if (o.max_profiles_per_server > 0) m.add_row(-kInfinity, o.max_profiles_per_server, zs);
  }
  const Capacity cap = capacity_of(sys);
  if (limited)
    for (const auto& [type, terms] : by_type) {
      const auto it = cap.find(type);
      m.add_row(-kInfinity, it == cap.end() ? 0.0 : static_cast<double>(it->second), terms);
    }
  Run r = run(m, o, deadline, nullptr);
  out.report.status = r.status;
  out.report.message = r.message;
  out.report.time_ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
  if (r.status != "optimal" && r.status != "feasible") return out;
  out.report.objective = r.objective;
  out.report.bound = r.bound;
  out.report.gap = r.status == "optimal" ? std::optional<double>(0.0) : r.gap;

  std::vector<long long> x;
  if (!integral(m, r.x, x, out)) return out;
  out.assignment = empty_assignment(groups.size());
  for (std::size_t c = 0; c < y_cols.size(); ++c)
    if (y_cols[c].cand >= 0 && x[c] > 0)
      out.assignment.parts[y_cols[c].server].emplace_back(y_cols[c].cand, static_cast<int>(x[c]));
  for (const auto& g : groups) {
    if (g.full.empty()) continue;
    double served = 0;
    long long replicas = 0;
    for (const auto& [j, y] : out.assignment.parts[g.server]) {
      served += g.full[static_cast<std::size_t>(j)]->rate_per_replica_rps * y;
      replicas += y;
    }
    const double demand_rps = g.full.front()->demand_rps;
    if (served < demand_rps * (1 - 1e-9) || replicas < sys.servers()[g.server].min_replicas || replicas == 0) {
      out.report.status = "error";
      out.report.message = "post-solve check: server " + sys.servers()[g.server].name + " is under-served";
      return out;
    }
  }
  if (limited && !within_capacity(sys, groups, out)) return out;
  out.has_solution = true;
  return out;
}

}  // namespace inferno::optimizer::detail

namespace inferno::optimizer {

HighsVersions highs_versions() {
  return {std::to_string(HIGHS_VERSION_MAJOR) + "." + std::to_string(HIGHS_VERSION_MINOR) + "." +
              std::to_string(HIGHS_VERSION_PATCH),
          Highs_version()};
}

}  // namespace inferno::optimizer
