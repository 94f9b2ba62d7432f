#pragma once
// Accelerator catalog (docs/sizing.md §1): whole-device specifications, MIG geometries with their
// placement rules, and the candidates the recommender evaluates (whole GPUs and slices). The
// built-in catalog is a JSON data file shipped with the package (io/sizing_json.hpp reads it);
// user files merge over it, entry by entry.
#include <map>
#include <string>
#include <vector>

namespace inferno::sizing {

constexpr double kGiB = 1073741824.0;  // 2^30 bytes

// Ranges of a catalog's numbers (docs/sizing.md, "Input ranges").
constexpr double kMaxMemGiB = 1e6;      // memory of a GPU or slice, GiB
constexpr double kMaxRateTera = 1e6;    // TFLOPS / TOPS; bandwidth up to 1e9 GB/s
constexpr double kMaxWatts = 1e7;       // TDP and power curve, W
constexpr double kMaxCost = 1e12;       // price per GPU-hour
constexpr int kMaxSlices = 60;          // MIG compute and memory slices, instances per profile
constexpr int kMaxSmCount = 1000000;    // streaming multiprocessors
constexpr int kMaxNodeGpus = 64;        // devices of a node (nvlinkGpus, nodeGpus)

/// Power curve of one whole device (the optimizer's accelerator-data "power" object).
struct PowerSpec {
  double idle_w = 0, mid_power_w = 0, mid_util = 0.6, full_w = 0;
};

/// How a device talks to its peers for tensor parallelism (docs/sizing.md §3, "Tensor
/// parallelism"): a GPU-to-GPU fabric (NVLink, or the vendor's equivalent) within a domain of
/// `nvlink_gpus` devices, else the host's PCIe, up to `node_gpus` devices in a node.
struct Interconnect {
  double nvlink_Bps = 0;      // GPU-to-GPU bandwidth per device and direction, bytes/s (0 = none)
  int nvlink_gpus = 0;        // devices one fabric domain joins (8 on an HGX board, 2 with a bridge)
  double pcie_Bps = 0;        // host link per device and direction, bytes/s (0 = unknown)
  int node_gpus = 8;          // devices of one node: the largest tensor-parallel group
  double allreduce_latency_s = 10e-6;  // fixed time of one small all-reduce within the group
};

/// One whole device as the engine sees it, in SI units.
struct GpuSpec {
  std::string id;            // catalog key, e.g. "H100-SXM5-80GB"
  std::string vendor;        // nvidia | amd | intel
  double mem_bytes = 0;      // usable device memory reported by the driver
  double bw_Bps = 0;         // peak memory bandwidth, bytes/s
  double flops_bf16 = 0;     // peak dense BF16/FP16 tensor FLOP/s
  double flops_fp8 = 0;      // peak dense FP8 FLOP/s, 0 = unsupported
  double ops_int8 = 0;       // peak dense INT8 OP/s, 0 = unsupported
  double tdp_w = 0;
  int sm_count = 0;          // SMs (CUs) of the whole device in non-MIG mode, 0 = unknown
  std::string mig_family;    // key into Catalog::mig_families(), "" = no MIG
  std::string k8s_product;   // GFD label nvidia.com/gpu.product
  double cost = 0;           // per whole device, optimizer cost units (a placeholder to override)
  PowerSpec power;
  Interconnect link;
  bool mem_observed = false; // mem_bytes from a driver capture (else 0.99 × marketing GiB)
};

/// One GPU-instance profile of a MIG geometry.
struct MigProfile {
  std::string name;          // "3g.40gb"
  int nvml_id = -1;          // GPU-instance profile id printed by nvidia-smi, -1 = unknown
  int g = 0;                 // compute slices
  int mem_slices = 0;        // memory slices = placement size
  std::vector<int> starts;   // valid placement starts on the memory-slice axis, ascending
  int max_count = 0;         // instances per GPU
  int sm_count = 0;          // SMs of the instance
  double mem_bytes = 0;      // memory of the instance
  bool media = false;        // +me / +gfx / -me variants: excluded from sizing by default
  bool observed = false;     // sm_count / mem_bytes from a real nvidia-smi capture
};

struct MigGeometry {
  std::string name;
  int compute_slices = 7;    // G
  int memory_slices = 8;     // S
  std::vector<MigProfile> profiles;
  const MigProfile* find(const std::string& profile) const;
};

/// What the recommender evaluates: a whole GPU (profile == nullptr) or one slice of it.
struct Accelerator {
  std::string name;          // "H100-SXM5-80GB" or "H100-SXM5-80GB:3g.40gb"
  const GpuSpec* gpu = nullptr;
  const MigProfile* profile = nullptr;
  double flops_bf16 = 0, flops_fp8 = 0;  // F for each compute dtype (docs/sizing.md §1)
  double bw_Bps = 0;         // BW
  double mem_bytes = 0;      // M
  int units = 1;             // compute-slice units consumed (G for a whole MIG-capable GPU)
  int gpu_units = 1;         // units of the whole GPU (G, or 1 without MIG)
  int mem_slices = 0;        // memory slices used (all S of them for a whole MIG-capable GPU)
  int gpu_mem_slices = 0;    // S of the GPU's geometry (0 without MIG)
  bool whole() const { return profile == nullptr; }
};

/// Which candidates to generate (docs/sizing.md §5 "menu").
struct Menu {
  std::vector<std::string> gpu_types;  // empty = every GPU of the catalog
  bool include_slices = true;
  bool exclude_media = true;
};

/// The catalog: GPUs in file order and MIG geometries by name. Accelerators point into it, so a
/// catalog must outlive the accelerators taken from it (and not be modified meanwhile).
class Catalog {
 public:
  const std::vector<GpuSpec>& gpus() const { return gpus_; }
  const std::map<std::string, MigGeometry>& mig_families() const { return families_; }

  const GpuSpec* find_gpu(const std::string& id) const;
  /// The GPU's MIG geometry, or nullptr when it has none.
  const MigGeometry* geometry(const GpuSpec& gpu) const;
  const MigGeometry* geometry(const std::string& gpu_id) const;
  /// "GPU" or "GPU:profile"; throws InvalidArgument listing the known names otherwise.
  Accelerator accelerator(const std::string& name) const;
  Accelerator whole(const GpuSpec& gpu) const;
  Accelerator slice(const GpuSpec& gpu, const MigProfile& profile) const;
  /// Whole GPUs of the menu's types (in catalog order) each followed by its slices (in profile
  /// order). Unknown GPU types throw InvalidArgument.
  std::vector<Accelerator> candidates(const Menu& menu) const;

  /// Insert-or-replace by id (GPUs keep their first position) and by family name.
  void upsert_gpu(GpuSpec gpu);
  void upsert_family(MigGeometry family);
  /// Checks every entry (positive figures, profile geometry, references to families) and throws
  /// InvalidArgument naming the entry and field.
  void validate() const;

 private:
  std::vector<GpuSpec> gpus_;
  std::map<std::string, MigGeometry> families_;
};

/// Parses saved `nvidia-smi mig -lgip` and `-lgipp` text (docs/sizing.md §1) into a MIG geometry
/// named `family` for a GPU with `gpu_compute_slices` compute and `gpu_memory_slices` memory
/// slices. Throws InvalidArgument when no profile row is found or a placement names an unknown id.
MigGeometry parse_nvidia_smi(const std::string& lgip, const std::string& lgipp, const std::string& family,
                             int gpu_compute_slices, int gpu_memory_slices);

}  // namespace inferno::sizing
