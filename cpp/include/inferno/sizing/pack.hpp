#pragma once
// Packing MIG slices onto physical GPUs (docs/sizing.md §7): placement rules, the structure of the
// layouts (maximal multisets), an exact branch-and-bound packer and a first-fit-decreasing one.
#include <string>
#include <vector>

#include "inferno/sizing/catalog.hpp"

namespace inferno::sizing {

/// Largest count of one demand entry: the packer's search stays bounded.
constexpr int kMaxDemandCount = 100000;

struct SliceDemand {
  std::string profile;
  int count = 0;
  std::string owner;  // who asked for it (server name), carried into the layout
};

struct PlacedSlice {
  std::string profile;
  int start = 0, size = 0, g = 0;
  std::string owner;
};

struct GpuLayout {
  std::vector<PlacedSlice> slices;
  bool existing = false;   // input GPU (incremental mode)
  bool disrupted = false;  // an existing GPU whose instances change (drain its pods first)
  std::string largest_placeable;  // the biggest menu profile that still fits ("" = none)
  int free_compute = 0, free_memory = 0;
};

struct PackOptions {
  long long node_budget = 2'000'000;  // search nodes before falling back (deterministic)
  int exact_limit = 200;              // more instances than this: first-fit-decreasing only
  bool allow_repartition = false;     // incremental: existing instances may move
  bool exact = true;                  // false: first-fit-decreasing only
};

struct Packing {
  std::string geometry;
  std::vector<GpuLayout> gpus;   // existing GPUs first (in input order), then new ones
  int gpus_used = 0;             // GPUs holding at least one instance
  int lower_bound = 0;
  bool optimal = false;          // proven minimal number of GPUs
  std::string method;            // exact | ffd | incremental
  long long nodes = 0;
  double compute_utilization = 0, memory_utilization = 0;
  int free_compute_slices = 0, stranded_compute_slices = 0;
};

/// Packs `demand` (non-media profiles of `geometry`) onto as few GPUs as possible. `existing`
/// layouts are kept fixed unless options.allow_repartition. Throws InvalidArgument for unknown
/// profiles, negative counts, or an existing layout that breaks the placement rules.
Packing pack(const MigGeometry& geometry, const std::vector<SliceDemand>& demand,
             const std::vector<GpuLayout>& existing = {}, const PackOptions& options = {});

/// Placement check of one GPU: starts valid, intervals disjoint, Σg <= G. Returns "" when valid,
/// else the reason.
std::string check_layout(const MigGeometry& geometry, const GpuLayout& layout);

/// Structure of the geometry over its non-media profiles (in profile order), docs/sizing.md §7.
struct GeometryFacts {
  std::vector<std::string> profiles;
  long long placed_layouts = 0;                 // distinct non-empty sets of placed instances
  std::vector<std::vector<int>> multisets;      // distinct non-empty count vectors
  std::vector<std::vector<int>> maximal;        // those to which no instance can be added
};
GeometryFacts geometry_facts(const MigGeometry& geometry);

/// Whether the count vector (aligned with the non-media profiles) fits on one empty GPU, by search.
bool fits_on_empty_gpu(const MigGeometry& geometry, const std::vector<int>& counts);

/// Lower bound on GPUs for a count vector (aligned with the non-media profiles).
int packing_lower_bound(const MigGeometry& geometry, const std::vector<int>& counts);

}  // namespace inferno::sizing
