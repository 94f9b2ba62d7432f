#include "inferno/sizing/catalog.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "inferno/error.hpp"

namespace inferno::sizing {

const MigProfile* MigGeometry::find(const std::string& profile) const {
  for (const auto& p : profiles)
    if (p.name == profile) return &p;
  return nullptr;
}

const GpuSpec* Catalog::find_gpu(const std::string& id) const {
  for (const auto& g : gpus_)
    if (g.id == id) return &g;
  return nullptr;
}

const MigGeometry* Catalog::geometry(const GpuSpec& gpu) const {
  if (gpu.mig_family.empty()) return nullptr;
  const auto it = families_.find(gpu.mig_family);
  return it == families_.end() ? nullptr : &it->second;
}

const MigGeometry* Catalog::geometry(const std::string& gpu_id) const {
  const GpuSpec* gpu = find_gpu(gpu_id);
  if (!gpu) return nullptr;
  return geometry(*gpu);
}

namespace {

std::string known_gpus(const Catalog& catalog) {
  std::string out;
  for (const auto& g : catalog.gpus()) out += (out.empty() ? "" : ", ") + g.id;
  return out;
}

}  // namespace

Accelerator Catalog::whole(const GpuSpec& gpu) const {
  Accelerator a;
  a.name = gpu.id;
  a.gpu = &gpu;
  a.flops_bf16 = gpu.flops_bf16;
  a.flops_fp8 = gpu.flops_fp8;
  a.bw_Bps = gpu.bw_Bps;
  a.mem_bytes = gpu.mem_bytes;
  const MigGeometry* geo = geometry(gpu);
  a.units = a.gpu_units = geo ? geo->compute_slices : 1;
  a.mem_slices = a.gpu_mem_slices = geo ? geo->memory_slices : 0;
  return a;
}

Accelerator Catalog::slice(const GpuSpec& gpu, const MigProfile& profile) const {
  const MigGeometry* geo = geometry(gpu);
  if (!geo) throw InvalidArgument("GPU " + gpu.id + " has no MIG geometry");
  Accelerator a;
  a.name = gpu.id + ":" + profile.name;
  a.gpu = &gpu;
  a.profile = &profile;
  // docs/sizing.md §1: compute in proportion to SMs (observed per profile, never g/G), bandwidth to memory
  // slices, memory as reported for the instance.
  const double sm_ratio = static_cast<double>(profile.sm_count) / gpu.sm_count;
  a.flops_bf16 = gpu.flops_bf16 * sm_ratio;
  a.flops_fp8 = gpu.flops_fp8 * sm_ratio;
  a.bw_Bps = gpu.bw_Bps * profile.mem_slices / geo->memory_slices;
  a.mem_bytes = profile.mem_bytes;
  a.units = profile.g;
  a.gpu_units = geo->compute_slices;
  a.mem_slices = profile.mem_slices;
  a.gpu_mem_slices = geo->memory_slices;
  return a;
}

Accelerator Catalog::accelerator(const std::string& name) const {
  const auto colon = name.find(':');
  const std::string gpu_id = name.substr(0, colon);
  const GpuSpec* gpu = find_gpu(gpu_id);
  if (!gpu) throw InvalidArgument("accelerator \"" + name + "\": unknown GPU type \"" + gpu_id + "\"; known: " + known_gpus(*this));
  if (colon == std::string::npos) return whole(*gpu);
  const std::string profile = name.substr(colon + 1);
  const MigGeometry* geo = geometry(*gpu);
  if (!geo) throw InvalidArgument("accelerator \"" + name + "\": " + gpu_id + " has no MIG profiles");
  const MigProfile* p = geo->find(profile);
  if (!p) {
    std::string names;
    for (const auto& q : geo->profiles) names += (names.empty() ? "" : ", ") + q.name;
    throw InvalidArgument("accelerator \"" + name + "\": unknown MIG profile \"" + profile + "\" of " + gpu_id +
                          "; known: " + names);
  }
  return slice(*gpu, *p);
}

std::vector<Accelerator> Catalog::candidates(const Menu& menu) const {
  std::vector<const GpuSpec*> chosen;
  if (menu.gpu_types.empty()) {
    for (const auto& g : gpus_) chosen.push_back(&g);
  } else {
    for (const auto& id : menu.gpu_types) {
      const GpuSpec* g = find_gpu(id);
      if (!g) throw InvalidArgument("menu.gpuTypes: unknown GPU type \"" + id + "\"; known: " + known_gpus(*this));
      if (std::find(chosen.begin(), chosen.end(), g) == chosen.end()) chosen.push_back(g);
    }
  }
  std::vector<Accelerator> out;
  for (const GpuSpec* g : chosen) {
    out.push_back(whole(*g));
    const MigGeometry* geo = geometry(*g);
    if (!menu.include_slices || !geo) continue;
    for (const auto& p : geo->profiles)
      if (!(menu.exclude_media && p.media)) out.push_back(slice(*g, p));
  }
  return out;
}

void Catalog::upsert_gpu(GpuSpec gpu) {
  for (auto& g : gpus_)
    if (g.id == gpu.id) {
      g = std::move(gpu);
      return;
    }
  gpus_.push_back(std::move(gpu));
}

void Catalog::upsert_family(MigGeometry family) {
  std::string key = family.name;
  families_[key] = std::move(family);
}

void Catalog::validate() const {
  // Values are checked in the catalog file's units (GiB, GB/s, TFLOPS), against the ranges of
  // docs/sizing.md, "Input ranges": within them every derived quantity stays finite.
  auto in_range = [](const std::string& where, const char* field, double v, bool strict, double upper) {
    require_finite_in(where + "." + field, v, 0, strict, upper);
  };
  for (const auto& [name, geo] : families_) {
    const std::string where = "migFamilies." + name;
    require(geo.compute_slices >= 1 && geo.compute_slices <= kMaxSlices, where + ".computeSlices", "an integer in [1, 60]",
            geo.compute_slices);
    require(geo.memory_slices >= 1 && geo.memory_slices <= kMaxSlices, where + ".memorySlices", "an integer in [1, 60]",
            geo.memory_slices);
    std::set<std::string> seen;
    for (const auto& p : geo.profiles) {
      const std::string pw = where + ".profiles." + p.name;
      if (p.name.empty()) throw InvalidArgument(where + ".profiles: every profile needs a name");
      if (!seen.insert(p.name).second) throw InvalidArgument(pw + ": duplicate profile name");
      require(p.g >= 1 && p.g <= geo.compute_slices, pw + ".g", "in [1, " + std::to_string(geo.compute_slices) + "]", p.g);
      require(p.mem_slices >= 1 && p.mem_slices <= geo.memory_slices, pw + ".memSlices",
              "in [1, " + std::to_string(geo.memory_slices) + "]", p.mem_slices);
      if (p.starts.empty()) throw InvalidArgument(pw + ".starts must list at least one placement start");
      for (std::size_t i = 0; i < p.starts.size(); ++i) {
        const int s = p.starts[i];
        if (s < 0 || s + p.mem_slices > geo.memory_slices)
          throw InvalidArgument(pw + ".starts: start " + std::to_string(s) + " with size " + std::to_string(p.mem_slices) +
                                " leaves the " + std::to_string(geo.memory_slices) + " memory slices");
        if (i > 0 && s <= p.starts[i - 1]) throw InvalidArgument(pw + ".starts must be strictly increasing");
      }
      require(p.max_count >= 1 && p.max_count <= kMaxSlices, pw + ".maxCount", "an integer in [1, 60]", p.max_count);
      require(p.sm_count >= 1 && p.sm_count <= kMaxSmCount, pw + ".smCount", "an integer in [1, 1000000]", p.sm_count);
      in_range(pw, "memGiB", p.mem_bytes / kGiB, true, kMaxMemGiB);
    }
  }
  for (const auto& g : gpus_) {
    const std::string where = "gpus." + g.id;
    if (g.id.empty() || g.id.find(':') != std::string::npos)
      throw InvalidArgument("gpus: every GPU needs an id without ':' (got \"" + g.id + "\")");
    in_range(where, "memGiB", g.mem_bytes / kGiB, true, kMaxMemGiB);
    in_range(where, "bwGBps", g.bw_Bps / 1e9, true, kMaxRateTera * 1e3);
    in_range(where, "bf16TFlops", g.flops_bf16 / 1e12, true, kMaxRateTera);
    in_range(where, "fp8TFlops", g.flops_fp8 / 1e12, false, kMaxRateTera);
    in_range(where, "int8TOps", g.ops_int8 / 1e12, false, kMaxRateTera);
    in_range(where, "tdpW", g.tdp_w, false, kMaxWatts);
    in_range(where, "cost", g.cost, false, kMaxCost);
    in_range(where, "power.idle", g.power.idle_w, false, kMaxWatts);
    in_range(where, "power.midPower", g.power.mid_power_w, false, kMaxWatts);
    in_range(where, "power.full", g.power.full_w, false, kMaxWatts);
    require(std::isfinite(g.power.mid_util) && g.power.mid_util >= 0 && g.power.mid_util < 1, where + ".power.midUtil",
            "in [0, 1)", g.power.mid_util);
    require(g.sm_count >= 0 && g.sm_count <= kMaxSmCount, where + ".smCount", "an integer in [0, 1000000]", g.sm_count);
    in_range(where, "nvlinkGBps", g.link.nvlink_Bps / 1e9, false, kMaxRateTera * 1e3);
    in_range(where, "pcieGBps", g.link.pcie_Bps / 1e9, false, kMaxRateTera * 1e3);
    require(g.link.nvlink_gpus >= 0 && g.link.nvlink_gpus <= kMaxNodeGpus, where + ".nvlinkGpus", "an integer in [0, 64]",
            g.link.nvlink_gpus);
    require(g.link.node_gpus >= 1 && g.link.node_gpus <= kMaxNodeGpus, where + ".nodeGpus", "an integer in [1, 64]", g.link.node_gpus);
    in_range(where, "allreduceLatencyUs", g.link.allreduce_latency_s * 1e6, false, 1e6);
    if (!g.mig_family.empty()) {
      if (!families_.count(g.mig_family)) {
        std::string names;
        for (const auto& [n, f] : families_) names += (names.empty() ? "" : ", ") + n;
        throw InvalidArgument(where + ".migFamily: unknown MIG family \"" + g.mig_family + "\"; known: " + names);
      }
      if (g.sm_count < 1) throw InvalidArgument(where + ".smCount must be >= 1 for a MIG-capable GPU (slice compute scales with SMs)");
    }
  }
}

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

MigGeometry parse_nvidia_smi(const std::string& lgip, const std::string& lgipp, const std::string& family,
                             int gpu_compute_slices, int gpu_memory_slices) {
  MigGeometry geo;
  geo.name = family;
  geo.compute_slices = gpu_compute_slices;
  geo.memory_slices = gpu_memory_slices;
  // Profile rows: "|   0  MIG 1g.5gb  19  7/7  4.75  No  14  0  0  |" (tokens after "MIG").
  // Hand tokenising instead of std::regex: GCC 12 warns inside <regex> under the sanitizers.
  for (const auto& line : lines_of(lgip)) {
    std::istringstream in(line);
    std::vector<std::string> tok;
    for (std::string t; in >> t;) tok.push_back(t);
    const auto mig = std::find(tok.begin(), tok.end(), "MIG");
    if (mig == tok.end() || tok.end() - mig < 7) continue;
    const std::string& counts = *(mig + 3);
    const auto slash = counts.find('/');
    MigProfile p;
    p.name = *(mig + 1);
    try {
      p.nvml_id = std::stoi(*(mig + 2));
      p.max_count = std::stoi(counts.substr(slash == std::string::npos ? 0 : slash + 1));
      p.mem_bytes = std::stod(*(mig + 4)) * kGiB;
      p.sm_count = std::stoi(*(mig + 6));
      p.g = std::stoi(p.name.substr(0, p.name.find('g')));
    } catch (const std::exception&) {
      throw InvalidArgument("lgip: cannot read the profile row \"" + line + "\"");
    }
    p.media = p.name.find('+') != std::string::npos || p.name.find("-me") != std::string::npos;
    p.observed = true;
    bool duplicate = false;
    for (const auto& q : geo.profiles) duplicate = duplicate || q.nvml_id == p.nvml_id;
    if (!duplicate) geo.profiles.push_back(p);  // one row per GPU in multi-GPU captures
  }
  if (geo.profiles.empty())
    throw InvalidArgument("lgip: no profile rows found (expected lines like \"MIG 1g.10gb 19 7/7 9.50 No 14 ...\")");
  // Placement rows: "GPU  0 Profile ID 19 Placements: {0,1,2,3,4,5,6}:1"
  std::set<int> placed;
  for (const auto& line : lines_of(lgipp)) {
    const auto at = line.find("Profile ID");
    const auto open = line.find('{'), close = line.find('}');
    if (at == std::string::npos || open == std::string::npos || close == std::string::npos || close < open) continue;
    const auto colon = line.find(':', close);
    int id = 0, size = 0;
    try {
      id = std::stoi(line.substr(at + 10));
      size = std::stoi(line.substr(colon + 1));
    } catch (const std::exception&) {
      throw InvalidArgument("lgipp: cannot read the placement row \"" + line + "\"");
    }
    auto it = std::find_if(geo.profiles.begin(), geo.profiles.end(), [&](const MigProfile& p) { return p.nvml_id == id; });
    if (it == geo.profiles.end())
      throw InvalidArgument("lgipp: placement for profile id " + std::to_string(id) + " which the lgip output does not list");
    if (!placed.insert(id).second) continue;
    it->mem_slices = size;
    std::string list = line.substr(open + 1, close - open - 1);
    std::replace(list.begin(), list.end(), ',', ' ');
    std::istringstream in(list);
    it->starts.clear();
    for (int v; in >> v;) it->starts.push_back(v);
  }
  for (const auto& p : geo.profiles)
    if (p.starts.empty())
      throw InvalidArgument("lgipp: no placements for profile " + p.name + " (id " + std::to_string(p.nvml_id) + ")");
  return geo;
}

}  // namespace inferno::sizing
