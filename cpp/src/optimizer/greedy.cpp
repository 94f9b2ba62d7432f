// The reference greedy (docs/optimizer.md §4.3), made deterministic: regret-ordered placement with
// lower-bound re-insertion, then best effort for saturated servers.
#include <algorithm>
#include <cassert>
#include <limits>

#include "inferno/error.hpp"
#include "solvers.hpp"

namespace inferno::optimizer::detail {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Entry {
  std::size_t server;
  int priority;
  const std::vector<const Candidate*>* cands;
  std::size_t cur = 0;
  double delta = kInf;  // regret: value of the next candidate minus value of the current one
  const std::string* name;
  double value() const { return (*cands)[cur]->value; }
};

double regret(const Entry& e) {
  return e.cur + 1 < e.cands->size() ? (*e.cands)[e.cur + 1]->value - (*e.cands)[e.cur]->value : kInf;
}

// The reference's coarse order: priority ascending, regret descending, current value descending.
bool coarse_before(const Entry& a, const Entry& b) {
  if (a.priority != b.priority) return a.priority < b.priority;
  if (a.delta != b.delta) return a.delta > b.delta;
  return a.value() > b.value();
}

// allocate(list) of docs/optimizer.md §4.3; returns the exhausted entries in exhaustion order.
std::vector<Entry> allocate(std::vector<Entry> list, Capacity& avail, Assignment& out) {
  std::vector<Entry> exhausted;
  // The list is kept reversed (front at the back) so that popping the front is O(1).
  std::reverse(list.begin(), list.end());
  while (!list.empty()) {
    Entry e = list.back();
    list.pop_back();
    const Candidate& c = *(*e.cands)[e.cur];
    long long& free_cards = avail[c.type];
    if (free_cards >= c.cards) {
      free_cards -= c.cards;
      out.full[e.server] = static_cast<int>(e.cur);
      continue;
    }
    if (++e.cur == e.cands->size()) {
      exhausted.push_back(e);
      continue;
    }
    e.delta = regret(e);
    // Lower bound under the coarse order: before the first element not strictly smaller than e.
    // In the reversed vector that is after the last such element counted from the back.
    auto pos = std::lower_bound(list.rbegin(), list.rend(), e, coarse_before);
    list.insert(pos.base(), e);
  }
  return exhausted;
}

Candidate partial_of(const System& sys, const Candidate& c, int k) {
  Candidate p = with_replicas(sys, c, k);
  p.outcome = "bestEffort";
  p.slo_met = false;
  p.saturated = true;
  return p;
}

// allocateMaximally (PriorityExhaustive).
void allocate_maximally(const System& sys, const std::vector<ServerCandidates>& groups,
                        const std::vector<std::size_t>& list, Capacity& avail, Assignment& a) {
  for (std::size_t s : list) {
    for (const Candidate* c : groups[s].full) {
      long long& free_cards = avail[c->type];
      const long long k = std::min<long long>(free_cards / c->cards_per_replica, c->replicas - 1);
      if (k > 0) {
        free_cards -= k * c->cards_per_replica;
        a.partial[s] = partial_of(sys, *c, static_cast<int>(k));
        break;
      }
    }
  }
}

// allocateEqually (the round-robin policies): one replica per server per sweep.
void allocate_equally(const System& sys, const std::vector<ServerCandidates>& groups,
                      const std::vector<std::size_t>& list, Capacity& avail, Assignment& a) {
  struct Ticket {
    std::size_t server;
    const Candidate* chosen = nullptr;
    long long k = 0;
    bool active = true;
  };
  std::vector<Ticket> tickets;
  for (std::size_t s : list) tickets.push_back({s});
  for (bool any = true; any;) {
    any = false;
    for (Ticket& t : tickets) {
      if (!t.active) continue;
      if (!t.chosen) {
        for (const Candidate* c : groups[t.server].full)
          if (avail[c->type] >= c->cards_per_replica) {
            t.chosen = c;
            break;
          }
        if (!t.chosen) {
          t.active = false;
          continue;
        }
      }
      long long& free_cards = avail[t.chosen->type];
      // k stays below the candidate's r: that size already failed and capacity never grows.
      if (free_cards >= t.chosen->cards_per_replica && t.k + 1 < t.chosen->replicas) {
        ++t.k;
        free_cards -= t.chosen->cards_per_replica;
        any = true;
      } else {
        t.active = false;
      }
    }
  }
  for (const Ticket& t : tickets)
    if (t.k >= 1) a.partial[t.server] = partial_of(sys, *t.chosen, static_cast<int>(t.k));
}

std::vector<Entry> initial_entries(const System& sys, const std::vector<ServerCandidates>& groups) {
  std::vector<Entry> entries;
  for (const ServerCandidates& g : groups) {
    if (g.full.empty()) continue;
    Entry e{g.server, g.priority, &g.full, 0, kInf, &sys.servers()[g.server].name};
    e.delta = regret(e);
    entries.push_back(e);
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) {
    if (coarse_before(x, y)) return true;
    if (coarse_before(y, x)) return false;
    return *x.name < *y.name;
  });
  return entries;
}

}  // namespace

std::vector<std::size_t> initial_order(const System& sys, const std::vector<ServerCandidates>& groups) {
  std::vector<std::size_t> out;
  for (const Entry& e : initial_entries(sys, groups)) out.push_back(e.server);
  return out;
}

Assignment empty_assignment(std::size_t servers) {
  Assignment a;
  a.full.assign(servers, -1);
  a.partial.resize(servers);
  a.parts.resize(servers);
  return a;
}

void best_effort(const System& sys, const std::vector<ServerCandidates>& groups,
                 const std::vector<std::size_t>& unserved, SaturationPolicy policy, Capacity& avail,
                 Assignment& a) {
  if (policy == SaturationPolicy::priority_exhaustive) {
    allocate_maximally(sys, groups, unserved, avail, a);
  } else if (policy == SaturationPolicy::round_robin) {
    allocate_equally(sys, groups, unserved, avail, a);
  } else if (policy == SaturationPolicy::priority_round_robin) {
    std::vector<std::size_t> run;
    for (std::size_t i = 0; i <= unserved.size(); ++i) {
      if (i == unserved.size() || (!run.empty() && groups[unserved[i]].priority != groups[run.front()].priority)) {
        allocate_equally(sys, groups, run, avail, a);
        run.clear();
      }
      if (i < unserved.size()) run.push_back(unserved[i]);
    }
  }
  // "None": the servers stay unallocated for lack of capacity.
}

void refine(const System& sys, const std::vector<ServerCandidates>& groups, Assignment& a) {
  Capacity avail = remaining_capacity(sys, groups, a);
  const std::vector<std::size_t> order = initial_order(sys, groups);
  auto current = [&](std::size_t s) -> const Candidate& { return *groups[s].full[static_cast<std::size_t>(a.full[s])]; };
  auto take = [&](std::size_t s, std::size_t j) {
    if (a.full[s] >= 0) avail[current(s).type] += current(s).cards;
    const Candidate& c = *groups[s].full[j];
    avail[c.type] -= c.cards;
    a.full[s] = static_cast<int>(j);
  };
  // Repair: serve each unserved server directly, or by moving one placed server off the type.
  std::vector<std::size_t> still_unserved;
  for (std::size_t s : a.unserved) {
    if (a.full[s] >= 0) continue;
    const std::optional<Candidate> partial = a.partial[s];
    if (partial) avail[partial->type] += partial->cards;
    const auto& cands = groups[s].full;
    bool placed = false;
    for (std::size_t j = 0; j < cands.size() && !placed; ++j)
      if (avail[cands[j]->type] >= cands[j]->cards) {
        take(s, j);
        placed = true;
      }
    if (!placed) {
      double best = kInf;
      std::size_t best_j = 0, best_f = 0, best_k = 0;
      for (std::size_t j = 0; j < cands.size(); ++j) {
        const Candidate& c = *cands[j];
        for (std::size_t f : order) {
          if (f == s || a.full[f] < 0 || current(f).type != c.type) continue;
          const Candidate& cf = current(f);
          if (avail[c.type] + cf.cards < c.cards) continue;
          for (std::size_t k = 0; k < groups[f].full.size(); ++k) {
            const Candidate& ck = *groups[f].full[k];
            if (ck.type == c.type || avail[ck.type] < ck.cards) continue;
            const double delta = c.value + ck.value - cf.value;  // f's best fitting alternative
            if (delta < best) best = delta, best_j = j, best_f = f, best_k = k;
            break;
          }
        }
      }
      if (best < kInf) {
        take(best_f, best_k);
        take(s, best_j);
        placed = true;
      }
    }
    if (placed) {
      a.partial[s].reset();
    } else {
      if (partial) avail[partial->type] -= partial->cards;
      still_unserved.push_back(s);
    }
  }
  a.unserved = still_unserved;
  // Improvement: move a server to a better candidate when it fits, or when moving one other
  // server of the needed type to another type makes it fit and the pair lowers J.
  std::map<std::string, std::vector<std::size_t>> placed_on;  // servers by current type
  for (bool changed = true; changed;) {
    changed = false;
    placed_on.clear();
    for (std::size_t s : order)
      if (a.full[s] >= 0) placed_on[current(s).type].push_back(s);
    for (std::size_t s : order) {
      if (a.full[s] < 0) continue;
      const Candidate& cur = current(s);
      double best = -1e-9 * std::max(1.0, std::abs(cur.value));  // strict improvement only
      std::size_t best_j = 0, best_f = 0, best_k = 0;
      bool found = false, single = false;
      for (std::size_t j = 0; j < static_cast<std::size_t>(a.full[s]); ++j) {
        const Candidate& c = *groups[s].full[j];
        const double gain = c.value - cur.value;
        if (!(gain < best)) continue;
        const long long free_cards = avail[c.type] + (c.type == cur.type ? cur.cards : 0);
        if (free_cards >= c.cards) {
          best = gain, best_j = j, found = true, single = true;
          continue;
        }
        for (std::size_t f : placed_on[c.type]) {
          if (f == s || current(f).type != c.type) continue;  // entries go stale within a pass
          const Candidate& cf = current(f);
          if (free_cards + cf.cards < c.cards) continue;
          // f's best alternative on another type that fits (candidates are in key order).
          for (std::size_t k = 0; k < groups[f].full.size(); ++k) {
            const Candidate& ck = *groups[f].full[k];
            if (ck.type == c.type) continue;
            if (avail[ck.type] + (ck.type == cur.type ? cur.cards : 0) < ck.cards) continue;
            const double delta = gain + ck.value - cf.value;
            if (delta < best) best = delta, best_j = j, best_f = f, best_k = k, found = true, single = false;
            break;
          }
        }
      }
      if (!found) continue;
      if (!single) {
        take(best_f, best_k);
        placed_on[current(best_f).type].push_back(best_f);
      }
      take(s, best_j);
      placed_on[current(s).type].push_back(s);
      changed = true;
    }
  }
}

Assignment greedy(const System& sys, const std::vector<ServerCandidates>& groups, bool with_best_effort) {
  const OptimizerSpec& o = sys.options();
  Assignment a = empty_assignment(groups.size());
  Capacity avail;
  for (const auto& [type, cards] : sys.capacity()) avail[type] = cards;

  std::vector<Entry> entries = initial_entries(sys, groups);

  auto run = [&](std::vector<Entry> list) {
    std::vector<std::size_t> unserved;
    for (const Entry& e : allocate(std::move(list), avail, a)) unserved.push_back(e.server);
    a.unserved.insert(a.unserved.end(), unserved.begin(), unserved.end());
    if (with_best_effort) best_effort(sys, groups, unserved, o.saturation_policy, avail, a);
  };
  if (!with_best_effort || o.delayed_best_effort) {
    run(entries);
  } else {
    std::size_t begin = 0;
    for (std::size_t i = 1; i <= entries.size(); ++i)
      if (i == entries.size() || entries[i].priority != entries[begin].priority) {
        run(std::vector<Entry>(entries.begin() + static_cast<long>(begin), entries.begin() + static_cast<long>(i)));
        begin = i;
      }
  }
  if (o.greedy_refine) refine(sys, groups, a);
  return a;
}

}  // namespace inferno::optimizer::detail
