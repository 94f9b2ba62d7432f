#pragma once
// The optimizer's input (docs/optimizer.md §2): accelerator profiles, capacity, per-model
// performance records, service classes with targets, servers with their load, and options.
// A SystemBuilder applies JSON documents in order (insert-or-replace by name, as the reference
// does) and produces an immutable System; there is no global state.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "inferno/enum_names.hpp"

namespace inferno::optimizer {

struct PowerCurve {
  double idle_w = 0;       // power at zero utilisation, W
  double mid_power_w = 0;  // power at mid_util, W
  double mid_util = 0;     // utilisation of the curve's knee, in (0, 1)
  double full_w = 0;       // power at full utilisation, W
};

/// A purchasable accelerator unit, e.g. "2xA100" of type "A100" with multiplicity 2.
struct AcceleratorProfile {
  std::string name;
  std::string type;
  int multiplicity = 1;  // physical cards of `type` in one unit
  double mem_size_gb = 0;
  double mem_bw_gbps = 0;
  PowerCurve power;
  double cost = 0;  // per unit per hour
};

enum class PerfFormat { perf_parms, decode_prefill };

/// Performance of one model on one profile.
struct PerfRecord {
  std::string model;
  std::string accelerator;  // profile name
  int acc_count = 1;        // profile units per replica
  int max_batch_size = 0;   // valid at requests of `at_tokens` tokens
  int at_tokens = 0;
  PerfFormat format = PerfFormat::perf_parms;
  double alpha = 0, beta = 0, gamma = 0;                   // perfParms (ms, ms/token, ms/token)
  double delta = 0;  // perfParms.delta (ms): the vllm service model's per-sequence cost, δ·b² per iteration
  double epsilon = 0;  // perfParms.epsilon (ms/token²): the vllm model's prefill attention, ε·n²/2 per prompt
  double decode_alpha = 0, decode_beta = 0;                 // decodeParms
  double prefill_gamma = 0, prefill_delta = 0;              // prefillParms
  /// All parameters zero: the record never converged and yields no candidate.
  bool unconverged() const;
};

struct ModelTarget {
  double itl_ms = 0;   // ITL, 0 = none
  double ttft_ms = 0;  // TTFT including queueing, 0 = none
  double tps = 0;      // output tokens/s demand, 0 = none
  // The percentile each latency target holds at, in (0, 100); 0 = the mean (the reference's sense).
  double itl_percentile = 0, ttft_percentile = 0;
  bool on_means() const { return itl_percentile == 0 && ttft_percentile == 0; }
};

struct ServiceClass {
  std::string name;
  int priority = 100;  // 1 (highest) .. 100
  std::map<std::string, ModelTarget> targets;  // by model name
};

struct Load {
  double arrival_rate_rpm = 0;  // requests per minute
  double throughput_rpm = 0;    // informational
  double in_tokens = 0;
  double out_tokens = 0;
};

struct AllocationData {
  std::string accelerator;  // "" = none
  int num_replicas = 0;
  int max_batch = 0;
  std::optional<double> cost;  // absent and 0 differ (transition penalty, docs/optimizer.md §3)
  double itl_ms = 0;
  double ttft_ms = 0;
  Load load;
};

struct Server {
  std::string name;
  std::string service_class = "Free";
  std::string model;
  bool keep_accelerator = false;
  int min_replicas = 0;
  int max_batch_size = 0;                 // > 0 pins N
  std::optional<std::int64_t> max_queue;  // absent = queue-size policy
  AllocationData current;                 // its load is the load that is optimised
};

/// optimizer-data.json: the reference keys and inferno's extensions, with their defaults.
/// The optimizer's enumerated options (docs/optimizer.md §8), each with the table of its names
/// in optimizer-data.json: parsed once when a document is read, compared as enumerators after.
enum class SaturationPolicy { none, priority_exhaustive, priority_round_robin, round_robin };
inline constexpr EnumName<SaturationPolicy> kSaturationPolicies[] = {
    {SaturationPolicy::none, "None"}, {SaturationPolicy::priority_exhaustive, "PriorityExhaustive"},
    {SaturationPolicy::priority_round_robin, "PriorityRoundRobin"}, {SaturationPolicy::round_robin, "RoundRobin"}};
enum class Solver { automatic, unlimited, greedy, milp };
inline constexpr EnumName<Solver> kSolvers[] = {
    {Solver::automatic, "auto"}, {Solver::unlimited, "unlimited"}, {Solver::greedy, "greedy"}, {Solver::milp, "milp"}};
enum class Objective { cost, power, weighted };
inline constexpr EnumName<Objective> kObjectives[] = {
    {Objective::cost, "cost"}, {Objective::power, "power"}, {Objective::weighted, "weighted"}};
enum class PowerUtilization { batch, busy };
inline constexpr EnumName<PowerUtilization> kPowerUtilizations[] = {{PowerUtilization::batch, "batch"},
                                                                     {PowerUtilization::busy, "busy"}};
enum class BatchSizePolicy { reference, cheapest, onset };
inline constexpr EnumName<BatchSizePolicy> kBatchSizePolicies[] = {
    {BatchSizePolicy::reference, "reference"}, {BatchSizePolicy::cheapest, "cheapest"}, {BatchSizePolicy::onset, "onset"}};
enum class BatchSearch { bisect, exhaustive };
inline constexpr EnumName<BatchSearch> kBatchSearches[] = {{BatchSearch::bisect, "bisect"}, {BatchSearch::exhaustive, "exhaustive"}};
enum class QueueSizePolicy { ratio, zero };
inline constexpr EnumName<QueueSizePolicy> kQueueSizePolicies[] = {{QueueSizePolicy::ratio, "ratio"},
                                                                    {QueueSizePolicy::zero, "zero"}};
enum class TpsDemand { replace, max };
inline constexpr EnumName<TpsDemand> kTpsDemands[] = {{TpsDemand::replace, "replace"}, {TpsDemand::max, "max"}};
enum class QueueModel { automatic, v1, v2, v3, vllm };
inline constexpr EnumName<QueueModel> kQueueModels[] = {{QueueModel::automatic, "auto"}, {QueueModel::v1, "v1"},
                                                         {QueueModel::v2, "v2"}, {QueueModel::v3, "v3"},
                                                         {QueueModel::vllm, "vllm"}};
enum class PerfModelVersion { v2, v3 };
inline constexpr EnumName<PerfModelVersion> kPerfModelVersions[] = {{PerfModelVersion::v2, "v2"}, {PerfModelVersion::v3, "v3"}};
enum class SizeSemantics { exact, reference };
inline constexpr EnumName<SizeSemantics> kSizeSemantics[] = {{SizeSemantics::exact, "exact"},
                                                              {SizeSemantics::reference, "reference"}};
enum class Preset { none, reference_v1, reference_v2, reference_v3 };
inline constexpr EnumName<Preset> kPresets[] = {{Preset::none, ""}, {Preset::reference_v1, "reference-v1"},
                                                 {Preset::reference_v2, "reference-v2"}, {Preset::reference_v3, "reference-v3"}};

struct OptimizerSpec {
  bool unlimited = false;
  bool heterogeneous = false;
  bool milp_solver = false;
  bool delayed_best_effort = false;
  SaturationPolicy saturation_policy = SaturationPolicy::none;
  Solver solver = Solver::automatic;
  Objective objective = Objective::cost;
  double power_price = 0;
  PowerUtilization power_utilization = PowerUtilization::batch;
  BatchSizePolicy batch_size_policy = BatchSizePolicy::cheapest;
  BatchSearch batch_search = BatchSearch::bisect;
  int batch_search_max = 0;
  double onset_epsilon = 0.02;
  QueueSizePolicy queue_size_policy = QueueSizePolicy::ratio;
  int queue_to_batch_ratio = 10;
  std::optional<std::int64_t> max_queue_size;  // default Q for servers without maxQueueSize
  std::optional<double> max_blocking_prob;
  TpsDemand tps_demand = TpsDemand::replace;
  QueueModel queue_model = QueueModel::automatic;
  PerfModelVersion perf_model_version = PerfModelVersion::v3;
  int max_num_tokens = 8192;
  SizeSemantics size_semantics = SizeSemantics::exact;
  double accelerator_change_penalty = 0.1;
  double replica_change_penalty = 0;
  double change_weight = 0;
  double milp_time_limit_sec = 30;
  double mip_abs_gap = 1e-6;
  int milp_threads = 1;
  int milp_node_limit = 0;
  bool milp_canonical = true;
  bool greedy_refine = true;  // local search after the reference greedy (presets turn it off)
  int max_profiles_per_server = 0;
  int threads = 0;
  Preset preset = Preset::none;
};

/// A non-fatal finding while loading: where (file and JSON path) and what was done about it.
struct Diagnostic {
  std::string where;
  std::string message;
};

struct Solution;
struct DocumentReaders;

/// Most servers one system holds (docs/optimizer.md, "Limits and speed of loading"): beyond it the
/// candidates and the exact model outgrow memory and the time budget of a control cycle, so a
/// larger fleet is refused when it is read rather than by running out of memory later.
constexpr std::size_t kMaxServers = 50'000;

/// Immutable input of one optimisation. Entities keep the order in which they were first seen.
class System {
 public:
  const std::vector<AcceleratorProfile>& accelerators() const { return accelerators_; }
  /// Capacity per type in the units accelerator multiplicities count: cards, or shares of a card
  /// for a type whose capacity entry gives unitsPerCard (docs/optimizer.md §2).
  const std::map<std::string, int>& capacity() const { return capacity_; }
  /// Units per physical card of each type counted in shares of a card; absent = 1 (whole cards).
  const std::map<std::string, int>& units_per_card() const { return units_per_card_; }
  int units_per_card(const std::string& type) const;
  const std::vector<PerfRecord>& perf_records() const { return perf_; }
  const std::vector<ServiceClass>& service_classes() const { return classes_; }
  const std::vector<Server>& servers() const { return servers_; }
  const OptimizerSpec& options() const { return options_; }
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

  const AcceleratorProfile* find_accelerator(const std::string& name) const;
  const ServiceClass* find_class(const std::string& name) const;
  const PerfRecord* find_perf(const std::string& model, const std::string& accelerator) const;
  /// Cost of a server's current allocation: as given, or else recomputed from its profile
  /// (0 without one). The transition penalty starts from it (docs/optimizer.md §3).
  double current_cost(const Server& server) const;

  /// A copy in which each listed server has a new arrival rate (req/min); the rest is unchanged.
  /// Throws InvalidArgument for an unknown server or a negative or non-finite rate.
  System with_arrival_rates(const std::map<std::string, double>& rates_rpm) const;
  /// A copy in which each listed server has a new load (rate, request shape): the live state a
  /// control loop measured. Throws InvalidArgument naming the server and the field.
  System with_loads(const std::map<std::string, Load>& loads) const;
  /// A copy in which each listed server runs `allocation` now (accelerator "" = none, replicas,
  /// batch cap; its load is kept); with keep_accelerator the optimizer may resize it but not move it,
  /// and with keep_batch it sizes it at the batch cap it runs with (a server that cannot change it).
  System with_current(const std::map<std::string, AllocationData>& allocations, bool keep_accelerator = false,
                      bool keep_batch = false) const;
  /// A copy with these performance records (model, accelerator) replacing the ones of the same
  /// pair, or added: tuned parameters. Each is checked as a model-data.json record is.
  System with_perf(const std::vector<PerfRecord>& records) const;

 private:
  friend class SystemBuilder;
  friend struct DocumentReaders;
  friend System apply(const System& system, const Solution& solution);
  std::vector<AcceleratorProfile> accelerators_;
  std::map<std::string, int> capacity_;
  std::map<std::string, int> units_per_card_;
  std::vector<PerfRecord> perf_;
  std::vector<ServiceClass> classes_;
  std::vector<Server> servers_;
  OptimizerSpec options_;
  std::vector<Diagnostic> diagnostics_;
  std::size_t load_diagnostics_ = 0;
  // Name lookups, built by SystemBuilder::build() (find_* scan linearly before that).
  void build_index();
  bool indexed_ = false;
  std::map<std::string, std::size_t> accelerator_index_, class_index_;
  std::map<std::string, std::map<std::string, std::size_t>> perf_index_;  // model -> accelerator -> record  // diagnostics_[0, this) come from loading, the rest from build()
};

class SystemBuilder {
 public:
  SystemBuilder() = default;
  /// Starts from an existing system, e.g. to override its options with one more document.
  explicit SystemBuilder(System base);
  /// Applies one JSON document, recognised by its wrapper key (accelerators, count, models,
  /// serviceClasses, servers, optimizer, or system holding all of them). `source` names it in
  /// messages (e.g. the file name). Throws InvalidArgument "<source>: <json path> (<entity>):
  /// <problem>" on malformed JSON, wrong types and invalid values; the builder is unchanged then.
  void add_document(const std::string& source, std::string_view json_text);
  /// The same for a document that is already a JSON value (a Python dict): keys are matched
  /// without regard to case as in text, and the same limits apply.
  void add_value(const std::string& source, const nlohmann::json& document);
  /// Reads every known file present in a directory (accelerator-data.json, capacity-data.json,
  /// model-data.json, serviceclass-data.json, server-data.json, optimizer-data.json), or
  /// system-data.json when none of them is there.
  void add_directory(const std::string& path);
  /// The system so far, plus consistency diagnostics (dangling references, docs/optimizer.md §2).
  System build() const;

 private:
  void add_folded(const std::string& source, const nlohmann::json& document);  // keys already folded
  System system_;
};

}  // namespace inferno::optimizer
