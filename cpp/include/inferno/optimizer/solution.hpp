#pragma once
// The result of an optimisation (docs/optimizer.md §4, §7) and the entry point that produces it.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "inferno/optimizer/candidates.hpp"
#include "inferno/optimizer/system.hpp"

namespace inferno::optimizer {

struct Unallocated {
  std::string server;
  std::string reason;  // noCandidates, capacity, ...
  std::string detail;
};

/// Use of one accelerator type, in the capacity's units (cards, or shares of a card for a type
/// with unitsPerCard); cards() converts to physical cards.
struct TypeUsage {
  long long units = 0;
  std::optional<long long> limit;  // in units; none in unlimited mode
  double cost = 0;
  int units_per_card = 1;  // 1: the units are whole cards
  long long slices = 0;    // replicas on less than a card (MIG instances)
  double cards() const { return static_cast<double>(units) / units_per_card; }
  std::optional<double> limit_cards() const {
    return limit ? std::optional<double>(static_cast<double>(*limit) / units_per_card) : std::nullopt;
  }
};

/// Move of one server from its current allocation to the chosen one.
struct Change {
  std::string from_accelerator, to_accelerator;  // "" = none
  int from_replicas = 0, to_replicas = 0;
  double cost_delta = 0;
};

/// What the solver did and how good its answer is, honestly (docs/optimizer.md §4.6, §4.7).
struct SolverReport {
  std::string algorithm;  // unlimited, greedy, milp-single, milp-single-lex, milp-multi
  /// exact (separable unlimited), heuristic (greedy), optimal, feasible (limit hit, incumbent),
  /// infeasible, timeLimitNoSolution, error
  std::string status;
  std::optional<double> objective, bound, gap;
  double time_ms = 0;
  std::string fallback;  // "greedy" when an exact attempt produced nothing better
  std::string message;
  std::optional<double> greedy_objective;  // J of the greedy's full assignment, when one ran
  /// Servers the greedy left without a full allocation: its objective is then not comparable.
  std::optional<int> greedy_unserved;
};

struct Solution {
  bool limited = true;
  /// The chosen allocation of every served server, in server order: a candidate with outcome
  /// full, bestEffort (metrics recomputed at the overload) or scaledToZero.
  std::vector<Candidate> allocations;
  std::vector<Unallocated> unallocated;  // in server order
  double total_cost = 0;
  double total_power_w = 0;
  bool power_known = true;  // every allocation's profile has a valid power curve
  double total_value = 0;
  std::map<std::string, TypeUsage> by_type;
  std::map<std::string, Change> diff;  // every server, allocated or not
  SolverReport solver;
  std::string status;  // ok (every server full or scaled to zero) or partial
  std::vector<Diagnostic> diagnostics;
};

/// Orders candidates of one server: value, then cost, cards and profile name (docs/optimizer.md §4.3).
bool candidate_before(const Candidate& a, const Candidate& b);

/// Solves with the solver and mode of system.options() (solver, unlimited, heterogeneous,
/// saturationPolicy, delayedBestEffort, MILP limits) over precomputed candidates.
Solution optimize(const System& system, const std::vector<Candidate>& candidates);

/// Candidates, then optimize().
Solution optimize(const System& system);

/// The system after the solution is deployed (docs/optimizer.md §4.7): every server's current allocation
/// becomes its chosen one (accelerator, replicas, batch, cost, predicted ITL/TTFT; its load kept),
/// and a server without an allocation has none. The next optimisation charges transition
/// penalties from there.
System apply(const System& system, const Solution& solution);

}  // namespace inferno::optimizer
