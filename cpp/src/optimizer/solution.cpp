#include "inferno/optimizer/solution.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace inferno::optimizer {

bool candidate_before(const Candidate& a, const Candidate& b) {
  return std::tie(a.value, a.cost, a.cards, a.accelerator) < std::tie(b.value, b.cost, b.cards, b.accelerator);
}

namespace {

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

}  // namespace

Solution solve_unlimited(const System& sys, const std::vector<Candidate>& candidates) {
  Solution out;
  out.solver = "unlimited";
  std::map<std::string, std::vector<const Candidate*>> by_server;
  for (const auto& c : candidates) by_server[c.server].push_back(&c);
  bool all_served = true;
  for (const Server& s : sys.servers()) {
    const auto& rows = by_server[s.name];
    const Candidate* best = nullptr;
    for (const Candidate* c : rows)
      if (c->feasible && (!best || candidate_before(*c, *best))) best = c;
    Change change;
    change.from_accelerator = s.current.accelerator;
    change.from_replicas = s.current.num_replicas;
    const double cost_before = sys.current_cost(s);
    if (!best) {
      all_served = false;
      out.unallocated.push_back({s.name, "noCandidates", reasons_of(rows)});
      change.cost_delta = -cost_before;
    } else {
      out.allocations.push_back(*best);
      out.total_cost += best->cost;
      out.total_value += best->value;
      if (best->replicas > 0) {
        TypeUsage& use = out.by_type[best->type];
        use.cards += best->cards;
        use.cost += best->cost;
      }
      change.to_accelerator = best->accelerator;
      change.to_replicas = best->replicas;
      change.cost_delta = best->cost - cost_before;
    }
    out.diff[s.name] = change;
  }
  out.status = all_served ? "ok" : "partial";
  return out;
}

}  // namespace inferno::optimizer
