#pragma once
// The result of an optimisation (spec optimizer §7.8, §9.4) and the solvers that produce it.
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

struct TypeUsage {
  int cards = 0;
  std::optional<int> limit;  // none in unlimited mode
  double cost = 0;
};

/// Move of one server from its current allocation to the chosen one.
struct Change {
  std::string from_accelerator, to_accelerator;  // "" = none
  int from_replicas = 0, to_replicas = 0;
  double cost_delta = 0;
};

struct Solution {
  std::vector<Candidate> allocations;  // chosen candidate per allocated server, in server order
  std::vector<Unallocated> unallocated;
  double total_cost = 0;
  double total_value = 0;
  std::map<std::string, TypeUsage> by_type;
  std::map<std::string, Change> diff;  // every server, allocated or not
  std::string solver;
  std::string status;  // ok (every server full or scaled to zero) or partial
};

/// Orders candidates of one server: value, then cost, cards and profile name (spec §7.3.1).
bool candidate_before(const Candidate& a, const Candidate& b);

/// The separable exact solver: each server takes its best candidate; capacity is ignored.
Solution solve_unlimited(const System& system, const std::vector<Candidate>& candidates);

}  // namespace inferno::optimizer
