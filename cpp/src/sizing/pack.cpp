#include "inferno/sizing/pack.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <set>

#include "inferno/error.hpp"

namespace inferno::sizing {

namespace {

using Mask = std::uint64_t;

Mask interval(int start, int size) { return ((Mask{1} << size) - 1) << start; }

// The non-media profiles of a geometry: the ones sizing recommends and the packer places.
struct Shapes {
  const MigGeometry* geo = nullptr;
  std::vector<const MigProfile*> profiles;
  explicit Shapes(const MigGeometry& g) : geo(&g) {
    if (g.memory_slices < 1 || g.memory_slices > 60) throw InvalidArgument("MIG geometry " + g.name + ": memorySlices must be in [1, 60]");
    for (const auto& p : g.profiles)
      if (!p.media) profiles.push_back(&p);
  }
  int index(const std::string& name) const {
    for (std::size_t i = 0; i < profiles.size(); ++i)
      if (profiles[i]->name == name) return static_cast<int>(i);
    return -1;
  }
  std::string names() const {
    std::string s;
    for (const auto* p : profiles) s += (s.empty() ? "" : ", ") + p->name;
    return s;
  }
};

// Occupancy of one GPU during a search.
struct GpuState {
  Mask used = 0;
  int compute = 0;
  std::vector<PlacedSlice> slices;
  bool fixed = false;  // an existing GPU whose instances stay
};

bool can_place(const GpuState& gpu, const MigProfile& p, int start, int G) {
  return gpu.compute + p.g <= G && !(gpu.used & interval(start, p.mem_slices));
}

void put(GpuState& gpu, const MigProfile& p, int start, const std::string& owner) {
  gpu.used |= interval(start, p.mem_slices);
  gpu.compute += p.g;
  gpu.slices.push_back({p.name, start, p.mem_slices, p.g, owner});
}

// One instance to place: profile index and owner.
struct Instance {
  int profile;
  std::string owner;
};

// Sort order of docs/sizing.md §7: memory slices desc, compute desc, then profile order (stable).
void sort_instances(const Shapes& sh, std::vector<Instance>& inst) {
  std::stable_sort(inst.begin(), inst.end(), [&](const Instance& a, const Instance& b) {
    const MigProfile& pa = *sh.profiles[static_cast<std::size_t>(a.profile)];
    const MigProfile& pb = *sh.profiles[static_cast<std::size_t>(b.profile)];
    if (pa.mem_slices != pb.mem_slices) return pa.mem_slices > pb.mem_slices;
    if (pa.g != pb.g) return pa.g > pb.g;
    return a.profile < b.profile;
  });
}

// DFS placement of sorted instances on one GPU (starts ascending, backtracking).
bool place_dfs(const Shapes& sh, const std::vector<Instance>& inst, std::size_t k, GpuState& gpu) {
  if (k == inst.size()) return true;
  const MigProfile& p = *sh.profiles[static_cast<std::size_t>(inst[k].profile)];
  for (int s : p.starts) {
    if (!can_place(gpu, p, s, sh.geo->compute_slices)) continue;
    const GpuState saved = gpu;
    put(gpu, p, s, inst[k].owner);
    if (place_dfs(sh, inst, k + 1, gpu)) return true;
    gpu = saved;
  }
  return false;
}

int lower_bound_of(const Shapes& sh, const std::vector<int>& counts) {
  const int G = sh.geo->compute_slices, S = sh.geo->memory_slices;
  long long g = 0, mem = 0, big = 0, half = 0, half_single = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const MigProfile& p = *sh.profiles[i];
    g += static_cast<long long>(counts[i]) * p.g;
    mem += static_cast<long long>(counts[i]) * p.mem_slices;
    if (2 * p.mem_slices > S) big += counts[i];
    else if (2 * p.mem_slices == S) {
      half += counts[i];
      if (p.starts.size() == 1) half_single += counts[i];
    }
  }
  const long long by_g = (g + G - 1) / G, by_mem = (mem + S - 1) / S;
  const long long by_shape = big + std::max(half_single, (half + 1) / 2);
  return static_cast<int>(std::max({by_g, by_mem, by_shape}));
}

// How many (profile, start) options of `wanted` profiles placing p at s destroys on `gpu`.
int destroyed_options(const Shapes& sh, const GpuState& gpu, const MigProfile& p, int s, const std::vector<bool>& wanted) {
  GpuState after = gpu;
  after.used |= interval(s, p.mem_slices);
  after.compute += p.g;
  int lost = 0;
  for (std::size_t q = 0; q < sh.profiles.size(); ++q) {
    if (!wanted[q]) continue;
    const MigProfile& pq = *sh.profiles[q];
    for (int t : pq.starts)
      if (can_place(gpu, pq, t, sh.geo->compute_slices) && !can_place(after, pq, t, sh.geo->compute_slices)) ++lost;
  }
  return lost;
}

// The start FFD uses on this GPU (fewest destroyed options, then lowest), or -1.
int best_start(const Shapes& sh, const GpuState& gpu, const MigProfile& p, const std::vector<bool>& wanted) {
  int best = -1, best_lost = 0;
  for (int s : p.starts) {
    if (!can_place(gpu, p, s, sh.geo->compute_slices)) continue;
    const int lost = destroyed_options(sh, gpu, p, s, wanted);
    if (best < 0 || lost < best_lost) {
      best = s;
      best_lost = lost;
    }
  }
  return best;
}

std::vector<bool> pending_profiles(const Shapes& sh, const std::vector<Instance>& inst, std::size_t from) {
  std::vector<bool> wanted(sh.profiles.size(), false);
  for (std::size_t j = from; j < inst.size(); ++j) wanted[static_cast<std::size_t>(inst[j].profile)] = true;
  return wanted;
}

// First-fit-decreasing (docs/sizing.md §7) onto `gpus` (fixed ones accept new instances, never lose theirs);
// new GPUs are opened at the end. Instances must be sorted.
void ffd(const Shapes& sh, const std::vector<Instance>& inst, std::vector<GpuState>& gpus, bool open_new = true,
         std::vector<Instance>* unplaced = nullptr) {
  for (std::size_t k = 0; k < inst.size(); ++k) {
    const MigProfile& p = *sh.profiles[static_cast<std::size_t>(inst[k].profile)];
    const auto wanted = pending_profiles(sh, inst, k + 1);
    bool placed = false;
    for (auto& gpu : gpus) {
      const int s = best_start(sh, gpu, p, wanted);
      if (s < 0) continue;
      put(gpu, p, s, inst[k].owner);
      placed = true;
      break;
    }
    if (placed) continue;
    if (!open_new) {
      if (unplaced) unplaced->push_back(inst[k]);
      continue;
    }
    gpus.emplace_back();
    put(gpus.back(), p, best_start(sh, gpus.back(), p, wanted), inst[k].owner);
  }
}

// Improvement pass of docs/sizing.md §7: empty the least-used movable GPU into the others when possible.
void improve(const Shapes& sh, std::vector<GpuState>& gpus) {
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < gpus.size(); ++i)
      if (!gpus[i].fixed && !gpus[i].slices.empty()) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return gpus[a].compute < gpus[b].compute; });
    for (std::size_t victim : order) {
      std::vector<Instance> moved;
      for (const auto& sl : gpus[victim].slices) moved.push_back({sh.index(sl.profile), sl.owner});
      sort_instances(sh, moved);
      // The same first-fit placement, on every other GPU and without opening new ones.
      std::vector<GpuState> trial = gpus;
      trial.erase(trial.begin() + static_cast<std::ptrdiff_t>(victim));
      std::vector<Instance> left;
      ffd(sh, moved, trial, false, &left);
      if (left.empty()) {
        gpus = std::move(trial);
        changed = true;
        break;
      }
    }
  }
}

int used_gpus(const std::vector<GpuState>& gpus) {
  int n = 0;
  for (const auto& g : gpus) n += g.slices.empty() ? 0 : 1;
  return n;
}

// Exact search (docs/sizing.md §7) over maximal multisets ("columns") of the demanded profiles.
class ExactPacker {
 public:
  ExactPacker(const Shapes& sh, const std::vector<std::vector<int>>& columns, long long budget)
      : sh_(sh), columns_(columns), budget_(budget) {}

  // Returns false when the node budget ran out (best_ holds the incumbent then).
  bool solve(const std::vector<int>& demand, int incumbent) {
    best_count_ = incumbent;
    std::vector<std::vector<int>> chosen;
    search(demand, chosen);
    return nodes_ <= budget_;
  }
  const std::vector<std::vector<int>>& best() const { return best_; }
  int best_count() const { return best_count_; }
  long long nodes() const { return nodes_; }

 private:
  void search(const std::vector<int>& residual, std::vector<std::vector<int>>& chosen) {
    if (++nodes_ > budget_) return;
    const int used = static_cast<int>(chosen.size());
    std::size_t first = residual.size();
    for (std::size_t i = 0; i < residual.size(); ++i)
      if (residual[i] > 0) {
        first = i;
        break;
      }
    if (first == residual.size()) {
      if (used < best_count_) {
        best_count_ = used;
        best_ = chosen;
      }
      return;
    }
    if (used + lower_bound_of(sh_, residual) >= best_count_) return;
    const auto seen = memo_.find(residual);
    if (seen != memo_.end() && seen->second <= used) return;
    memo_[residual] = used;
    // Branch on every column holding the first demanded profile, the ones covering most first.
    std::vector<std::pair<int, std::size_t>> order;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      if (columns_[c][first] == 0) continue;
      int cover = 0;
      for (std::size_t i = 0; i < residual.size(); ++i)
        cover += std::min(residual[i], columns_[c][i]) * sh_.profiles[i]->g;
      order.push_back({-cover, c});
    }
    std::stable_sort(order.begin(), order.end());
    for (const auto& [neg_cover, c] : order) {
      std::vector<int> next(residual.size()), take(residual.size());
      for (std::size_t i = 0; i < residual.size(); ++i) {
        take[i] = std::min(residual[i], columns_[c][i]);
        next[i] = residual[i] - take[i];
      }
      chosen.push_back(take);
      search(next, chosen);
      chosen.pop_back();
      if (nodes_ > budget_) return;
    }
  }

  const Shapes& sh_;
  const std::vector<std::vector<int>>& columns_;
  long long budget_;
  long long nodes_ = 0;
  int best_count_ = 0;
  std::vector<std::vector<int>> best_;
  std::map<std::vector<int>, int> memo_;
};

std::vector<std::vector<int>> maximal_columns(const GeometryFacts& facts, const std::vector<int>& demand) {
  std::set<std::vector<int>> usable;
  for (const auto& v : facts.multisets) {
    bool ok = true;
    for (std::size_t i = 0; i < v.size(); ++i) ok = ok && (v[i] == 0 || demand[i] > 0);
    if (ok) usable.insert(v);
  }
  std::vector<std::vector<int>> out;
  for (const auto& v : usable) {
    bool maximal = true;
    for (std::size_t i = 0; i < v.size() && maximal; ++i) {
      if (demand[i] == 0) continue;
      auto w = v;
      ++w[i];
      maximal = !usable.count(w);
    }
    if (maximal) out.push_back(v);
  }
  return out;
}

void fill_metrics(const Shapes& sh, Packing& pk) {
  const int G = sh.geo->compute_slices, S = sh.geo->memory_slices;
  long long g = 0, mem = 0;
  pk.gpus_used = 0;
  pk.free_compute_slices = pk.stranded_compute_slices = 0;
  for (auto& layout : pk.gpus) {
    GpuState st;
    for (const auto& sl : layout.slices) {
      st.used |= interval(sl.start, sl.size);
      st.compute += sl.g;
      mem += sl.size;
    }
    g += st.compute;
    layout.free_compute = G - st.compute;
    layout.free_memory = S - __builtin_popcountll(st.used);
    layout.largest_placeable.clear();
    const MigProfile* largest = nullptr;
    for (const MigProfile* p : sh.profiles) {
      bool fits = false;
      for (int s : p->starts) fits = fits || can_place(st, *p, s, G);
      if (fits && (!largest || p->mem_slices > largest->mem_slices || (p->mem_slices == largest->mem_slices && p->g > largest->g)))
        largest = p;
    }
    if (largest) layout.largest_placeable = largest->name;
    if (layout.slices.empty()) continue;
    ++pk.gpus_used;
    pk.free_compute_slices += layout.free_compute;
    if (!largest) pk.stranded_compute_slices += layout.free_compute;
  }
  pk.compute_utilization = pk.gpus_used ? static_cast<double>(g) / (G * pk.gpus_used) : 0.0;
  pk.memory_utilization = pk.gpus_used ? static_cast<double>(mem) / (S * pk.gpus_used) : 0.0;
}

GpuLayout to_layout(const GpuState& st) {
  GpuLayout l;
  l.slices = st.slices;
  std::stable_sort(l.slices.begin(), l.slices.end(), [](const PlacedSlice& a, const PlacedSlice& b) { return a.start < b.start; });
  l.existing = st.fixed;
  return l;
}

}  // namespace

std::string check_layout(const MigGeometry& geometry, const GpuLayout& layout) {
  Mask used = 0;
  int compute = 0;
  for (const auto& sl : layout.slices) {
    const MigProfile* p = geometry.find(sl.profile);
    if (!p) return "unknown profile " + sl.profile;
    if (std::find(p->starts.begin(), p->starts.end(), sl.start) == p->starts.end())
      return sl.profile + " cannot start at memory slice " + std::to_string(sl.start);
    const Mask m = interval(sl.start, p->mem_slices);
    if (used & m) return sl.profile + "@" + std::to_string(sl.start) + " overlaps another instance";
    used |= m;
    compute += p->g;
  }
  if (compute > geometry.compute_slices)
    return "instances use " + std::to_string(compute) + " compute slices, more than " + std::to_string(geometry.compute_slices);
  return "";
}

GeometryFacts geometry_facts(const MigGeometry& geometry) {
  const Shapes sh(geometry);
  GeometryFacts f;
  for (const auto* p : sh.profiles) f.profiles.push_back(p->name);
  struct Placement {
    std::size_t profile;
    Mask mask;
    int g;
  };
  std::vector<Placement> all;
  for (std::size_t i = 0; i < sh.profiles.size(); ++i)
    for (int s : sh.profiles[i]->starts) all.push_back({i, interval(s, sh.profiles[i]->mem_slices), sh.profiles[i]->g});
  std::set<std::vector<int>> sets;
  std::vector<int> counts(sh.profiles.size(), 0);
  // Every subset of pairwise disjoint placements with Σg <= G, each visited once (increasing index).
  auto dfs = [&](auto&& self, std::size_t from, Mask used, int compute) -> void {
    for (std::size_t k = from; k < all.size(); ++k) {
      if ((used & all[k].mask) || compute + all[k].g > geometry.compute_slices) continue;
      ++counts[all[k].profile];
      ++f.placed_layouts;
      sets.insert(counts);
      self(self, k + 1, used | all[k].mask, compute + all[k].g);
      --counts[all[k].profile];
    }
  };
  dfs(dfs, 0, 0, 0);
  f.multisets.assign(sets.begin(), sets.end());
  for (const auto& v : f.multisets) {
    bool maximal = true;
    for (std::size_t i = 0; i < v.size() && maximal; ++i) {
      auto w = v;
      ++w[i];
      maximal = !sets.count(w);
    }
    if (maximal) f.maximal.push_back(v);
  }
  return f;
}

bool fits_on_empty_gpu(const MigGeometry& geometry, const std::vector<int>& counts) {
  const Shapes sh(geometry);
  if (counts.size() != sh.profiles.size()) throw InvalidArgument("counts must have one entry per non-media profile (" + sh.names() + ")");
  std::vector<Instance> inst;
  for (std::size_t i = 0; i < counts.size(); ++i)
    for (int k = 0; k < counts[i]; ++k) inst.push_back({static_cast<int>(i), ""});
  sort_instances(sh, inst);
  GpuState gpu;
  return place_dfs(sh, inst, 0, gpu);
}

int packing_lower_bound(const MigGeometry& geometry, const std::vector<int>& counts) {
  const Shapes sh(geometry);
  if (counts.size() != sh.profiles.size()) throw InvalidArgument("counts must have one entry per non-media profile (" + sh.names() + ")");
  return lower_bound_of(sh, counts);
}

Packing pack(const MigGeometry& geometry, const std::vector<SliceDemand>& demand, const std::vector<GpuLayout>& existing,
             const PackOptions& options) {
  const Shapes sh(geometry);
  if (options.node_budget < 1) throw InvalidArgument("nodeBudget must be >= 1");
  std::vector<int> counts(sh.profiles.size(), 0);
  std::vector<Instance> inst;
  for (std::size_t d = 0; d < demand.size(); ++d) {
    const int idx = sh.index(demand[d].profile);
    if (idx < 0)
      throw InvalidArgument("demand[" + std::to_string(d) + "]: unknown profile \"" + demand[d].profile + "\" of " + geometry.name +
                            "; known: " + sh.names());
    if (demand[d].count < 0 || demand[d].count > kMaxDemandCount)
      throw InvalidArgument("demand[" + std::to_string(d) + "].count must be in [0, " + std::to_string(kMaxDemandCount) +
                            "], got " + std::to_string(demand[d].count));
    counts[static_cast<std::size_t>(idx)] += demand[d].count;
    for (int k = 0; k < demand[d].count; ++k) inst.push_back({idx, demand[d].owner});
  }
  // Existing GPUs: validated; their instances either stay (fixed) or join the demand.
  std::vector<GpuState> fixed;
  std::vector<int> all_counts = counts;
  for (std::size_t i = 0; i < existing.size(); ++i) {
    const std::string why = check_layout(geometry, existing[i]);
    if (!why.empty()) throw InvalidArgument("existing[" + std::to_string(i) + "]: " + why);
    GpuState st;
    st.fixed = true;
    for (const auto& sl : existing[i].slices) {
      const int idx = sh.index(sl.profile);
      const MigProfile& p = *geometry.find(sl.profile);
      put(st, p, sl.start, sl.owner);
      if (idx >= 0) ++all_counts[static_cast<std::size_t>(idx)];
      if (options.allow_repartition) {
        if (idx < 0) throw InvalidArgument("existing[" + std::to_string(i) + "]: media profile " + sl.profile + " cannot be repartitioned");
        inst.push_back({idx, sl.owner});
      }
    }
    fixed.push_back(std::move(st));
  }
  if (options.allow_repartition) counts = all_counts;
  sort_instances(sh, inst);

  Packing pk;
  pk.geometry = geometry.name;
  pk.lower_bound = lower_bound_of(sh, all_counts);
  std::vector<GpuState> gpus;
  const bool incremental = !existing.empty() && !options.allow_repartition;
  std::vector<Instance> rest = inst;
  if (incremental) {
    gpus = fixed;
    rest.clear();
    ffd(sh, inst, gpus, false, &rest);  // fill the existing GPUs first
    pk.method = "incremental";
  }
  // Fresh GPUs: FFD as incumbent, then the exact search when the instance count allows it.
  std::vector<GpuState> fresh;
  ffd(sh, rest, fresh);
  improve(sh, fresh);
  bool proven = false;
  if (options.exact && static_cast<int>(rest.size()) <= options.exact_limit && !rest.empty()) {
    std::vector<int> rest_counts(sh.profiles.size(), 0);
    for (const auto& x : rest) ++rest_counts[static_cast<std::size_t>(x.profile)];
    const GeometryFacts facts = geometry_facts(geometry);
    const auto columns = maximal_columns(facts, rest_counts);
    ExactPacker exact(sh, columns, options.node_budget);
    const int incumbent = used_gpus(fresh);
    proven = exact.solve(rest_counts, incumbent);
    pk.nodes = exact.nodes();
    if (exact.best_count() < incumbent) {
      // Place each chosen multiset; owners are handed out in demand order per profile.
      std::vector<std::deque<std::string>> owners(sh.profiles.size());
      for (const auto& x : rest) owners[static_cast<std::size_t>(x.profile)].push_back(x.owner);
      fresh.clear();
      for (const auto& column : exact.best()) {
        std::vector<Instance> on_gpu;
        for (std::size_t i = 0; i < column.size(); ++i)
          for (int k = 0; k < column[i]; ++k) {
            on_gpu.push_back({static_cast<int>(i), owners[i].front()});
            owners[i].pop_front();
          }
        sort_instances(sh, on_gpu);
        GpuState st;
        if (!place_dfs(sh, on_gpu, 0, st)) throw NumericalError("packer: a maximal multiset did not place (internal error)");
        fresh.push_back(std::move(st));
      }
    }
    if (pk.method.empty()) pk.method = "exact";
  } else if (pk.method.empty()) {
    pk.method = "ffd";
  }
  if (options.allow_repartition) {
    // Existing GPUs are reused in order; those whose instances change are disrupted.
    const std::size_t n = std::max(fresh.size(), fixed.size());
    fresh.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      GpuLayout l = to_layout(fresh[i]);
      if (i < fixed.size()) {
        l.existing = true;
        std::set<std::pair<std::string, int>> before, after;
        for (const auto& s : fixed[i].slices) before.insert({s.profile, s.start});
        for (const auto& s : l.slices) after.insert({s.profile, s.start});
        l.disrupted = before != after;
      }
      pk.gpus.push_back(std::move(l));
    }
  } else {
    for (const auto& g : gpus) pk.gpus.push_back(to_layout(g));
    for (const auto& g : fresh) pk.gpus.push_back(to_layout(g));
  }
  fill_metrics(sh, pk);
  pk.optimal = pk.gpus_used == pk.lower_bound || (proven && !incremental);
  return pk;
}

}  // namespace inferno::sizing
