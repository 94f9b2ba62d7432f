#pragma once
// Recommendation (docs/sizing.md §5): for each server, every whole GPU and MIG slice of the menu is
// evaluated with the queue core, and the cheapest one meeting the SLOs is chosen.
#include <map>
#include <optional>
#include <string>

#include "inferno/enum_names.hpp"
#include <vector>

#include "inferno/sizing/calibrate.hpp"
#include "inferno/sizing/catalog.hpp"
#include "inferno/sizing/model.hpp"
#include "inferno/sizing/roofline.hpp"

namespace inferno::sizing {

/// Architectures by model name (the registry the webhook and the recommender resolve names in).
using ModelRegistry = std::map<std::string, ModelArch>;
/// Accepted calibrations by model name.
using CalibrationStore = std::map<std::string, std::vector<Calibration>>;

struct ServerLoad {
  std::optional<int> concurrency;          // closed loop (AutoFit's form)
  std::optional<double> arrival_rate_rps;  // open loop (the optimizer's form)
  double in_tokens = 0, out_tokens = 0;    // n, m (m >= 1)
};

/// SLO: a mean (percentile 0) or a percentile in (0, 100) for each of ITL and TTFT; target 0 =
/// unconstrained. In closed loop every client is in the batch and the mean-field token time is
/// deterministic, so a percentile target is checked against the same value as the mean.
struct Slo {
  double itl_ms = 0, ttft_ms = 0;
  double itl_percentile = 0, ttft_percentile = 0;
};

/// One server of a sizing request: a model, how it is served, its load and its SLOs.
struct ServerRequest {
  std::string name;
  std::string model;   // key of the registry
  ServingOpts serving;
  ServerLoad load;
  Slo slo;
};

/// The old name (docs/development.md, "Glossary"): "ServerSpec" also named the reference's server
/// document and a simulated replica.
using ServerSpec [[deprecated("renamed ServerRequest")]] = ServerRequest;

enum class SliceCostRule { compute, max, given };
inline constexpr EnumName<SliceCostRule> kSliceCostRules[] = {
    {SliceCostRule::compute, "compute"}, {SliceCostRule::max, "max"}, {SliceCostRule::given, "given"}};

// Upper bounds of a request's counts (docs/sizing.md, "Input ranges").
constexpr int kMaxConcurrency = 1000000;  // load.concurrency: clients in closed loop
constexpr int kMaxReplicas = 1000000;     // menu.maxReplicas

struct RecommendOptions {
  Menu menu;
  int max_replicas = 0;               // 0 = 1 in closed loop, unlimited in open loop
  std::map<std::string, double> costs;  // per GPU type (and "GPU:profile" for the given rule)
  SliceCostRule cost_rule = SliceCostRule::compute;
  Efficiency efficiency;              // roofline defaults for uncalibrated pairs
  int queue_to_batch_ratio = 10;      // open loop: waiting room Q = ratio · N
  // Open loop: the queueing model's service model, "iteration" or "vllm" (with the per-sequence
  // cost δ, ms; the roofline gives no δ, so it is the caller's, e.g. from inferno validate).
  std::string service_model = "iteration";
  double per_sequence_ms = 0;
  // GPUs owned per type; a type absent is unlimited. An option that alone needs more than its
  // type's capacity is not feasible (reason "capacity"); what the choices need together is
  // reported by capacity_use (sharing it among servers is the optimizer's job).
  std::map<std::string, int> capacity;
};

/// A recommendation request (docs/sizing.md §5): the servers and the options.
struct RecommendRequest {
  std::vector<ServerRequest> servers;
  RecommendOptions options;
};

/// One (server, accelerator) evaluation: the explanation table's row.
struct Option {
  std::string server, accelerator, gpu, profile;  // profile "" for a whole GPU
  bool feasible = false;
  std::string reason;        // why not: weightsDoNotFit, contextDoesNotFit, noBatch, batchTooSmall,
                             // itl, ttft, replicas, slo, unknownCost, parallelism
  bool calibrated = false;
  Estimate estimate;
  int batch = 0;             // closed loop: C_r; open loop: the chosen batch cap N
  int replicas = 0;
  double rate_per_replica_rps = 0;  // open loop: λ* of one replica
  double itl_ms = 0, ttft_ms = 0;   // predicted (per replica at its share of the load)
  bool predicted = false;           // itl_ms and ttft_ms hold a prediction (else they are unset)
  /// The SLO's percentiles of ITL and TTFT at the predicted load, when the SLO asks for one (a
  /// mean target leaves them unset): the values the targets were checked against.
  std::optional<double> itl_at_percentile_ms, ttft_at_percentile_ms;
  double cost_per_replica = 0, cost = 0;
  int units = 0, mem_slices = 0;
  // The GPUs' compute and memory the option takes, in GPUs: replicas × tensor-parallel GPUs for a
  // whole GPU, replicas × the slice's share of a GPU's compute (memory) slices for a slice.
  double gpu_compute = 0, gpu_memory = 0;
  /// GPUs the option needs at least: the larger share (packing may need more).
  double gpus() const { return gpu_compute > gpu_memory ? gpu_compute : gpu_memory; }
};

struct ServerRecommendation {
  std::string server;
  std::string choice;        // accelerator name, "" when unallocated
  bool slo_unattainable = false;  // closed loop: nothing met the SLO, a whole GPU the model fits is returned
  bool unallocated = false;       // open loop: nothing met the SLO
  int choice_index = -1;          // into options
  std::vector<Option> options;    // every evaluated candidate, in candidate order
};

/// Throws InvalidArgument on invalid servers (unknown model or GPU type, no load, bad numbers).
std::vector<ServerRecommendation> recommend(const std::vector<ServerRequest>& servers, const Catalog& catalog,
                                            const ModelRegistry& registry, const RecommendOptions& options,
                                            const CalibrationStore& calibrations = {});

/// Cost of one replica on `acc` under the rule (throws InvalidArgument for a missing given cost).
double replica_cost(const Accelerator& acc, const RecommendOptions& options);

/// θ for (model, accelerator) from an accepted calibration: a theta-mode fit on that accelerator,
/// else a family-mode fit covering its GPU type; nullopt when uncalibrated (the caller's roofline
/// estimate applies).
std::optional<std::array<double, 3>> calibrated_theta_for(const std::string& model, const ModelArch& arch,
                                                          const ServingOpts& serving, const Accelerator& acc,
                                                          const Workload& workload, const CalibrationStore& calibrations);

/// What the chosen options need of each type with a capacity: GPUs needed at least (the larger of
/// the summed compute and memory shares; packing may need more) and owned.
struct CapacityUse {
  double needed_gpus = 0;
  int owned_gpus = 0;
};
std::map<std::string, CapacityUse> capacity_use(const std::vector<ServerRecommendation>& recommendations,
                                               const RecommendOptions& options);

}  // namespace inferno::sizing
