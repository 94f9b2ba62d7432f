#pragma once
// Roofline estimator (docs/sizing.md §3): model architecture × accelerator → the iteration-model
// parameters α, β, γ and the memory-feasible batch.
#include <optional>
#include <string>

#include "inferno/sizing/catalog.hpp"
#include "inferno/sizing/model.hpp"

namespace inferno::sizing {

enum class MemoryMode { simple, detailed };
inline constexpr EnumName<MemoryMode> kMemoryModes[] = {{MemoryMode::simple, "simple"}, {MemoryMode::detailed, "detailed"}};

/// Efficiency factors and flags (docs/sizing.md §3): what calibration adjusts.
struct Efficiency {
  double eta_bw = 0.80;      // η_B: achieved fraction of peak bandwidth
  double eta_flops = 0.70;   // η_F: achieved fraction of peak FLOP/s
  double t0_ms = 0.5;        // fixed per-iteration overhead
  double reserve_bytes = kGiB;  // R in simple memory mode
  MemoryMode memory = MemoryMode::simple;
  bool prefill_attention = false;  // add Δβ_prefill (workload dependent β)
  bool moe_expected_experts = false;  // W_read with u(T) touched experts instead of all E
  // Fixed time of one all-reduce with tensor parallelism, ms; unset: the GPU's catalog figure
  // (allreduceLatencyUs). The bandwidth part comes from the link (docs/sizing.md §3).
  std::optional<double> allreduce_ms;
  double eta_link = 0.80;          // achieved fraction of the GPU-to-GPU (or PCIe) link bandwidth

  void validate() const;
};

/// The workload the derived figures refer to.
struct Workload {
  double in_tokens = 1024;   // n
  double out_tokens = 128;   // m
  int at_tokens = 0;         // tokens per request for the memory test, 0 = n + m
};

struct Estimate {
  double alpha_ms = 0, beta_ms = 0, gamma_ms = 0;
  // Attention compute per pair of tokens (ms): the `vllm` service model's ε, its prefill of n
  // tokens taking ε·n²/2 (causal). γ already holds it for decoding.
  double epsilon_ms = 0;
  double flops = 0, bw_Bps = 0, mem_bytes = 0;  // the accelerator figures used (per replica)
  double weight_bytes = 0;   // W_load (per device with tensor parallelism)
  double kv_bytes_per_token = 0;  // S_kv (per device)
  double reserve_bytes = 0;  // R
  double kv_budget_bytes = 0;  // M_kv (may be negative)
  long long kv_capacity_tokens = 0;  // K_max
  int ctx_tokens = 0;        // ctx_req
  long long n_mem = 0;       // N_mem
  int n_max = 0;             // min(N_mem, pp·max_num_seqs): sequences a replica holds
  int max_model_len = 0;     // the context that must fit
  bool feasible = false;
  std::string reason;        // "" when feasible: weightsDoNotFit, contextDoesNotFit, noBatch
  double knee_batch = 0;     // α/δ
  double itl1_ms = 0;        // itl(1)
  double intensity_flop_per_byte = 0;  // at B = max(1, N_max)
  std::string bound;         // "memory" | "compute" at that batch
};

/// The roofline's time terms at efficiency 1 (ms): α = t0 + weights/η_B + comm, β = compute/η_F,
/// γ = kv_read/η_B + attention/η_F. Calibration fits (t0, 1/η_B, 1/η_F) on these.
struct RooflineTerms {
  double weights_ms = 0;    // 1e3·W_read/BW
  double comm_ms = 0;       // 2·L·τ_ar with tensor parallelism (per iteration)
  double comm_token_ms = 0; // the all-reduces' bandwidth part per computed token, at η_link (not fitted)
  double compute_ms = 0;    // 1e3·2·P_mm/F (+ Δβ_prefill)
  double kv_read_ms = 0;    // 1e3·S_kv/BW
  double attention_ms = 0;  // 1e3·4·L·n_h·d/F
};
RooflineTerms roofline_terms(const ModelArch& arch, const ServingOpts& serving, const Accelerator& acc,
                             const Efficiency& eff = {}, const Workload& workload = {});

/// docs/sizing.md §3. Throws InvalidArgument on invalid inputs (e.g. FP8 compute on a GPU without FP8,
/// tensor parallelism on a MIG slice).
Estimate derive(const ModelArch& arch, const ServingOpts& serving, const Accelerator& acc,
                const Efficiency& eff = {}, const Workload& workload = {});

/// The link a tensor-parallel group of `tp` devices of `gpu` uses (docs/sizing.md §3): "nvlink"
/// within the GPU's NVLink domain, else "pcie" within its node, "" for tp = 1. Throws
/// InvalidArgument naming the limit when the GPU cannot host the group.
std::string tensor_parallel_link(const GpuSpec& gpu, int tp);

/// Time of one ring all-reduce of `bytes` over `tp` devices (ms): the fixed latency plus
/// 2(t−1)/t · bytes over the link's achieved bandwidth.
double allreduce_time_ms(const GpuSpec& gpu, int tp, double bytes, const Efficiency& eff = {});

/// Per-request mean work per iteration δ of docs/sizing.md §3 (c = 1): T_iter(B) = α + B·δ.
double work_per_iteration_ms(double beta, double gamma, double n, double m);

}  // namespace inferno::sizing
