#include "inferno/optimizer/options.hpp"

#include "inferno/error.hpp"

namespace inferno::optimizer {

namespace {

OptionInfo boolean(std::string key, std::string name, bool OptimizerSpec::*f, std::string doc) {
  return OptionInfo{std::move(key), std::move(name), f, {}, 0, 0, false, false, false, std::move(doc)};
}
// An enumerated option: the enum's name table (system.hpp) gives its choices, its parser and its printer.
template <auto Member, const auto& Table>
OptionInfo choice(std::string key, std::string name, std::string doc) {
  const ChoiceField field{[](const OptimizerSpec& s) { return enum_name(Table, s.*Member); },
                          [](OptimizerSpec& s, std::string_view text) {
                            const auto value = find_enum(Table, text);
                            if (value) s.*Member = *value;
                            return value.has_value();
                          }};
  return OptionInfo{std::move(key), std::move(name), field, enum_name_list(Table), 0, 0, false, false, false, std::move(doc)};
}
template <class Field>
OptionInfo ranged(std::string key, std::string name, Field f, double lower, std::optional<double> upper, std::string doc,
                  bool lower_open = false, bool upper_open = false) {
  return OptionInfo{std::move(key), std::move(name), f, {}, lower, upper.value_or(0), lower_open, upper_open,
                    upper.has_value(), std::move(doc)};
}

}  // namespace

std::string OptionInfo::type() const {
  switch (field.index()) {
    case 0: return "boolean";
    case 1: case 4: return "integer";
    case 2: case 5: return "number";
    default: return "string";
  }
}

bool OptionInfo::nullable() const { return field.index() == 4 || field.index() == 5; }

const std::vector<OptionInfo>& optimizer_options() {
  using S = OptimizerSpec;
  static const std::vector<OptionInfo> options = {
      boolean("unlimited", "unlimited", &S::unlimited, "ignore capacity: each server takes its best candidate"),
      boolean("heterogeneous", "heterogeneous", &S::heterogeneous,
              "allow several accelerator profiles per server (the MULTI model)"),
      boolean("milpSolver", "milp_solver", &S::milp_solver, "the reference's flag: true selects solver milp"),
      boolean("delayedBestEffort", "delayed_best_effort", &S::delayed_best_effort,
              "best effort once after every priority group (greedy)"),
      choice<&S::saturation_policy, kSaturationPolicies>("saturationPolicy", "saturation_policy",
             "how leftover capacity goes to servers that do not fit in full"),
      choice<&S::solver, kSolvers>("solver", "solver",
             "auto: greedy then the exact HiGHS model, the better kept; greedy; milp; unlimited"),
      choice<&S::objective, kObjectives>("objective", "objective",
             "minimise cost, power, or cost + powerPrice x power"),
      ranged("powerPrice", "power_price", &S::power_price, 0, std::nullopt,
             "cost units per W per hour (weighted objective)"),
      choice<&S::power_utilization, kPowerUtilizations>("powerUtilization", "power_utilization",
             "the utilisation the power curve is read at: batch fill or busy probability"),
      choice<&S::batch_size_policy, kBatchSizePolicies>("batchSizePolicy", "batch_size_policy",
             "how a candidate's batch cap is chosen"),
      choice<&S::batch_search, kBatchSearches>("batchSearch", "batch_search",
             "bisect assumes capacity monotone in the batch cap; exhaustive tries every cap"),
      ranged("batchSearchMax", "batch_search_max", &S::batch_search_max, 0, kMaxBatchLimit,
             "largest batch cap searched (0: the memory limit)"),
      ranged("onsetEpsilon", "onset_epsilon", &S::onset_epsilon, 0, 1.0,
             "relative throughput gain below which the onset policy stops", false, true),
      choice<&S::queue_size_policy, kQueueSizePolicies>("queueSizePolicy", "queue_size_policy",
             "waiting room per replica: queueToBatchRatio x N, or none"),
      ranged("queueToBatchRatio", "queue_to_batch_ratio", &S::queue_to_batch_ratio, 0, 100000,
             "waiting room as a multiple of the batch cap"),
      ranged("maxQueueSize", "max_queue_size", &S::max_queue_size, 0, std::nullopt,
             "waiting room for servers without their own maxQueueSize (null: the policy)"),
      ranged("maxBlockingProb", "max_blocking_prob", &S::max_blocking_prob, 0, 1.0,
             "the largest share of requests a replica may turn away (null: no limit)", true, true),
      choice<&S::tps_demand, kTpsDemands>("tpsDemand", "tps_demand",
             "a token-rate target replaces the request-rate demand, or the larger wins"),
      choice<&S::queue_model, kQueueModels>("queueModel", "queue_model",
             "the queueing model of a replica (auto: by the performance record)"),
      choice<&S::perf_model_version, kPerfModelVersions>("perfModelVersion", "perf_model_version",
             "the reference's performance-record version"),
      ranged("maxNumTokens", "max_num_tokens", &S::max_num_tokens, 1, 1000000000,
             "token budget per engine iteration (vLLM max_num_batched_tokens)"),
      choice<&S::size_semantics, kSizeSemantics>("sizeSemantics", "size_semantics",
             "exact sizing, or the reference's rate rounding"),
      ranged("acceleratorChangePenalty", "accelerator_change_penalty", &S::accelerator_change_penalty, 0,
             std::nullopt, "share of the new cost charged for moving a server to another accelerator"),
      ranged("replicaChangePenalty", "replica_change_penalty", &S::replica_change_penalty, 0, std::nullopt,
             "cost per replica added or removed"),
      ranged("changeWeight", "change_weight", &S::change_weight, 0, std::nullopt,
             "weight of the change penalties in the objective"),
      ranged("milpTimeLimitSec", "milp_time_limit_sec", &S::milp_time_limit_sec, 0, std::nullopt,
             "MILP time budget, seconds"),
      ranged("mipAbsGap", "mip_abs_gap", &S::mip_abs_gap, 0, std::nullopt, "absolute MILP optimality gap"),
      ranged("milpThreads", "milp_threads", &S::milp_threads, 0, 1024, "HiGHS threads (0: HiGHS decides)"),
      ranged("milpNodeLimit", "milp_node_limit", &S::milp_node_limit, 0, 2147483647.0,
             "branch-and-bound node limit (0: none)"),
      boolean("milpCanonical", "milp_canonical", &S::milp_canonical,
              "build the MILP in a canonical order, so that equal inputs give equal answers"),
      boolean("greedyRefine", "greedy_refine", &S::greedy_refine,
              "local search after the reference greedy (the presets turn it off)"),
      ranged("maxProfilesPerServer", "max_profiles_per_server", &S::max_profiles_per_server, 0, 2147483647.0,
             "candidates kept per server (0: all)"),
      ranged("threads", "threads", &S::threads, 0, 1024, "candidate threads (0: every core)"),
      choice<&S::preset, kPresets>("preset", "preset",
             "reproduce a reference optimizer version: its queue model, sizing, batch rule and greedy (applied first; "
             "the other keys refine it)"),
  };
  return options;
}

}  // namespace inferno::optimizer
