// Sizing to optimizer (docs/sizing.md §8): a sizing request as the optimizer's input documents.
#include "inferno/sizing/optimizer_bridge.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "inferno/error.hpp"

namespace inferno::sizing {

using nlohmann::json;

namespace {

// The optimizer counts a type's capacity in one dimension. A MIG slice takes the larger of its
// compute and its memory share of the GPU, so the emitted documents count a card as G·S units and a
// slice as max(g·S, m·G): then one unit count says how many slices of a profile fit a card, the
// same "larger share" the recommendation reports (docs/sizing.md §8).
int card_units(const Accelerator& a) { return a.gpu_mem_slices > 0 ? a.gpu_units * a.gpu_mem_slices : a.gpu_units; }

int share_units(const Accelerator& a) {
  if (a.gpu_mem_slices <= 0) return a.units;
  return std::max(a.units * a.gpu_mem_slices, a.mem_slices * a.gpu_units);
}

}  // namespace

json emit_optimizer_data(const RecommendRequest& req, const Catalog& catalog, const ModelRegistry& registry,
                         const CalibrationStore& calibrations) {
  const std::vector<Accelerator> accs = catalog.candidates(req.options.menu);
  json accelerators = json::array(), models = json::array(), classes = json::array(), servers = json::array(),
       notes = json::array(), count = json::array();
  for (const Accelerator& a : accs) {
    const double share = static_cast<double>(a.units) / a.gpu_units;
    const PowerSpec& pw = a.gpu->power;
    json entry{{"name", a.name}, {"type", a.gpu->id}, {"multiplicity", share_units(a)}, {"memSize", std::floor(a.mem_bytes / 1e9)},
               {"memBW", std::floor(a.bw_Bps / 1e9)},
               {"power", {{"idle", pw.idle_w * share}, {"full", pw.full_w * share}, {"midPower", pw.mid_power_w * share}, {"midUtil", pw.mid_util}}},
               {"cost", replica_cost(a, req.options)}};  // per replica: the optimizer prices profile units, multiplicity counts cards
    if (a.profile) {
      const MigGeometry& geo = *catalog.geometry(*a.gpu);
      entry["mig"] = {{"profile", a.profile->name}, {"computeSlices", a.profile->g}, {"memorySlices", a.profile->mem_slices},
                      {"gpuComputeSlices", geo.compute_slices}, {"gpuMemorySlices", geo.memory_slices}, {"starts", a.profile->starts}};
    }
    accelerators.push_back(entry);
  }
  for (const auto& [type, gpus] : req.options.capacity) {
    const GpuSpec* g = catalog.find_gpu(type);
    if (!g) throw InvalidArgument("capacity: unknown GPU type \"" + type + "\"");
    // Profiles of a MIG-capable type count shares of a card: capacity says GPUs and units per GPU.
    const int units = card_units(catalog.whole(*g));
    json entry{{"type", g->id}, {"count", gpus}};
    if (units > 1) entry["unitsPerCard"] = units;
    count.push_back(entry);
  }
  // One model-data entry per (model, accelerator); the workload with the smallest m/ctx among the
  // model's servers binds, because the optimizer scales maxBatchSize·atTokens by each server's m.
  std::map<std::string, const ServerRequest*> binding;
  for (const ServerRequest& s : req.servers) {
    const auto it = binding.find(s.model);
    const auto ratio = [](const ServerRequest& x) { return x.load.out_tokens / (x.load.in_tokens + x.load.out_tokens); };
    if (it == binding.end() || ratio(s) < ratio(*it->second)) binding[s.model] = &s;
  }
  for (const auto& [model, s] : binding) {
    const auto reg = registry.find(model);
    if (reg == registry.end()) throw InvalidArgument("servers: unknown model \"" + model + "\"");
    const Workload w{s->load.in_tokens, s->load.out_tokens, 0};
    for (const Accelerator& a : accs) {
      Estimate e;
      try {
        e = derive(reg->second, s->serving, a, req.options.efficiency, w);
      } catch (const InvalidArgument&) {
        if (s->serving.tp == 1 && s->serving.pp == 1) throw;
        continue;  // a parallel group this accelerator cannot host (a slice, too many GPUs, no link)
      }
      if (!e.feasible) continue;
      const auto theta = calibrated_theta_for(model, reg->second, s->serving, a, w, calibrations)
                             .value_or(std::array<double, 3>{e.alpha_ms, e.beta_ms, e.gamma_ms});
      json perf{{"alpha", theta[0]}, {"beta", theta[1]}, {"gamma", theta[2]}};
      if (req.options.service_model == "vllm") {  // the same queueing model as the recommendation
        perf["delta"] = req.options.per_sequence_ms;
        perf["epsilon"] = req.options.efficiency.prefill_attention ? 0.0 : e.epsilon_ms;
      }
      // A replica of a tensor- or pipeline-parallel group takes tp·pp accelerators.
      const int acc_count = a.whole() ? s->serving.tp * s->serving.pp : 1;
      models.push_back({{"name", model}, {"acc", a.name}, {"accCount", acc_count}, {"maxBatchSize", e.n_max},
                        {"atTokens", static_cast<long long>(std::ceil(s->load.out_tokens))}, {"perfParms", perf}});
    }
  }
  for (const ServerRequest& s : req.servers) {
    if (!s.load.arrival_rate_rps) {
      notes.push_back(s.name + ": closed-loop load (concurrency) has no arrival rate; not emitted as an optimizer server");
      continue;
    }
    const std::string cls = s.name + "-slo";
    json target{{"model", s.model}};
    if (s.slo.itl_ms > 0) target["slo-itl"] = s.slo.itl_ms;
    if (s.slo.ttft_ms > 0) target["slo-ttft"] = s.slo.ttft_ms;
    if (s.slo.itl_ms > 0 && s.slo.itl_percentile > 0) target["slo-itl-percentile"] = s.slo.itl_percentile;
    if (s.slo.ttft_ms > 0 && s.slo.ttft_percentile > 0) target["slo-ttft-percentile"] = s.slo.ttft_percentile;
    classes.push_back({{"name", cls}, {"priority", 1}, {"modelTargets", json::array({target})}});
    servers.push_back({{"name", s.name}, {"class", cls}, {"model", s.model},
                       {"currentAlloc", {{"load", {{"arrivalRate", *s.load.arrival_rate_rps * 60.0},
                                                   {"avgInTokens", s.load.in_tokens}, {"avgOutTokens", s.load.out_tokens}}}}}});
  }
  // The sizer's settings the recommendation used, so that the optimizer sizes as it did.
  json optimizer{{"queueToBatchRatio", req.options.queue_to_batch_ratio},
                 {"queueModel", req.options.service_model == "vllm" ? "vllm" : "auto"}};
  return json{{"accelerators", accelerators}, {"count", count}, {"models", models}, {"serviceClasses", classes},
              {"servers", servers}, {"optimizer", optimizer}, {"notes", notes}};
}

}  // namespace inferno::sizing
