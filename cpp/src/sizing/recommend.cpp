#include "inferno/sizing/recommend.hpp"

#include <algorithm>
#include <cmath>

#include "inferno/error.hpp"
#include "inferno/optimizer/candidates.hpp"
#include "inferno/queue/analyzer.hpp"
#include "inferno/queue/limits.hpp"
#include "inferno/queue/models/iteration.hpp"

namespace inferno::sizing {

namespace {

double gpu_cost(const GpuSpec& gpu, const RecommendOptions& options) {
  const auto it = options.costs.find(gpu.id);
  return it != options.costs.end() ? it->second : gpu.cost;
}

void validate_server(const ServerRequest& s, const ModelRegistry& registry) {
  const std::string where = "servers." + (s.name.empty() ? std::string("<unnamed>") : s.name);
  if (s.name.empty()) throw InvalidArgument("servers: every server needs a name");
  if (!registry.count(s.model)) {
    std::string names;
    for (const auto& [n, a] : registry) names += (names.empty() ? "" : ", ") + n;
    throw InvalidArgument(where + ".model: unknown model \"" + s.model + "\"; known: " + names);
  }
  const ServerLoad& l = s.load;
  if (l.concurrency.has_value() == l.arrival_rate_rps.has_value())
    throw InvalidArgument(where + ".load: give exactly one of concurrency (closed loop) and arrivalRate (open loop, req/s)");
  // The queue model's input ranges (docs/queueing-model.md §1.4) bound the load; docs/sizing.md,
  // "Input ranges", lists them all.
  if (l.concurrency)
    require(*l.concurrency >= 1 && *l.concurrency <= kMaxConcurrency, where + ".load.concurrency",
            "an integer in [1, 1000000]", *l.concurrency);
  if (l.arrival_rate_rps) require_finite_in(where + ".load.arrivalRateRps", *l.arrival_rate_rps, 0, true, queue::kMaxRateRps);
  require_finite_in(where + ".load.avgInTokens", l.in_tokens, 0, false, queue::kMaxTokens);
  require_finite_in(where + ".load.avgOutTokens", l.out_tokens, 1, false, queue::kMaxTokens);
  const Slo& o = s.slo;
  for (auto [v, f] : {std::pair{o.itl_ms, "slo.itl"}, std::pair{o.ttft_ms, "slo.ttft"}})
    require(std::isfinite(v) && v >= 0, where + "." + f, "a number >= 0 (ms; 0 = none)", v);
  for (auto [v, f] : {std::pair{o.itl_percentile, "slo.itlPercentile"}, std::pair{o.ttft_percentile, "slo.ttftPercentile"}})
    require(std::isfinite(v) && v >= 0 && v < 100, where + "." + f, "in [0, 100) (0 = mean)", v);
  s.serving.validate();
}

// Closed loop (docs/sizing.md §5 step 3): C clients, all in the batch, split over r replicas.
void evaluate_closed(const ServerRequest& s, const std::array<double, 3>& theta, int max_replicas, Option& o) {
  const int C = *s.load.concurrency;
  const queue::RequestShape shape{s.load.in_tokens, s.load.out_tokens, s.serving.max_num_batched_tokens};
  // Beyond C replicas each holds one request, as at r = C: nothing changes, so stop there.
  const int last = std::min(max_replicas, C);
  for (int r = 1; r <= last; ++r) {
    const int c_r = (C + r - 1) / r;
    o.replicas = r;
    o.batch = c_r;
    if (o.estimate.n_max < c_r) {
      o.reason = "batchTooSmall";
      o.itl_ms = o.ttft_ms = o.rate_per_replica_rps = 0;
      o.predicted = false;
      continue;
    }
    const queue::IterationModel model(theta[0], theta[1], theta[2], shape, c_r);
    const double x = c_r;
    o.itl_ms = model.itl_ms(x, c_r);
    o.ttft_ms = model.prefill_ms(x, c_r) + o.itl_ms;
    o.rate_per_replica_rps = 1e3 * c_r / model.service_times_ms()[static_cast<std::size_t>(c_r - 1)];
    o.predicted = true;
    // Every client is in the batch and the token time is deterministic: a percentile is the mean.
    if (s.slo.itl_percentile > 0) o.itl_at_percentile_ms = o.itl_ms;
    if (s.slo.ttft_percentile > 0) o.ttft_at_percentile_ms = o.ttft_ms;
    if (s.slo.itl_ms > 0 && o.itl_ms > s.slo.itl_ms) o.reason = "itl";
    else if (s.slo.ttft_ms > 0 && o.ttft_ms > s.slo.ttft_ms) o.reason = "ttft";
    else {
      o.reason.clear();
      o.feasible = true;
      return;
    }
  }
}

// Open loop (docs/sizing.md §5): the optimizer's replica sizer (docs/optimizer.md §3), so that this
// recommendation and `inferno optimize` on the documents of section 8 size a server alike: the batch
// cap within N_max that needs the fewest replicas (then the smallest cap near the peak), its λ*
// within the targets, and ⌈λ/λ*⌉ replicas.
void evaluate_open(const ServerRequest& s, const std::array<double, 3>& theta, int max_replicas,
                   const RecommendOptions& options, Option& o) {
  queue::QueueConfig config;
  config.service_model = options.service_model;
  config.params = {{"alpha", theta[0]}, {"beta", theta[1]}, {"gamma", theta[2]}};
  if (options.service_model == "vllm") {
    config.params["delta"] = options.per_sequence_ms;
    // The prefill's attention, unless the efficiency's prefillAttention already put it into β.
    config.params["epsilon"] = options.efficiency.prefill_attention ? 0.0 : o.estimate.epsilon_ms;
  }
  config.shape = queue::RequestShape{s.load.in_tokens, s.load.out_tokens, s.serving.max_num_batched_tokens};
  config.max_batch = o.estimate.n_max;
  config.max_queue = 0;
  const auto full = std::make_shared<const queue::QueueAnalyzer>(config);
  optimizer::ModelTarget target;
  target.itl_ms = s.slo.itl_ms;
  target.ttft_ms = s.slo.ttft_ms;
  target.itl_percentile = s.slo.itl_percentile;
  target.ttft_percentile = s.slo.ttft_percentile;
  optimizer::OptimizerSpec sizer;  // the optimizer's defaults, with the request's waiting room
  sizer.queue_to_batch_ratio = options.queue_to_batch_ratio;
  const double lambda = *s.load.arrival_rate_rps;
  const optimizer::ReplicaSizing sized =
      optimizer::size_replicas(full, target, lambda, 1, o.estimate.n_max, o.estimate.n_max, sizer);
  if (sized.batch == 0 || !(sized.rate_rps > 0)) {
    o.reason = "slo";
    return;
  }
  o.batch = sized.batch;
  o.rate_per_replica_rps = sized.rate_rps;
  if (sized.replicas == 0 || sized.replicas > 1000000) {
    o.reason = "replicas";
    return;
  }
  o.replicas = sized.replicas;
  const queue::QueueAnalyzer analyzer(*full, sized.batch, sized.queue);
  queue::Evaluation ev;
  analyzer.evaluate(lambda / o.replicas, ev);
  o.itl_ms = ev.metrics.itl_ms;
  o.ttft_ms = ev.metrics.ttft_ms;
  o.predicted = true;
  if (s.slo.itl_percentile > 0) o.itl_at_percentile_ms = analyzer.itl_quantile(ev, s.slo.itl_percentile / 100);
  if (s.slo.ttft_percentile > 0) o.ttft_at_percentile_ms = analyzer.ttft_quantile(ev, s.slo.ttft_percentile / 100);
  if (max_replicas > 0 && o.replicas > max_replicas) {
    o.reason = "replicas";
    return;
  }
  o.feasible = true;
}

// Selection order of docs/sizing.md §5: cost, fewer memory slices, whole GPU before a 7g slice, lower ITL, name.
bool better(const Option& a, const Option& b) {
  const double tol = 1e-9 * std::max(1.0, std::max(std::fabs(a.cost), std::fabs(b.cost)));
  if (std::fabs(a.cost - b.cost) > tol) return a.cost < b.cost;
  if (a.mem_slices != b.mem_slices) return a.mem_slices < b.mem_slices;
  if (a.profile.empty() != b.profile.empty()) return a.profile.empty();
  if (a.itl_ms != b.itl_ms) return a.itl_ms < b.itl_ms;
  return a.accelerator < b.accelerator;
}

}  // namespace

double replica_cost(const Accelerator& acc, const RecommendOptions& options) {
  const double whole = gpu_cost(*acc.gpu, options);
  if (acc.whole()) return whole;
  const double compute = static_cast<double>(acc.units) / acc.gpu_units;
  switch (options.cost_rule) {
    case SliceCostRule::compute: return whole * compute;
    case SliceCostRule::max: return whole * std::max(compute, static_cast<double>(acc.mem_slices) / acc.gpu_mem_slices);
    case SliceCostRule::given: {
      const auto it = options.costs.find(acc.name);
      if (it == options.costs.end())
        throw InvalidArgument("costs: sliceCostRule \"given\" needs a cost for \"" + acc.name + "\"");
      return it->second;
    }
  }
  return whole;
}

std::optional<std::array<double, 3>> calibrated_theta_for(const std::string& model, const ModelArch& arch,
                                                          const ServingOpts& serving, const Accelerator& acc,
                                                          const Workload& workload, const CalibrationStore& calibrations) {
  const auto it = calibrations.find(model);
  if (it == calibrations.end()) return std::nullopt;
  for (const Calibration& c : it->second)
    if (c.accepted && c.mode == CalibrationMode::theta && c.accelerator == acc.name) return c.theta;
  for (const Calibration& c : it->second)
    if (c.accepted && c.mode == CalibrationMode::family && std::find(c.gpus.begin(), c.gpus.end(), acc.gpu->id) != c.gpus.end())
      return calibrated_theta(c, arch, serving, acc, workload);
  return std::nullopt;
}

std::vector<ServerRecommendation> recommend(const std::vector<ServerRequest>& servers, const Catalog& catalog,
                                            const ModelRegistry& registry, const RecommendOptions& options,
                                            const CalibrationStore& calibrations) {
  options.efficiency.validate();
  require(options.max_replicas >= 0 && options.max_replicas <= kMaxReplicas, "menu.maxReplicas",
          "an integer in [0, 1000000] (0 = default)", options.max_replicas);
  require(options.queue_to_batch_ratio >= 0 && options.queue_to_batch_ratio <= 100000, "queueToBatchRatio",
          "an integer in [0, 100000]", options.queue_to_batch_ratio);
  if (options.service_model != "iteration" && options.service_model != "vllm")
    throw InvalidArgument("serviceModel: unknown \"" + options.service_model + "\"; allowed: iteration, vllm");
  require_finite_in("perSequenceMs", options.per_sequence_ms, 0, false, 1e6);
  for (const auto& [type, owned] : options.capacity) {
    if (catalog.find_gpu(type) == nullptr) throw InvalidArgument("capacity: unknown GPU type \"" + type + "\"");
    require(owned >= 0, "capacity." + type, "an integer >= 0", owned);
  }
  for (const auto& [name, cost] : options.costs)
    require_finite_in("costs." + name, cost, 0, false, kMaxCost);
  const std::vector<Accelerator> accs = catalog.candidates(options.menu);
  if (accs.empty()) throw InvalidArgument("menu: no accelerator to evaluate (the catalog has no GPU)");
  std::vector<ServerRecommendation> out;
  for (const ServerRequest& s : servers) {
    validate_server(s, registry);
    const ModelArch& arch = registry.at(s.model);
    const Workload workload{s.load.in_tokens, s.load.out_tokens, 0};
    const bool closed = s.load.concurrency.has_value();
    const int max_replicas = options.max_replicas > 0 ? options.max_replicas : (closed ? 1 : 0);
    ServerRecommendation rec;
    rec.server = s.name;
    for (const Accelerator& acc : accs) {
      Option o;
      o.server = s.name;
      o.accelerator = acc.name;
      o.gpu = acc.gpu->id;
      o.profile = acc.profile ? acc.profile->name : "";
      o.units = acc.units;
      o.mem_slices = acc.mem_slices;
      o.cost_per_replica = replica_cost(acc, options);
      try {
        o.estimate = derive(arch, s.serving, acc, options.efficiency, workload);
      } catch (const InvalidArgument&) {
        // Serving options and efficiency were checked above: what is left is a parallel group this
        // accelerator cannot host (a slice, more GPUs than a node holds, no link, heads not split evenly).
        if (s.serving.tp == 1 && s.serving.pp == 1) throw;
        o.reason = "parallelism";
        rec.options.push_back(std::move(o));
        continue;
      }
      if (!o.estimate.feasible) {
        o.reason = o.estimate.reason;
        rec.options.push_back(std::move(o));
        continue;
      }
      if (const auto fitted = calibrated_theta_for(s.model, arch, s.serving, acc, workload, calibrations)) {
        o.calibrated = true;
        o.estimate.alpha_ms = (*fitted)[0];
        o.estimate.beta_ms = (*fitted)[1];
        o.estimate.gamma_ms = (*fitted)[2];
      }
      const std::array<double, 3> theta{o.estimate.alpha_ms, o.estimate.beta_ms, o.estimate.gamma_ms};
      try {
        if (closed) evaluate_closed(s, theta, max_replicas, o);
        else evaluate_open(s, theta, max_replicas, options, o);
      } catch (const InvalidArgument& e) {
        // Only extreme catalog or efficiency values derive parameters outside the queueing
        // model's ranges; say where they came from.
        throw InvalidArgument("servers." + s.name + " on " + acc.name + ": the derived parameters (alpha " +
                              format_number(theta[0]) + " ms) are outside the queueing model's ranges: " + e.what() +
                              "; check the catalog's bwGBps and TFLOPS and the efficiency factors");
      }
      o.cost = o.cost_per_replica * o.replicas;
      if (acc.whole()) {
        o.gpu_compute = o.gpu_memory = static_cast<double>(o.replicas) * s.serving.tp;
      } else {
        o.gpu_compute = o.replicas * static_cast<double>(acc.units) / acc.gpu_units;
        o.gpu_memory = acc.gpu_mem_slices > 0 ? o.replicas * static_cast<double>(acc.mem_slices) / acc.gpu_mem_slices : 0.0;
      }
      const auto owned = options.capacity.find(o.gpu);
      if (o.feasible && owned != options.capacity.end() && o.gpus() > owned->second + 1e-9) {
        o.feasible = false;
        o.reason = "capacity";
      }
      rec.options.push_back(std::move(o));
    }
    for (std::size_t i = 0; i < rec.options.size(); ++i)
      if (rec.options[i].feasible && (rec.choice_index < 0 || better(rec.options[i], rec.options[static_cast<std::size_t>(rec.choice_index)])))
        rec.choice_index = static_cast<int>(i);
    if (rec.choice_index >= 0) {
      rec.choice = rec.options[static_cast<std::size_t>(rec.choice_index)].accelerator;
    } else if (closed) {
      // AutoFit's fallback: the whole GPU of the first allowed type that holds the model,
      // flagged. Where no whole GPU holds it, the server cannot run at all: unallocated.
      for (std::size_t i = 0; i < rec.options.size(); ++i)
        if (rec.options[i].profile.empty() && rec.options[i].estimate.feasible) {
          rec.choice_index = static_cast<int>(i);
          rec.choice = rec.options[i].accelerator;
          break;
        }
      rec.slo_unattainable = rec.choice_index >= 0;
      rec.unallocated = rec.choice_index < 0;
    } else {
      rec.unallocated = true;
    }
    out.push_back(std::move(rec));
  }
  return out;
}

std::map<std::string, CapacityUse> capacity_use(const std::vector<ServerRecommendation>& recs,
                                               const RecommendOptions& options) {
  std::map<std::string, CapacityUse> use;
  std::map<std::string, std::pair<double, double>> shares;  // summed compute and memory, in GPUs
  for (const auto& [type, owned] : options.capacity) use[type].owned_gpus = owned;
  for (const auto& r : recs) {
    if (r.choice_index < 0) continue;
    const Option& o = r.options[static_cast<std::size_t>(r.choice_index)];
    shares[o.gpu].first += o.gpu_compute;
    shares[o.gpu].second += o.gpu_memory;
  }
  for (auto& [type, u] : use) {
    const auto it = shares.find(type);
    if (it != shares.end()) u.needed_gpus = std::max(it->second.first, it->second.second);
  }
  return use;
}

}  // namespace inferno::sizing
