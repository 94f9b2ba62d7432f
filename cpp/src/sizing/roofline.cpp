#include "inferno/sizing/roofline.hpp"

#include <algorithm>
#include <cmath>

#include "inferno/error.hpp"

namespace inferno::sizing {

void Efficiency::validate() const {
  auto fraction = [](double v, const char* field) { require(std::isfinite(v) && v > 0 && v <= 1.5, field, "in (0, 1.5]", v); };
  fraction(eta_bw, "etaBw");
  fraction(eta_flops, "etaFlops");
  require_finite_in("t0Ms", t0_ms, 0, false, 1e5);
  require_finite_in("reserveGiB", reserve_bytes / kGiB, 0, false, kMaxMemGiB);
  if (allreduce_ms) require_finite_in("allreduceMs", *allreduce_ms, 0, false, 1e9);
  fraction(eta_link, "etaLink");
}

double work_per_iteration_ms(double beta, double gamma, double n, double m) {
  return (beta * (n + m) + gamma * (n + m * (n + (m + 1.0) / 2.0))) / (1.0 + m);
}

std::string tensor_parallel_link(const GpuSpec& gpu, int tp) {
  if (tp <= 1) return "";
  const Interconnect& link = gpu.link;
  if (tp > link.node_gpus)
    throw InvalidArgument("tensorParallelSize " + std::to_string(tp) + " on " + gpu.id + ": a node holds " +
                          std::to_string(link.node_gpus) + " of its GPUs (the catalog's nodeGpus), so at most " +
                          std::to_string(link.node_gpus));
  if (link.nvlink_Bps > 0 && tp <= link.nvlink_gpus) return "nvlink";
  if (link.pcie_Bps > 0) return "pcie";
  throw InvalidArgument("tensorParallelSize " + std::to_string(tp) + " on " + gpu.id + ": the catalog gives no link for " +
                        std::to_string(tp) + " GPUs (nvlinkGBps with nvlinkGpus >= " + std::to_string(tp) +
                        ", or pcieGBps)");
}

namespace {
// The fixed time of one small transfer between the GPUs (an all-reduce, or a pipeline hop), ms.
double link_latency_ms(const GpuSpec& gpu, const Efficiency& eff) {
  return eff.allreduce_ms ? *eff.allreduce_ms : 1e3 * gpu.link.allreduce_latency_s;
}
}  // namespace

double allreduce_time_ms(const GpuSpec& gpu, int tp, double bytes, const Efficiency& eff) {
  if (tp <= 1) return 0.0;
  const std::string link = tensor_parallel_link(gpu, tp);
  const double bw = link == "nvlink" ? gpu.link.nvlink_Bps : gpu.link.pcie_Bps;
  return link_latency_ms(gpu, eff) + 1e3 * 2.0 * (tp - 1.0) / tp * bytes / (eff.eta_link * bw);
}

namespace {

// Bytes of the activations one token all-reduces per layer part (attention out, MLP out): the
// hidden vector in the activation dtype (bf16/fp16, 2 bytes; FP8 models keep 16-bit activations).
constexpr double kActivationBytes = 2.0;

void check_workload(const Workload& w) {
  if (!(std::isfinite(w.in_tokens) && w.in_tokens >= 0))
    throw InvalidArgument("in tokens (n) must be a number >= 0, got " + format_number(w.in_tokens));
  if (!(std::isfinite(w.out_tokens) && w.out_tokens >= 1))
    throw InvalidArgument("out tokens (m) must be a number >= 1, got " + format_number(w.out_tokens));
  if (w.at_tokens < 0) throw InvalidArgument("atTokens must be >= 0 (0 = n + m)");
}

// Per-device quantities shared by the time terms and the memory budget.
struct DeviceLoad {
  Counts counts;
  double flops = 0;      // tensor throughput of the whole replica (t devices)
  double bw_dev = 0;     // bandwidth of one device
  double w_dev = 0;      // resident weight bytes per device
  double w_read_dev = 0; // weight bytes streamed per iteration per device
  double s_kv_dev = 0;   // KV bytes per token per device (all layers)
  double stage_share = 1;  // share of the layers the largest pipeline stage holds
};

DeviceLoad device_load(const ModelArch& arch, const ServingOpts& serving, const Accelerator& acc, const Efficiency& eff,
                       const Workload& w) {
  serving.validate();
  eff.validate();
  check_workload(w);
  if (!acc.gpu) throw InvalidArgument("accelerator has no GPU");
  DeviceLoad d;
  d.counts = count_params(arch);
  const int t = serving.tp;
  if (t > 1 && !acc.whole())
    throw InvalidArgument("tensorParallelSize " + std::to_string(t) + " on MIG slice " + acc.name +
                          ": MIG instances have no peer-to-peer, so a slice serves with tensor parallelism 1");
  if (t > 1 && arch.heads % t != 0)
    throw InvalidArgument("tensorParallelSize " + std::to_string(t) + " does not divide the model's " +
                          std::to_string(arch.heads) + " attention heads (vLLM splits heads evenly)");
  if (t > 1) (void)tensor_parallel_link(*acc.gpu, t);  // the GPU can host the group
  const int p = serving.pp;
  if (p > 1 && !acc.whole())
    throw InvalidArgument("pipelineParallelSize " + std::to_string(p) + " on MIG slice " + acc.name +
                          ": slices of one GPU gain nothing from a pipeline; a slice serves with pipeline parallelism 1");
  if (p > arch.layers)
    throw InvalidArgument("pipelineParallelSize " + std::to_string(p) + " exceeds the model's " + std::to_string(arch.layers) +
                          " layers (each stage needs at least one)");
  const double flops_dev = serving.compute == ComputeDtype::fp8 ? acc.flops_fp8 : acc.flops_bf16;
  if (!(flops_dev > 0))
    throw InvalidArgument("compute dtype fp8 is not supported by " + acc.name + " (its fp8TFlops is 0); use bf16");
  d.flops = t * flops_dev;
  d.bw_dev = acc.bw_Bps;
  const double bytes_per_weight = serving.weight_bytes + serving.quant_overhead;
  d.w_dev = static_cast<double>(d.counts.p_total) * bytes_per_weight / t;
  // KV heads are split across the devices and replicated when t does not divide n_kv.
  const double kv_share = std::ceil(static_cast<double>(arch.kv_heads) / t) / arch.kv_heads;
  d.s_kv_dev = static_cast<double>(d.counts.kv_elements_per_token) * serving.kv_bytes * kv_share;
  if (p > 1) {
    // The largest stage holds ceil(L/p) of the layers: its devices' weights and KV per token set
    // the memory budget. The time terms stay those of the whole model (a token passes every stage).
    d.stage_share = std::ceil(static_cast<double>(arch.layers) / p) / arch.layers;
  }
  d.w_read_dev = d.w_dev;
  if (arch.experts > 0 && eff.moe_expected_experts) {
    // Experts touched by a batch-1 iteration, u(T) = E·(1 − (1 − k/E)^T): the rest is not read.
    const double E = arch.experts, k = arch.experts_per_token;
    const double tokens = (w.in_tokens + w.out_tokens) / (1.0 + w.out_tokens);
    const double touched = E * (1.0 - std::pow(1.0 - k / E, tokens));
    const double expert_bytes = static_cast<double>(d.counts.p_expert) * bytes_per_weight / t;
    d.w_read_dev = d.w_dev - arch.layers * (E - touched) * expert_bytes;
  }
  return d;
}

RooflineTerms terms_of(const ModelArch& arch, const ServingOpts& serving, const Accelerator& acc, const Efficiency& eff,
                       const Workload& w, const DeviceLoad& d) {
  RooflineTerms r;
  const double n = w.in_tokens, m = w.out_tokens;
  const double attn = static_cast<double>(d.counts.attn_flop_coeff);
  r.weights_ms = 1e3 * d.w_read_dev / d.bw_dev;
  if (serving.tp > 1) {
    // Two all-reduces per layer (after attention and after the MLP): their fixed part per
    // iteration, their bandwidth part per computed token (docs/sizing.md §3).
    const double all = allreduce_time_ms(*acc.gpu, serving.tp, 0.0, eff);
    r.comm_ms = 2.0 * arch.layers * all;
    r.comm_token_ms = 2.0 * arch.layers * (allreduce_time_ms(*acc.gpu, serving.tp, arch.hidden * kActivationBytes, eff) - all);
  }
  // A pipeline hands each iteration's activations from stage to stage: one link latency per hop.
  if (serving.pp > 1)
    r.comm_ms += (serving.pp - 1) * link_latency_ms(*acc.gpu, eff);
  r.compute_ms = 1e3 * 2.0 * static_cast<double>(d.counts.p_matmul) / d.flops;
  if (eff.prefill_attention && n + m > 0) r.compute_ms += 1e3 * (attn / 2.0) * n * n / ((n + m) * d.flops);
  r.kv_read_ms = 1e3 * d.s_kv_dev / d.bw_dev;
  r.attention_ms = 1e3 * attn / d.flops;
  return r;
}

}  // namespace

RooflineTerms roofline_terms(const ModelArch& arch, const ServingOpts& serving, const Accelerator& acc,
                             const Efficiency& eff, const Workload& w) {
  return terms_of(arch, serving, acc, eff, w, device_load(arch, serving, acc, eff, w));
}

Estimate derive(const ModelArch& arch, const ServingOpts& serving, const Accelerator& acc, const Efficiency& eff,
                const Workload& w) {
  const DeviceLoad d = device_load(arch, serving, acc, eff, w);
  const RooflineTerms r = terms_of(arch, serving, acc, eff, w, d);
  const int t = serving.tp;
  const double n = w.in_tokens, m = w.out_tokens;
  Estimate e;
  e.flops = d.flops;
  e.bw_Bps = t * d.bw_dev;
  e.mem_bytes = acc.mem_bytes;
  e.weight_bytes = d.w_dev * d.stage_share;
  e.kv_bytes_per_token = d.s_kv_dev * d.stage_share;
  e.alpha_ms = eff.t0_ms + r.weights_ms / eff.eta_bw + r.comm_ms;
  e.beta_ms = r.compute_ms / eff.eta_flops + r.comm_token_ms;
  e.gamma_ms = r.kv_read_ms / eff.eta_bw + r.attention_ms / eff.eta_flops;
  e.epsilon_ms = r.attention_ms / eff.eta_flops;

  // Memory budget (docs/sizing.md §3).
  if (eff.memory == MemoryMode::simple) {
    e.reserve_bytes = eff.reserve_bytes;
  } else {
    const double i_act = arch.experts > 0 ? double(arch.experts_per_token) * arch.expert_intermediate : arch.intermediate;
    e.reserve_bytes = 0.5 * kGiB + serving.max_num_batched_tokens * (4.0 * arch.hidden + 2.0 * i_act) * 2.0 +
                      double(serving.max_num_seqs) * arch.vocab * 4.0;
  }
  e.kv_budget_bytes = serving.gpu_mem_util * acc.mem_bytes - e.weight_bytes - e.reserve_bytes;
  const long long block = serving.block;
  if (e.kv_budget_bytes > 0) {
    const double tokens = std::floor(e.kv_budget_bytes / e.kv_bytes_per_token);
    e.kv_capacity_tokens = block * static_cast<long long>(std::floor(tokens / static_cast<double>(block)));
  }
  const double at_tokens = w.at_tokens > 0 ? w.at_tokens : std::ceil(n + m);
  e.ctx_tokens = static_cast<int>(block * static_cast<long long>(std::ceil(at_tokens / static_cast<double>(block))));
  e.n_mem = e.ctx_tokens > 0 ? e.kv_capacity_tokens / e.ctx_tokens : 0;
  // With a pipeline, each of its pp virtual engines schedules up to max_num_seqs sequences.
  e.n_max = static_cast<int>(std::min<long long>(e.n_mem, static_cast<long long>(serving.max_num_seqs) * serving.pp));
  e.max_model_len = serving.max_model_len > 0 ? serving.max_model_len : arch.max_pos;
  if (!(e.kv_budget_bytes > 0)) e.reason = "weightsDoNotFit";
  else if (e.kv_capacity_tokens < e.max_model_len) e.reason = "contextDoesNotFit";
  else if (e.n_mem < 1) e.reason = "noBatch";
  e.feasible = e.reason.empty();

  // Shape of the iteration time (docs/sizing.md §3) and the roofline diagnostics at the full batch.
  const double delta = work_per_iteration_ms(e.beta_ms, e.gamma_ms, n, m);
  e.knee_batch = delta > 0 ? e.alpha_ms / delta : 0;
  e.itl1_ms = e.alpha_ms + e.beta_ms + e.gamma_ms * (n + (m + 1.0) / 2.0);
  const double batch = std::max(1, e.n_max);
  const double computed_tokens = batch * (n + m) / (1.0 + m);
  const double context_read = batch * (n + m * (n + (m + 1.0) / 2.0)) / (1.0 + m);
  const double attn = static_cast<double>(d.counts.attn_flop_coeff);
  const double flop_it = 2.0 * static_cast<double>(d.counts.p_matmul) * computed_tokens + attn * context_read;
  const double byte_it = t * (d.w_read_dev + d.s_kv_dev * context_read);
  e.intensity_flop_per_byte = flop_it / byte_it;
  e.bound = e.intensity_flop_per_byte < d.flops / (t * d.bw_dev) ? "memory" : "compute";
  return e;
}

}  // namespace inferno::sizing
