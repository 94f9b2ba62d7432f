#include "inferno/io/queue_json.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

#include "inferno/error.hpp"
#include "inferno/io/json.hpp"
#include "inferno/io/reader.hpp"
#include "inferno/queue/limits.hpp"
#include "inferno/io/sim_json.hpp"
#include "inferno/queue/service_model.hpp"
#include "line_batch.hpp"

namespace inferno::io {

using nlohmann::json;
using nlohmann::ordered_json;
using namespace inferno::queue;

namespace {
constexpr EnumName<QueueOperation> kQueueOperations[] = {
    {QueueOperation::solve, "solve"}, {QueueOperation::target, "target"}, {QueueOperation::optimize, "optimize"}};
}  // namespace

QueueOperation parse_queue_operation(const std::string& name) { return parse_enum(kQueueOperations, name, "queue operation"); }

namespace {

// Error prefixes of the reference REST service (docs/cli.md §7), kept so consumers can match them.
constexpr const char* kBindingError = "binding error:";
constexpr const char* kDataError = "data error: invalid input data:";
constexpr const char* kBuildError = "NewLLMQueueAnalyzer() failed:";

// A failure with the reference prefix and our status code.
struct RequestError {
  std::string prefix;
  std::string detail;
  std::string status;
};

// Where a model parameter comes from in ProblemData: a top-level key or a nested object field.
struct ParamSource {
  std::string object;  // lower-case key of the nested object, empty for top level
  std::string key;     // lower-case field key
  std::string name;    // spelling for errors
};

ParamSource source_of(const std::string& model, const std::string& param) {
  if (model == "prefill-decode") {
    if (param == "decode_alpha") return {"decodeparms", "alpha", "decodeParms.alpha"};
    if (param == "decode_beta") return {"decodeparms", "beta", "decodeParms.beta"};
    if (param == "prefill_gamma") return {"prefillparms", "gamma", "prefillParms.gamma"};
    if (param == "prefill_delta") return {"prefillparms", "delta", "prefillParms.delta"};
  }
  if (model == "token" && param == "tokens_per_request") return {"", "avgnumtokens", "avgNumTokens"};
  return {"", fold_key(param), param};
}

// The format's field of a model parameter (nested for prefill-decode).
const Field& param_field_of(const ParamSource& src) {
  const Field& line = problem_data_format();
  if (src.object.empty()) return line.member(src.name);
  const auto dot = src.name.find('.');
  return line.member(src.name.substr(0, dot)).member(src.name.substr(dot + 1));
}

void add_target(Targets& t, TargetMetric metric, double percentile, double value, const std::string& name) {
  for (const auto& c : t.constraints)  // e.g. targetTTFT_p95 and targetTTFT_p95.0
    if (c.metric == metric && c.percentile == percentile)
      throw InvalidArgument(name + " duplicates another target on the same percentile");
  if (value > 0) t.constraints.push_back({metric, percentile, value});
}

// Parses "target<metric>_p<digits>[.<digits>]" (lower case), e.g. "targetttft_p99.9".
bool parse_percentile_key(const std::string& key, TargetMetric& metric, std::string& percent) {
  static const std::pair<const char*, TargetMetric> kPrefixes[] = {
      {"targetttft_p", TargetMetric::ttft},
      {"targetitl_p", TargetMetric::itl},
      {"targetwaittime_p", TargetMetric::wait}};
  for (const auto& [prefix, m] : kPrefixes) {
    const std::string_view p(prefix);
    if (key.compare(0, p.size(), p) != 0) continue;
    percent = key.substr(p.size());
    const auto dot = percent.find('.');
    const auto all_digits = [](std::string_view v) {
      return !v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos;
    };
    const std::string_view pv(percent);
    const bool ok = dot == std::string::npos ? all_digits(pv)
                                             : all_digits(pv.substr(0, dot)) && all_digits(pv.substr(dot + 1));
    if (!ok) return false;
    metric = m;
    return true;
  }
  return false;
}

using KeyNames = std::vector<std::pair<std::string, std::string>>;  // (folded, as spelled in messages)

KeyNames folded_keys(const Field& format) {
  KeyNames keys;
  for (const Field& f : format.members) keys.emplace_back(fold_key(f.key), f.key);
  return keys;
}

// Every ProblemData key the queue commands read, from the format; percentile targets are a pattern.
const KeyNames& queue_keys() {
  static const KeyNames keys = folded_keys(problem_data_format());
  return keys;
}

// The keys of `inferno simulate` (io/sim_json.cpp reads them), from its format.
const KeyNames& simulation_keys() {
  static const KeyNames keys = folded_keys(simulation_format());
  return keys;
}

const std::string* spelling(const KeyNames& keys, const std::string& key) {
  for (const auto& [folded, name] : keys)
    if (folded == key) return &name;
  return nullptr;
}

// Unknown keys are errors; simulation keys on a queue line are warnings; a key that looks like a
// percentile target but is malformed (targetTTFT_p-5) is an error.
void check_keys(const json& o, ProblemReader reader, std::vector<std::string>& warnings) {
  for (const auto& item : o.items()) {
    const std::string& key = item.key();
    if (spelling(queue_keys(), key)) continue;
    TargetMetric metric;
    std::string percent;
    if (parse_percentile_key(key, metric, percent)) continue;
    if (key == "targetwait") {  // the 2024 API's queueing-delay target, in seconds
      warnings.emplace_back("targetWait (seconds, the 2024 API) is not read: use targetWaitTime (ms); ignored");
      continue;
    }
    if (const std::string* name = spelling(simulation_keys(), key)) {
      if (reader != ProblemReader::simulate) warnings.push_back(*name + " is used by inferno simulate only: ignored");
      continue;
    }
    for (const char* prefix : {"targetttft_p", "targetitl_p", "targetwaittime_p"})
      if (key.rfind(prefix, 0) == 0)
        throw InvalidArgument("percentile target key \"" + excerpt(json(key)).substr(1) +
                              " must end in a percentile in (0, 100), digits with an optional decimal point, "
                              "e.g. targetTTFT_p95 or targetITL_p99.9");
    std::string allowed;
    for (const auto& [folded, name] : queue_keys()) allowed += (allowed.empty() ? "" : ", ") + name;
    allowed += ", targetTTFT_pXX, targetITL_pXX, targetWaitTime_pXX";
    if (reader == ProblemReader::simulate)
      for (const auto& [folded, name] : simulation_keys()) allowed += ", " + name;
    throw InvalidArgument("unknown key " + excerpt(json(key)) + "; allowed (any letter case): " + allowed);
  }
}

// The parameters of every service model, validated even when another model is selected; those the
// selected model does not use are reported.
void check_other_models(const json& o, const ServiceModelInfo& selected, std::vector<std::string>& warnings) {
  const Reader line = Reader::line();
  std::vector<std::string> used;
  for (const ParamSpec& spec : selected.params) {
    const ParamSource src = source_of(selected.name, spec.name);
    used.push_back(src.object.empty() ? src.key : src.object);
  }
  if (selected.uses_request_shape) {
    used.emplace_back("avginputtokens");
    used.emplace_back("avgoutputtokens");
  }
  const auto is_used = [&](const std::string& key) { return std::find(used.begin(), used.end(), key) != used.end(); };
  std::vector<std::string> reported;
  for (const auto& model : service_models()) {
    if (model.name == selected.name) continue;
    for (const ParamSpec& spec : model.params) {
      const ParamSource src = source_of(model.name, spec.name);
      const std::string top = src.object.empty() ? src.key : src.object;
      const auto it = o.find(top);
      if (it == o.end() || it->is_null() || is_used(top)) continue;
      if (src.object.empty()) {
        line.optional_number(o, param_field_of(src));
      } else {
        const Field& group = problem_data_format().member(src.name.substr(0, src.name.find('.')));
        line.at(group.key).optional_number(*line.object(o, group), param_field_of(src));
      }
      const std::string name = src.object.empty() ? src.name : src.name.substr(0, src.name.find('.'));
      if (std::find(reported.begin(), reported.end(), name) == reported.end()) {
        reported.push_back(name);
        warnings.push_back(name + " is not used by serviceModel '" + selected.name + "': ignored");
      }
    }
  }
  if (!selected.uses_request_shape) {
    for (const char* key : {"avgInputTokens", "avgOutputTokens"})
      if (line.optional_number(o, problem_data_format().member(key)))
        warnings.push_back(std::string(key) + " is not used by serviceModel '" + selected.name + "': ignored");
  }
}

}  // namespace

QueueRequest parse_problem_data(const json& o, ProblemReader reader) {
  if (!o.is_object()) throw InvalidArgument("ProblemData must be a JSON object");
  QueueRequest r;
  QueueConfig& c = r.config;
  c.service_model = get_string(o, "servicemodel", "serviceModel").value_or("iteration");
  const ServiceModelInfo* found = nullptr;
  for (const auto& m : service_models())
    if (m.name == c.service_model) found = &m;
  if (!found)
    throw InvalidArgument("serviceModel must be one of " + service_model_names('"') + ", got \"" +
                          c.service_model + "\"");
  const ServiceModelInfo& info = *found;
  check_keys(o, reader, r.warnings);
  check_other_models(o, info, r.warnings);

  // Types and ranges come from the format (problem_data_format); absent numbers are 0, as in the
  // reference's Go decoder, unless the format gives a default.
  const Field& format = problem_data_format();
  const auto F = [&](const char* key) -> const Field& { return format.member(key); };
  const Reader line = Reader::line();
  // An absent number is 0, which must be in range too ("maxBatchSize ... got 0" names what is missing).
  const auto number = [&](const json& scope, const Field& f) {
    const double v = line.number(scope, f, 0.0);
    line.check_range(f, v);
    return v;
  };
  r.rate_rps = number(o, F("RPS"));
  c.max_batch = static_cast<int>(line.integer(o, F("maxBatchSize"), 0));
  line.check_range(F("maxBatchSize"), c.max_batch);
  c.max_queue = line.integer(o, F("maxQueueSize"), 0);
  const std::int64_t max_tokens = line.integer(o, F("maxNumTokens"), 0);
  c.shape.max_num_tokens = max_tokens == 0 ? 8192 : static_cast<int>(max_tokens);
  c.shape.in_tokens = line.number(o, F("avgInputTokens"), 0.0);
  c.shape.out_tokens = line.number(o, F("avgOutputTokens"), 0.0);
  if (info.uses_request_shape) line.check_range(F("avgOutputTokens"), c.shape.out_tokens);  // required: >= 1

  for (const ParamSpec& spec : info.params) {
    const ParamSource src = source_of(c.service_model, spec.name);
    if (src.object.empty()) {
      c.params[spec.name] = number(o, param_field_of(src));
      continue;
    }
    const Field& group = F(src.name.substr(0, src.name.find('.')).c_str());
    const json* scope = line.object(o, group);
    if (!scope) throw InvalidArgument(group.key + " is required for serviceModel '" + c.service_model + "'");
    const Field& param = param_field_of(src);
    c.params[spec.name] = line.at(group.key).number(*scope, param, 0.0);
    line.at(group.key).check_range(param, c.params[spec.name]);
  }

  c.options.arrival_cov = line.number(o, F("arrivalCOV"));
  c.options.service_cov = line.number(o, F("serviceCOV"));
  c.options.in_tokens_spread = line.number(o, F("inTokensSpread"));
  const std::string weighting = get_string(o, "itlweighting", "itlWeighting").value_or("token");
  if (const auto w = find_enum(kItlWeightings, weighting)) c.options.itl_weighting = *w;
  else throw InvalidArgument("itlWeighting must be " + enum_names(kItlWeightings, "\"", " or ") + ", got \"" + weighting + "\"");

  Targets& t = r.targets;
  add_target(t, TargetMetric::ttft, 0, line.number(o, F("targetTTFT"), 0.0), "targetTTFT");
  add_target(t, TargetMetric::itl, 0, line.number(o, F("targetITL"), 0.0), "targetITL");
  add_target(t, TargetMetric::wait, 0, line.number(o, F("targetWaitTime"), 0.0), "targetWaitTime");
  add_target(t, TargetMetric::loss, 0, line.number(o, F("targetLossProb"), 0.0), "targetLossProb");
  Field percentile_target = *format.patterns.at(0).second;  // targetTTFT_p95 and the like
  for (const auto& item : o.items()) {
    const std::string& key = item.key();
    TargetMetric metric;
    std::string percent;
    if (!parse_percentile_key(key, metric, percent)) continue;
    const double pct = std::stod(percent);
    percentile_target.key = std::string(metric == TargetMetric::ttft  ? "targetTTFT"
                                        : metric == TargetMetric::itl ? "targetITL"
                                                                      : "targetWaitTime") +
                            "_p" + percent;
    require(pct > 0 && pct < 100, "percentile of " + percentile_target.key, "in (0, 100)", pct);
    const double target_ms = get_number(o, key, percentile_target.key).value_or(0);
    line.check_range(percentile_target, target_ms);
    add_target(t, metric, pct, target_ms, percentile_target.key);
  }
  t.tps = line.number(o, F("targetTPS"), 0.0);

  const Field& percentiles = F("percentiles");
  const json& listed = line.array(o, percentiles);
  Field percentile = *percentiles.items;
  percentile.key = "percentiles[]";
  for (const auto& v : listed) {
    if (!v.is_number()) throw InvalidArgument("percentiles must be an array of numbers in (0, 100)");
    r.percentiles.push_back(v.get<double>());
    line.check_range(percentile, r.percentiles.back());
  }

  r.size.grid_points = static_cast<int>(line.integer(o, F("sizeGridPoints")));  // each point costs an analysis per N
  r.size.tps_safety_fraction = line.number(o, F("tpsSafetyFraction"));
  r.concurrency.min_batch = static_cast<int>(line.integer(o, F("minBatchSize")));
  if (r.concurrency.min_batch > c.max_batch)  // a bound the format cannot state: it depends on maxBatchSize
    require(false, "minBatchSize", "an integer in [1, " + std::to_string(c.max_batch) + "] (at most maxBatchSize)",
            r.concurrency.min_batch);
  r.concurrency.epsilon = line.number(o, F("onsetEpsilon"));
  r.concurrency.max_iters = static_cast<int>(line.integer(o, F("onsetMaxIters")));
  r.concurrency.converge = line.boolean(o, F("onsetConverge"));
  return r;
}

namespace {

// Every float written goes through here: NaN or Inf is an error, never an output.
void put(ordered_json& o, const std::string& key, double value) {
  if (!std::isfinite(value)) throw std::runtime_error("non-finite result for " + key);
  o[key] = value;
}

void put_reference_metrics(ordered_json& o, const Metrics& m, double max_rps) {
  put(o, "avgRespTime", m.resp_time_ms);
  put(o, "avgWaitTime", m.wait_time_ms);
  put(o, "avgNumInServ", m.num_in_service);
  put(o, "avgTTFT", m.ttft_ms);
  put(o, "avgITL", m.itl_ms);
  put(o, "maxRPS", max_rps);
}

void put_extensions(ordered_json& o, const Metrics& m, const QueueAnalyzer& a) {
  put(o, "avgPrefillTime", m.prefill_time_ms);
  put(o, "rho", m.rho);
  put(o, "lossProb", m.loss_prob);
  put(o, "droppedRPS", m.dropped_rps);
  put(o, "busyProb", m.busy_prob);
  put(o, "avgQueueLength", m.queue_length);
  put(o, "avgNumInSystem", m.num_in_system);
  put(o, "probWait", m.prob_wait);
  put(o, "tokensPerSec", m.tokens_per_sec);
  put(o, "peakRPS", a.peak_rate_rps());
  o["peakBatch"] = a.peak_batch();
}

void put_percentiles(ordered_json& o, const QueueAnalyzer& a, double rate_rps,
                     const std::vector<double>& requested, const std::vector<Constraint>& constraints) {
  std::vector<double> ttft = requested, itl = requested, wait = requested;
  for (const auto& c : constraints) {
    if (c.percentile == 0) continue;
    auto& list = c.metric == TargetMetric::ttft ? ttft : c.metric == TargetMetric::itl ? itl : wait;
    if (std::find(list.begin(), list.end(), c.percentile) == list.end()) list.push_back(c.percentile);
  }
  if (ttft.empty() && itl.empty() && wait.empty()) return;
  Evaluation ev;
  a.evaluate(rate_rps, ev);
  for (double pct : ttft) put(o, "ttft_p" + format_number(pct), a.ttft_quantile(ev, pct / 100));
  for (double pct : itl) put(o, "itl_p" + format_number(pct), a.itl_quantile(ev, pct / 100));
  for (double pct : wait) put(o, "waitTime_p" + format_number(pct), a.wait_quantile(ev, pct / 100));
  // Requested percentiles also give each request's mean ITL (TPOT), after the per-token ones.
  for (double pct : requested) put(o, "tpot_p" + format_number(pct), a.tpot_quantile(ev, pct / 100));
}

void put_approximation(ordered_json& o, const QueueAnalyzer& a) {
  if (!a.approximate()) return;
  o["approximation"] = "allen-cunneen";
  put(o, "kappa", a.kappa());
}

// The per-constraint rate of the mean target on `metric`, or maxRPS when it is unconstrained.
double rate_for(const SizeResult& r, TargetMetric metric, double max_rps) {
  for (const auto& pc : r.per_constraint)
    if (pc.constraint.metric == metric && pc.constraint.percentile == 0) return pc.rate_rps;
  return max_rps;
}

ordered_json solve(const QueueRequest& req, const QueueAnalyzer& a) {
  require(req.rate_rps > 0, "RPS", "a finite number > 0 for solve", req.rate_rps);
  const Metrics m = a.analyze(req.rate_rps);
  ordered_json o;
  put(o, "offeredRPS", m.offered_rps);
  put(o, "throughput", m.throughput_rps);
  put_reference_metrics(o, m, a.max_rate_rps());
  put(o, "RPSTargetTTFT", 0.0);
  put(o, "RPSTargetITL", 0.0);
  put_extensions(o, m, a);
  put_percentiles(o, a, req.rate_rps, req.percentiles, {});
  put_approximation(o, a);
  return o;
}

ordered_json target(const QueueRequest& req, const QueueAnalyzer& a) {
  const SizeResult r = a.max_rate(req.targets, req.size);
  if (r.status == SizeStatus::infeasible)
    throw RequestError{"Size() failed:",
                       "targets infeasible even at zero load: " + r.binding, "infeasible"};
  const Metrics& m = r.metrics;
  const double max_rps = a.max_rate_rps();
  ordered_json o;
  put(o, "offeredRPS", r.rate_rps);
  put(o, "throughput", m.throughput_rps);
  put_reference_metrics(o, m, max_rps);
  put(o, "RPSTargetTTFT", rate_for(r, TargetMetric::ttft, max_rps));
  put(o, "RPSTargetITL", rate_for(r, TargetMetric::itl, max_rps));
  put_extensions(o, m, a);
  put_percentiles(o, a, r.rate_rps, req.percentiles, req.targets.constraints);
  o["sizeStatus"] = size_status_name(r.status);
  o["bindingConstraint"] = r.binding;
  put(o, "RPSTargetTPS", r.tps_rate_rps);
  put(o, "RPSTargetWaitTime", rate_for(r, TargetMetric::wait, max_rps));
  put(o, "RPSTargetLossProb", rate_for(r, TargetMetric::loss, max_rps));
  for (const auto& pc : r.per_constraint)
    if (pc.constraint.percentile > 0) put(o, "RPSTarget" + constraint_name(pc.constraint), pc.rate_rps);
  o["tpsMet"] = r.tps_met;
  // An integer in [0, 2^53], checked by size().
  o["replicasForTPS"] = static_cast<long long>(r.replicas_for_tps);
  put_approximation(o, a);
  return o;
}

ordered_json optimize(const QueueRequest& req, const QueueAnalyzer& a) {
  const ConcurrencyResult r = optimal_concurrency(req.config, req.targets, req.concurrency, req.size);
  const Metrics m = r.feasible ? r.size.metrics : Metrics{};
  ordered_json o;
  o["concurrency"] = r.concurrency;
  put(o, "throughput", r.throughput_rps);
  put_reference_metrics(o, m, r.feasible ? r.max_rate_rps : 0.0);
  o["M_ITL"] = r.m_itl;
  o["M_TPF"] = r.m_tpf;
  o["oracleCalls"] = r.calls;
  o["feasible"] = r.feasible;
  put(o, "anchorThroughput", r.anchor_throughput_rps);
  o["probes"] = r.probes;
  o["converged"] = r.converged;
  o["bracketLo"] = r.bracket_lo;
  o["bracketHi"] = r.bracket_hi;
  put_approximation(o, a);
  return o;
}

ordered_json error_body(const RequestError& e) {
  ordered_json o;
  o["error"] = e.detail;
  o["message"] = e.prefix + " " + e.detail;
  o["status"] = e.status;
  return o;
}

}  // namespace

QueueResponse run_queue_request(QueueOperation op, std::string_view json_text) {
  const char* op_prefix = op == QueueOperation::solve    ? "Analyze() failed:"
                          : op == QueueOperation::target ? "Size() failed:"
                                                         : "OptimalConcurrency() failed:";
  QueueResponse out;
  try {
    json folded;
    QueueRequest req;
    try {
      folded = parse_json_folded(json_text);
      if (!folded.is_object()) throw InvalidArgument("ProblemData must be a JSON object");
    } catch (const InvalidArgument& e) {
      throw RequestError{kBindingError, e.what(), "invalid"};
    }
    try {
      req = parse_problem_data(folded);
    } catch (const InvalidArgument& e) {
      throw RequestError{kDataError, e.what(), "invalid"};
    }
    std::unique_ptr<QueueAnalyzer> analyzer;
    try {
      analyzer = std::make_unique<QueueAnalyzer>(req.config);
    } catch (const InvalidArgument& e) {
      throw RequestError{kBuildError, e.what(), "invalid"};
    }
    out.body = op == QueueOperation::solve    ? solve(req, *analyzer)
               : op == QueueOperation::target ? target(req, *analyzer)
                                              : optimize(req, *analyzer);
    // Without a waiting room, sizing to a latency target turns requests away at the rate it
    // reports; say so rather than let a sized rate hide its losses.
    if (op != QueueOperation::solve && req.config.max_queue == 0 && out.body.contains("lossProb") &&
        out.body["lossProb"].is_number() && out.body["lossProb"].get<double>() > 1e-6) {
      char percent[32];
      std::snprintf(percent, sizeof percent, "%.3g", 100.0 * out.body["lossProb"].get<double>());
      req.warnings.push_back(std::string("maxQueueSize is 0 (no waiting room): at this rate ") + percent +
                             " % of requests are turned away; give maxQueueSize, or bound the loss with targetLossProb");
    }
    if (!req.warnings.empty()) out.body["warnings"] = req.warnings;
  } catch (const RequestError& e) {
    out.ok = false;
    out.body = error_body(e);
  } catch (const InvalidArgument& e) {
    out.ok = false;
    out.body = error_body({op_prefix, e.what(), "invalid"});
  } catch (const std::exception& e) {
    out.ok = false;
    out.body = error_body({op_prefix, e.what(), "error"});
  }
  return out;
}

std::vector<std::string> run_queue_requests(QueueOperation op, const std::vector<std::string>& lines,
                                            unsigned threads, std::size_t* failures) {
  return detail::answer_lines(lines, threads, failures, [&](const std::string& line) {
    const auto r = run_queue_request(op, line);
    return std::make_pair(dump_response(r.body), r.ok);
  });
}

}  // namespace inferno::io

namespace inferno::io {

namespace {

// A model parameter's field: its range and unit from the service-model registry.
Field param_field(const std::string& key, const ParamSpec& spec, const std::string& model) {
  return number(key, spec.description + ", " + spec.unit + " (serviceModel " + model + ")")
      .at_least(spec.lower, spec.lower_strict)
      .at_most(spec.upper);
}

}  // namespace

const Field& problem_data_format() {
  static const Field f = [] {
    std::vector<std::string> models;
    for (const auto& m : service_models()) models.push_back(m.name);
    std::vector<Field> members = {
        number("RPS", "arrival rate, req/s").at_least(0).at_most(kMaxRateRps),
        integer("maxBatchSize", "batch cap N, requests", 1, kMaxBatchLimit).must(),
        integer("maxQueueSize", "waiting room Q, requests", 0, 1'000'000'000'000),
        integer("maxNumTokens", "token budget per iteration, tokens (0: 8192)", 0, 1'000'000'000).zero_means("8192"),
        number("avgInputTokens", "mean prompt length, tokens").at_least(0).at_most(queue::kMaxTokens),
        number("avgOutputTokens", "mean output length, tokens").at_least(1).at_most(queue::kMaxTokens),
        choice("serviceModel", "the service model", models).fallback("iteration")};
    // The parameters of every model, once per key (a nested object for prefill-decode).
    std::vector<Field> decode, prefill;
    for (const auto& m : service_models()) {
      for (const ParamSpec& spec : m.params) {
        const ParamSource src = source_of(m.name, spec.name);
        auto& list = src.object == "decodeparms" ? decode : src.object == "prefillparms" ? prefill : members;
        const std::string key = src.object.empty() ? src.name : src.name.substr(src.name.find('.') + 1);
        bool seen = false;
        for (const Field& x : list) seen = seen || x.key == key;
        if (!seen) list.push_back(param_field(key, spec, m.name));
      }
    }
    members.push_back(object("decodeParms", "decode step time (serviceModel prefill-decode)", std::move(decode)));
    members.push_back(object("prefillParms", "prefill time (serviceModel prefill-decode)", std::move(prefill)));
    for (Field extra : {
             number("arrivalCOV", "coefficient of variation of inter-arrival times").at_least(0).at_most(queue::kMaxCov).fallback(1),
             number("serviceCOV", "coefficient of variation of service times").at_least(0).at_most(queue::kMaxCov).fallback(1),
             number("inTokensSpread", "relative spread of prompt lengths").at_least(0).at_most(1).fallback(0),
             choice("itlWeighting", "ITL averaged per token or over time", enum_name_list(kItlWeightings)).fallback("token"),
             number("targetTTFT", "mean time-to-first-token target, ms (0: none)").at_least(0).zero_means("none"),
             number("targetITL", "mean inter-token latency target, ms (0: none)").at_least(0).zero_means("none"),
             number("targetWaitTime", "mean queueing-delay target, ms (0: none)").at_least(0).zero_means("none"),
             number("targetLossProb", "largest share of requests turned away (0: none)").at_least(0).at_most(1, true).zero_means("none"),
             number("targetTPS", "token-rate target, tokens/s (0: none)").at_least(0).at_most(queue::kMaxTargetTps).zero_means("none"),
             array("percentiles", "percentiles to report",
                   number("", "a percentile").at_least(0, true).at_most(100, true)),
             integer("sizeGridPoints", "grid points of the sizing search", 1, 1000).fallback(16),
             number("tpsSafetyFraction", "headroom kept under a token-rate target, fraction").at_least(0).at_most(1, true).fallback(0.1),
             integer("minBatchSize", "smallest batch cap optimize tries, requests", 1, kMaxBatchLimit).fallback(1),
             number("onsetEpsilon", "relative throughput gain below which optimize stops").at_least(0).at_most(1, true).fallback(0.02),
             integer("onsetMaxIters", "optimize's refinement rounds", 0, 1000).fallback(6),
             boolean("onsetConverge", "refine until the bracket closes").fallback(false)})
      members.push_back(std::move(extra));
    Field line = object("", "a queue request line (ProblemData); keys match without regard to case", std::move(members));
    line.only_known();
    const Field percentile_target = number("", "a percentile target, ms (0: none)").at_least(0).zero_means("none");
    // As the reader does (parse_percentile_key): any letter case, digits with an optional fraction.
    line.pattern("^" + case_blind_pattern("target") + "(" + case_blind_pattern("TTFT") + "|" + case_blind_pattern("ITL") +
                     "|" + case_blind_pattern("WaitTime") + ")_[pP][0-9]+(\\.[0-9]+)?$",
                 percentile_target);
    return line;
  }();
  return f;
}

const Field& queue_result_format() {
  static const Field f = [] {
    const auto ms = [](std::string key, std::string doc) { return number(std::move(key), doc + ", ms").at_least(0); };
    const auto rps = [](std::string key, std::string doc) { return number(std::move(key), doc + ", req/s").at_least(0); };
    Field line = object("", "a queue response line: the result of solve, target or optimize, or an error", {
        rps("offeredRPS", "the arrival rate analysed"), rps("throughput", "requests completed"),
        ms("avgRespTime", "mean response time"), ms("avgWaitTime", "mean queueing delay"),
        number("avgNumInServ", "mean requests in service").at_least(0), ms("avgTTFT", "mean time to first token"),
        ms("avgITL", "mean inter-token latency"), rps("maxRPS", "largest stable rate"),
        rps("RPSTargetTTFT", "largest rate meeting the TTFT target"), rps("RPSTargetITL", "largest rate meeting the ITL target"),
        ms("avgPrefillTime", "mean prefill time"), number("rho", "batch fill: mean in service / N").at_least(0),
        number("lossProb", "share of requests turned away").at_least(0).at_most(1),
        rps("droppedRPS", "requests turned away"), number("busyProb", "probability the server is busy").at_least(0).at_most(1),
        number("avgQueueLength", "mean requests waiting").at_least(0),
        number("avgNumInSystem", "mean requests in the system").at_least(0),
        number("probWait", "probability a request waits").at_least(0).at_most(1),
        number("tokensPerSec", "output tokens, tokens/s").at_least(0), rps("peakRPS", "rate at the throughput peak"),
        integer("peakBatch", "batch size at the throughput peak, requests", 0, kMaxBatchLimit),
        choice("sizeStatus", "how the sizing ended", {"ok", "unconstrained", "infeasible"}),
        text("bindingConstraint", "the target that sets the rate"),
        rps("RPSTargetTPS", "rate meeting the token-rate target"), rps("RPSTargetWaitTime", "rate meeting the wait target"),
        rps("RPSTargetLossProb", "rate meeting the loss target"), boolean("tpsMet", "the token-rate target is met"),
        integer("replicasForTPS", "replicas to reach the token-rate target", 0, 9007199254740992),
        integer("concurrency", "the best batch cap, requests", 0, kMaxBatchLimit), number("M_ITL", "ITL multiplier"),
        number("M_TPF", "time-per-token multiplier"), integer("oracleCalls", "analyses made", 0),
        boolean("feasible", "a batch cap meets the targets"), rps("anchorThroughput", "throughput at the anchor"),
        array("probes", "the batch caps probed, in order", integer("", "a batch cap, requests", 0, kMaxBatchLimit)), boolean("converged", "the bracket closed"),
        integer("bracketLo", "bracket low end, requests", 0, kMaxBatchLimit),
        integer("bracketHi", "bracket high end, requests", 0, kMaxBatchLimit),
        choice("approximation", "the approximation used", {"allen-cunneen"}), number("kappa", "its correction").at_least(0),
        array("warnings", "keys given but not used, and other notes", text("", "a warning")),
        text("error", "what is wrong (error lines)"), text("message", "the error with the reference's prefix"),
        choice("status", "kind of error", {"invalid", "infeasible", "error"})});
    line.only_known();
    line.pattern("^(ttft|itl|waitTime|tpot)_p[0-9.e+-]+$", number("", "a percentile, ms").at_least(0));
    line.pattern("^RPSTarget(TTFT|ITL|WaitTime)_p[0-9.e+-]+$", number("", "rate meeting a percentile target, req/s").at_least(0));
    return line;
  }();
  return f;
}

}  // namespace inferno::io
