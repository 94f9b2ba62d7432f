#pragma once
// Internal interface shared by the solvers (docs/optimizer.md §4): candidates grouped by server,
// capacities, assignments, the greedy and the HiGHS models.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "inferno/optimizer/solution.hpp"

namespace inferno::optimizer::detail {

/// The candidates of one server (aligned with System::servers()).
struct ServerCandidates {
  std::size_t server = 0;
  int priority = 100;
  std::vector<const Candidate*> full;  // feasible candidates with r >= 1, in candidate-key order
  const Candidate* zero = nullptr;     // the scaled-to-zero outcome, if any
  std::vector<const Candidate*> all;   // every row, for the reasons of an unallocated server
};

std::vector<ServerCandidates> group_candidates(const System& system, const std::vector<Candidate>& candidates);

using Capacity = std::map<std::string, long long>;  // cards available per type

/// Full and partial assignment of every server.
struct Assignment {
  std::vector<int> full;                          // index into ServerCandidates::full, -1 = none
  std::vector<std::optional<Candidate>> partial;  // best-effort allocation, if any
  std::vector<std::vector<std::pair<int, int>>> parts;  // heterogeneous: (full index, replicas)
  std::vector<std::size_t> unserved;  // servers with candidates left without a full allocation,
                                      // in the order best effort visits them
};

Assignment empty_assignment(std::size_t servers);

/// Cards left per type once the assignment's full, partial and heterogeneous allocations are
/// taken from the system's capacity.
Capacity remaining_capacity(const System& system, const std::vector<ServerCandidates>& groups,
                            const Assignment& a);

/// The full-service count per distinct priority, ascending priority (docs/optimizer.md §4.7 step 3).
std::vector<int> service_vector(const std::vector<ServerCandidates>& groups, const Assignment& a);
/// J = Σ value of the full allocations.
double full_value(const std::vector<ServerCandidates>& groups, const Assignment& a);

/// The reference greedy (docs/optimizer.md §4.3). With `best_effort` false only the full-assignment phase
/// runs over all entries; otherwise the schedule of delayedBestEffort with saturationPolicy.
Assignment greedy(const System& system, const std::vector<ServerCandidates>& groups, bool best_effort);

/// Servers with full candidates in the greedy's initial entry order (docs/optimizer.md §4.3).
std::vector<std::size_t> initial_order(const System& system, const std::vector<ServerCandidates>& groups);

/// Local search on a full assignment (ours): repairs unserved servers by one ejection (moving
/// one placed server of the needed type to another of its candidates) and moves servers to
/// better candidates while capacity allows, until nothing improves. Partial allocations of
/// repaired servers are released. Only moves that lower J or serve one more server are taken.
void refine(const System& system, const std::vector<ServerCandidates>& groups, Assignment& a);

/// Best effort (docs/optimizer.md §4.3) for `unserved` (visited in that order) with the given policy.
void best_effort(const System& system, const std::vector<ServerCandidates>& groups,
                 const std::vector<std::size_t>& unserved, SaturationPolicy policy, Capacity& avail,
                 Assignment& a);

/// Outcome of an exact model.
struct MilpOutcome {
  SolverReport report;
  bool has_solution = false;
  Assignment assignment;
};

using Clock = std::chrono::steady_clock;

/// SINGLE (every server fully served) or, with `lexicographic`, SINGLE-LEX (docs/optimizer.md §4.5).
/// `warm` is a full assignment to start from (may be partial for LEX). Limited mode only when
/// `limited`. Stops at `deadline`.
MilpOutcome solve_single(const System& system, const std::vector<ServerCandidates>& groups, bool limited,
                         bool lexicographic, const Assignment* warm, Clock::time_point deadline);

/// MULTI: several profiles per server (docs/optimizer.md §4.5).
MilpOutcome solve_multi(const System& system, const std::vector<ServerCandidates>& groups, bool limited,
                        Clock::time_point deadline);

}  // namespace inferno::optimizer::detail
