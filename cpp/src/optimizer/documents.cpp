#include "inferno/optimizer/documents.hpp"

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <variant>
#include <limits>

#include "inferno/optimizer/options.hpp"

namespace inferno::optimizer {

using namespace inferno::io;

namespace {

constexpr std::int64_t kNoUpper = std::numeric_limits<std::int64_t>::max();

Field at_least_zero(std::string key, std::string doc) { return number(std::move(key), std::move(doc)).at_least(0); }

Field load_format(std::string key, std::string doc) {
  return object(std::move(key), std::move(doc),
                {at_least_zero("arrivalRate", "requests arriving, req/min"),
                 at_least_zero("throughput", "requests completed, req/min"),
                 integer("avgInTokens", "mean prompt length, tokens", 0),
                 integer("avgOutTokens", "mean output length, tokens", 0)});
}

Field option_field(const OptionInfo& o) {
  static const OptimizerSpec defaults;
  Field f;
  switch (o.field.index()) {
    case 0: f = boolean(o.key, o.doc); break;
    case 1: f = integer(o.key, o.doc, static_cast<std::int64_t>(o.lower),
                        o.bounded_above ? static_cast<std::int64_t>(o.upper) : INT32_MAX);
            break;
    case 4: f = integer(o.key, o.doc, static_cast<std::int64_t>(o.lower), kNoUpper).or_null(); break;
    case 3: f = choice(o.key, o.doc, o.choices); break;
    default:
      f = number(o.key, o.doc).at_least(o.lower, o.lower_open);
      if (o.bounded_above) f.at_most(o.upper, o.upper_open);
      if (o.nullable()) f.or_null();
  }
  o.visit_value(defaults, [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::optional<double>> || std::is_same_v<T, std::optional<std::int64_t>>)
          f.fallback(v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr));
        else if constexpr (std::is_same_v<T, double>)
          f.fallback(std::floor(v) == v && std::fabs(v) < 1e15 ? nlohmann::ordered_json(static_cast<std::int64_t>(v))
                                                               : nlohmann::ordered_json(v));
        else
          f.fallback(v);
      });
  return f;
}

}  // namespace

const Field& accelerator_data_format() {
  static const Field f = object("", "accelerator-data.json: the accelerator profiles", {
      array("accelerators", "one profile per name", object("", "an accelerator profile", {
          text("name", "the profile's name, unique").must(),
          text("type", "the physical type the capacity counts (e.g. A100)"),
          integer("multiplicity", "cards per unit (0 or absent: 1, with a warning)", 0, 1024),
          at_least_zero("memSize", "memory per card, GB"),
          at_least_zero("memBW", "memory bandwidth per card, GB/s"),
          at_least_zero("cost", "cost per unit-hour"),
          object("power", "the power curve of one unit, W", {
              at_least_zero("idle", "power when idle, W"),
              at_least_zero("midPower", "power at midUtil, W"),
              number("midUtil", "the utilisation of the curve's knee, fraction").at_least(0).at_most(1, true),
              at_least_zero("full", "power at full load, W")})}))});
  return f;
}

const Field& capacity_data_format() {
  static const Field f = object("", "capacity-data.json: the cards available per type", {
      array("count", "one entry per accelerator type", object("", "the capacity of one type", {
          text("type", "the accelerator type").must(),
          integer("count", "physical cards available", 0),
          integer("unitsPerCard", "units per card when the type's profiles count shares of a card "
                                  "(MIG slices); the capacity is count x unitsPerCard units", 1, 1024)
              .fallback(1)}))});
  return f;
}

const Field& model_data_format() {
  static const Field f = object("", "model-data.json: performance records per (model, profile)", {
      array("models", "one record per model and accelerator profile", object("", "a performance record", {
          text("name", "the model").must(),
          text("acc", "the accelerator profile").must(),
          integer("accCount", "accelerators per replica (0 or absent: 1, with a warning)", 0, 1024),
          integer("maxBatchSize", "largest batch the memory holds at atTokens, requests", 0),
          integer("atTokens", "tokens per request at which maxBatchSize holds", 0),
          object("perfParms", "iteration time alpha + beta*n (+ gamma per token), ms", {
              at_least_zero("alpha", "fixed time per iteration, ms"),
              at_least_zero("beta", "time per request in the batch, ms"),
              at_least_zero("gamma", "time per token, ms"),
              at_least_zero("delta", "ms per sequence squared (queueModel vllm only)"),
              at_least_zero("epsilon", "ms per prompt token squared (queueModel vllm only)")}),
          object("decodeParms", "decode iteration time alpha + beta*n, ms (with prefillParms; not with perfParms)", {
              at_least_zero("alpha", "fixed decode time, ms"),
              at_least_zero("beta", "decode time per request in the batch, ms")}),
          object("prefillParms", "prefill time gamma + delta*tokens, ms", {
              at_least_zero("gamma", "fixed prefill time, ms"),
              at_least_zero("delta", "prefill time per token, ms")})}))});
  return f;
}

const Field& serviceclass_data_format() {
  static const Field f = object("", "serviceclass-data.json: service classes and their latency targets", {
      array("serviceClasses", "one class per name", object("", "a service class", {
          text("name", "the class's name, unique").must(),
          integer("priority", "1 (highest) to 100; outside or absent: 100, with a warning"),
          array("modelTargets", "the targets per model", object("", "targets of one model", {
              text("model", "the model").must(),
              at_least_zero("slo-itl", "mean inter-token latency target, ms (0: none)"),
              at_least_zero("slo-ttft", "mean time-to-first-token target, ms (0: none)"),
              at_least_zero("slo-tps", "token-rate target, tokens/s (0: none)"),
              number("slo-itl-percentile", "the percentile slo-itl holds at (0: the mean; inferno only)").at_least(0).at_most(100, true),
              number("slo-ttft-percentile", "the percentile slo-ttft holds at (0: the mean; inferno only)").at_least(0).at_most(100, true)}))}))});
  return f;
}

const Field& server_data_format() {
  static const Field f = object("", "server-data.json: the servers (one model for one class) to place", {
      array("servers", "one server per name", object("", "a server", {
          text("name", "the server's name, unique").must(),
          text("class", "its service class (absent: Free)"),
          text("model", "the model it serves").must(),
          boolean("keepAccelerator", "stay on the current accelerator"),
          integer("minNumReplicas", "fewest replicas", 0),
          integer("maxBatchSize", "batch cap, requests (0: chosen by the optimizer)", 0),
          integer("maxQueueSize", "waiting room per replica, requests (absent: the optimizer's policy)", 0, kNoUpper),
          object("currentAlloc", "what runs now, and the load", {
              text("accelerator", "the current profile (empty: none)"),
              integer("numReplicas", "replicas now", 0),
              integer("maxBatch", "batch cap now, requests", 0),
              at_least_zero("cost", "cost per hour now (absent: recomputed)"),
              at_least_zero("itlAverage", "measured mean inter-token latency, ms"),
              at_least_zero("ttftAverage", "measured mean time to first token, ms"),
              load_format("load", "the load the server must serve")})}))});
  return f;
}

const Field& optimizer_data_format() {
  static const Field f = [] {
    std::vector<Field> options;
    for (const OptionInfo& o : optimizer_options()) options.push_back(option_field(o));
    options.push_back(boolean("useCplex", "accepted and ignored: inferno solves MILPs with HiGHS"));
    return object("", "optimizer-data.json: the optimizer's options",
                  {object("optimizer", "the options (docs/optimizer.md §8)", std::move(options)).only_known().must()})
        .only_known();
  }();
  return f;
}

const Field& system_data_format() {
  static const Field f = [] {
    std::vector<Field> parts;
    for (const auto& [key, part] : std::initializer_list<std::pair<const char*, const Field*>>{
             {"acceleratorData", &accelerator_data_format()}, {"capacityData", &capacity_data_format()},
             {"modelData", &model_data_format()}, {"serviceClassData", &serviceclass_data_format()},
             {"serverData", &server_data_format()}, {"optimizerData", &optimizer_data_format()}}) {
      Field member = *part;
      member.key = key;
      parts.push_back(std::move(member));
    }
    return object("", "system-data.json: the six documents in one file",
                  {object("system", "each member is one of the six documents", std::move(parts)).must()});
  }();
  return f;
}

const Field& solution_data_format() {
  static const Field f = [] {
    const auto replicas = [](std::string key) { return integer(std::move(key), "replicas", 0); };
    Field part = object("", "one accelerator profile of a heterogeneous allocation", {
        text("accelerator", "the profile"), replicas("numReplicas"), integer("maxBatch", "batch cap, requests", 0),
        integer("queueSize", "waiting room per replica, requests", 0, kNoUpper),
        at_least_zero("cost", "cost per hour"), at_least_zero("arrivalRate", "arrivals per replica, req/min"),
        at_least_zero("itlAverage", "mean inter-token latency, ms"),
        at_least_zero("ttftAverage", "mean time to first token, ms"),
        at_least_zero("rho", "batch fill: mean requests in service / batch cap"),
        at_least_zero("power", "power, W")});
    part.only_known();
    Field allocation = object("", "a server's allocation", {
        text("accelerator", "the profile").must(), replicas("numReplicas").must(),
        integer("maxBatch", "batch cap, requests", 0).must(), at_least_zero("cost", "cost per hour").must(),
        at_least_zero("itlAverage", "mean inter-token latency, ms").must(),
        at_least_zero("ttftAverage", "mean time to first token, ms").must(),
        load_format("load", "the load served").only_known().must(),
        integer("queueSize", "waiting room per replica, requests", 0, kNoUpper),
        number("value", "the objective's value of this allocation"),
        at_least_zero("rho", "batch fill: mean requests in service / batch cap"),
        at_least_zero("busy", "probability a replica is serving"),
        number("blockingProb", "share of requests turned away").at_least(0).at_most(1),
        at_least_zero("maxRPM", "largest arrival rate the allocation serves within the targets, req/min"),
        at_least_zero("servedRate", "arrival rate served, req/min"),
        at_least_zero("power", "power, W").or_null(),
        choice("outcome", "how far the demand is served", {"full", "bestEffort", "scaledToZero"}),
        boolean("sloMet", "the targets hold at the load"), boolean("saturated", "capacity ran out for this server"),
        replicas("requiredReplicas"),
        array("parts", "the profiles of a heterogeneous allocation", part)});
    allocation.only_known();
    Field candidate = object("", "a candidate (feasible: the sizing; else the reason)", {
        text("accelerator", "the profile").must(), boolean("feasible", "the profile can meet the targets").must(),
        text("reason", "why not (infeasible only)"),
        choice("outcome", "how far the demand is served", {"full", "bestEffort", "scaledToZero"}),
        replicas("numReplicas"), integer("maxBatch", "batch cap, requests", 0),
        integer("queueSize", "waiting room per replica, requests", 0, kNoUpper), at_least_zero("cost", "cost per hour"),
        number("value", "the objective's value"), number("objective", "cost, power or weighted, as the objective says"),
        integer("cards", "accelerator units used", 0), at_least_zero("itl", "mean inter-token latency, ms"),
        at_least_zero("ttft", "mean time to first token, ms"),
        at_least_zero("ratePerReplica", "arrivals per replica, req/s"),
        at_least_zero("maxRPM", "largest arrival rate within the targets, req/min"),
        at_least_zero("rho", "batch fill"), at_least_zero("busy", "probability a replica is serving"),
        number("blockingProb", "share of requests turned away").at_least(0).at_most(1),
        at_least_zero("power", "power, W").or_null(), replicas("requiredReplicas"),
        text("queueModel", "the queueing model used")});
    candidate.only_known();
    Field options = optimizer_data_format().member("optimizer");
    options.key = "effectiveOptions";
    options.doc = "every option as the solve used it";
    options.required = false;
    const auto nullable_number = [](std::string key, std::string doc) { return number(std::move(key), std::move(doc)).or_null(); };
    Field root = object("", "solution-data.json: the allocation per server (reference format: allocations only)", {
        dictionary("allocations", "per server name", allocation).must(),
        array("unallocated", "servers left without an allocation", object("", "an unallocated server", {
            text("server", "the server").must(), text("reason", "a code").must(), text("detail", "why")}).only_known()),
        at_least_zero("totalCost", "cost per hour"), at_least_zero("totalPower", "power, W"),
        number("totalValue", "the objective's value"),
        dictionary("allocationByType", "use per accelerator type", object("", "use of one type", {
            number("cards", "physical cards used").at_least(0).must(),
            number("limit", "cards available (null: unlimited)").at_least(0).or_null(),
            at_least_zero("cost", "cost per hour"),
            integer("slices", "slices used (types counted in shares of a card)", 0),
            integer("units", "units used", 0), integer("unitLimit", "units available", 0).or_null(),
            integer("unitsPerCard", "units per card", 1)}).only_known()),
        dictionary("diff", "changes from the current allocation, per server", object("", "a change", {
            text("fromAccelerator", "profile before (none: not running)"),
            text("toAccelerator", "profile after (none: not running)"), replicas("fromReplicas"), replicas("toReplicas"),
            number("costDelta", "cost per hour after minus before")}).only_known()),
        object("solver", "what the solver did", {
            text("algorithm", "the solver that produced the result"), text("status", "its status"),
            nullable_number("objective", "the objective's value"), nullable_number("bound", "a bound on it"),
            nullable_number("gap", "relative gap between objective and bound"),
            at_least_zero("timeMsec", "solve time, ms"), text("fallback", "the solver that ran instead, and why").or_null(),
            number("greedyObjective", "the greedy solution's objective"),
            integer("greedyUnserved", "servers the greedy solution leaves under-served", 0),
            text("message", "a note from the solver")}).only_known(),
        choice("status", "ok: every server served in full; partial; error", {"ok", "partial", "error"}),
        array("diagnostics", "warnings about the input", object("", "a warning", {
            choice("level", "severity", {"warning"}), text("code", "a short code (noTarget, ...)"),
            text("path", "where in the input"), text("message", "the warning")}).only_known()),
        options,
        dictionary("candidates", "every candidate per server", array("", "the candidates of one server", candidate)),
        object("timing", "wall time", {at_least_zero("candidatesMsec", "ms"), at_least_zero("solveMsec", "ms"),
                                       at_least_zero("totalMsec", "ms")}).only_known()});
    root.only_known();
    return root;
  }();
  return f;
}

const std::vector<DocumentFormat>& document_formats() {
  static const std::vector<DocumentFormat> formats = {
      {"accelerator-data.json", "the accelerator profiles", &accelerator_data_format()},
      {"capacity-data.json", "the cards available per type", &capacity_data_format()},
      {"model-data.json", "performance records per (model, profile)", &model_data_format()},
      {"serviceclass-data.json", "service classes and their latency targets", &serviceclass_data_format()},
      {"server-data.json", "the servers to place", &server_data_format()},
      {"optimizer-data.json", "the optimizer's options", &optimizer_data_format()},
      {"system-data.json", "the six documents in one file", &system_data_format()},
      {"solution-data.json", "the optimizer's solution", &solution_data_format()}};
  return formats;
}

}  // namespace inferno::optimizer
