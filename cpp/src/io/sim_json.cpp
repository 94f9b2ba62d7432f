#include "inferno/io/sim_json.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <cmath>
#include <thread>

#include "inferno/error.hpp"
#include "inferno/io/json.hpp"
#include "inferno/io/reader.hpp"
#include "line_batch.hpp"
#include "inferno/io/queue_json.hpp"
#include "inferno/sim/simulator.hpp"

namespace inferno::io {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

void put(ordered_json& o, const std::string& key, double v) {
  if (std::isfinite(v)) o[key] = v;
  else o[key] = nullptr;  // JSON has no infinity: "not measured"
}

void put_stat(ordered_json& o, const std::string& prefix, const std::string& avg_key, const sim::Stat& s) {
  put(o, avg_key, s.mean);
  put(o, avg_key + "HalfWidth", s.half_width);
  put(o, prefix + "P50", s.p50);
  put(o, prefix + "P90", s.p90);
  put(o, prefix + "P95", s.p95);
  put(o, prefix + "P99", s.p99);
}

ordered_json run(const json& folded) {
  const QueueRequest req = parse_problem_data(folded, ProblemReader::simulate);
  sim::SimulatedReplica server;
  server.queue = req.config;
  const Field& format = simulation_format();
  // A number of the format, checked against its range under its JSON name.
  const auto number_of = [&](const char* key, double fallback) {
    const Field& f = format.member(key);
    std::string folded_key = f.key;
    for (char& c : folded_key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const double v = get_number(folded, folded_key, f.key).value_or(fallback);
    const std::string problem = range_problem(f, v);
    if (!problem.empty()) throw InvalidArgument(problem);
    return v;
  };
  server.kv_capacity_tokens = number_of("kvCapacityTokens", 0);
  server.iteration_noise_cv = number_of("iterationNoiseCv", 0);
  server.kv_policy = sim::parse_kv_policy(get_string(folded, "kvpolicy", "kvPolicy").value_or("reserve"));
  sim::SimOptions options;
  options.mode = sim::parse_mode(get_string(folded, "mode", "mode").value_or("iteration"));
  options.duration_s = number_of("durationSeconds", 600);
  options.warmup_s = number_of("warmupSeconds", options.duration_s / 10);
  const std::int64_t seed = get_integer(folded, "seed", "seed").value_or(1);
  require(seed >= 0, "seed", "an integer >= 0", static_cast<double>(seed));
  options.seed = static_cast<std::uint64_t>(seed);
  options.keep_requests = false;
  options.sample_interval_s = 0;
  sim::FleetSpec fleet;
  const std::int64_t replicas = get_integer(folded, "replicas", "replicas").value_or(1);
  require(replicas >= 1 && replicas <= 1000, "replicas", "an integer in [1, 1000]", static_cast<double>(replicas));
  fleet.replicas = static_cast<int>(replicas);
  fleet.router = sim::parse_router(get_string(folded, "router", "router").value_or("round-robin"));
  sim::WorkloadSpec w;
  w.rate_rps = req.rate_rps;
  // Optional time-varying load: "schedule": [[time_s, rate_rps], ...] ("scheduleKind": "step" or
  // "linear"), or a trace: "trace": [[time_s, in_tokens, out_tokens], ...].
  const auto rows = [&](const char* key, const char* name, std::size_t width) {
    std::vector<std::vector<double>> out;
    if (!folded.contains(key) || folded[key].is_null()) return out;
    const json& a = folded[key];
    if (!a.is_array()) throw InvalidArgument(std::string(name) + " must be an array of arrays");
    if (a.empty())  // an empty list would silently fall back to RPS
      throw InvalidArgument(std::string(name) + " must hold at least one row (or be left out)");
    for (const json& row : a) {
      if (!row.is_array() || row.size() != width)
        throw InvalidArgument(std::string(name) + " rows must be arrays of " + std::to_string(width) + " numbers");
      std::vector<double> values;
      for (const json& v : row) {
        if (!v.is_number()) throw InvalidArgument(std::string(name) + " rows must hold numbers");
        values.push_back(v.get<double>());
      }
      out.push_back(std::move(values));
    }
    return out;
  };
  for (const auto& r : rows("schedule", "schedule", 2)) {
    w.schedule.times_s.push_back(r[0]);
    w.schedule.rates_rps.push_back(r[1]);
  }
  const std::string kind = get_string(folded, "schedulekind", "scheduleKind").value_or("step");
  if (kind != "step" && kind != "linear") throw InvalidArgument("scheduleKind must be \"step\" or \"linear\", got \"" + kind + "\"");
  w.schedule.linear = kind == "linear";
  for (const auto& r : rows("trace", "trace", 3)) w.trace.push_back({r[0], r[1], r[2]});
  if (!w.trace.empty()) w.arrivals = sim::WorkloadSpec::Arrivals::trace;
  const std::string arrivals = get_string(folded, "arrivals", "arrivals").value_or("poisson");
  if (w.schedule.empty() && w.trace.empty() && arrivals != "closed" && !(req.rate_rps > 0))
    require(false, "RPS", "a finite number > 0 to simulate (or give a schedule, a trace or closed arrivals)", req.rate_rps);
  if (arrivals == "gamma" && w.trace.empty()) w.arrivals = sim::WorkloadSpec::Arrivals::gamma;
  else if (arrivals == "constant" && w.trace.empty()) w.arrivals = sim::WorkloadSpec::Arrivals::constant;
  else if (arrivals == "closed" && w.trace.empty()) w.arrivals = sim::WorkloadSpec::Arrivals::closed;
  else if (arrivals != "poisson" && arrivals != "gamma" && arrivals != "constant" && arrivals != "closed")
    throw InvalidArgument("arrivals must be \"poisson\", \"gamma\", \"constant\" or \"closed\", got \"" + arrivals + "\"");
  w.cv = get_number(folded, "cv", "cv").value_or(1.0);
  // Validated whatever the arrivals, as every known key is; only gamma arrivals use it.
  require(std::isfinite(w.cv) && w.cv > 0.01 && w.cv <= 100, "cv", "in (0.01, 100]", w.cv);
  std::vector<std::string> warnings = req.warnings;
  const std::int64_t clients = get_integer(folded, "clients", "clients").value_or(0);
  if (w.arrivals == sim::WorkloadSpec::Arrivals::closed || folded.contains("clients"))
    require(clients >= 1 && clients <= 1000000, "clients", "an integer in [1, 1000000] (closed-loop users)",
            static_cast<double>(clients));
  w.clients = static_cast<int>(clients);
  w.think_time_s = get_number(folded, "thinktimeseconds", "thinkTimeSeconds").value_or(0);
  require_finite_in("thinkTimeSeconds", w.think_time_s, 0, false, 1e8);
  if ((folded.contains("clients") || folded.contains("thinktimeseconds")) && w.arrivals != sim::WorkloadSpec::Arrivals::closed)
    warnings.push_back("clients and thinkTimeSeconds are used by closed arrivals only: ignored");
  if (folded.contains("cv") && w.arrivals != sim::WorkloadSpec::Arrivals::gamma)
    warnings.push_back("cv is used by gamma arrivals only: ignored");
  // Token counts: the line's means, for every request (fixed), geometric with that mean (outputs),
  // or uniform within ± tokenSpread of it (the benchmark tools' synthetic data: 0.5 gives
  // [0.5, 1.5] × the mean).
  const double spread = get_number(folded, "tokenspread", "tokenSpread").value_or(0.5);
  require(std::isfinite(spread) && spread >= 0 && spread <= 1, "tokenSpread", "a finite number in [0, 1]", spread);
  const auto distribution = [&](const char* folded_key, const char* key, double mean, bool geometric_allowed) {
    sim::TokenDist d = sim::TokenDist::constant(mean);
    const std::string name = get_string(folded, folded_key, key).value_or("fixed");
    if (name == "geometric" && geometric_allowed) {
      d.kind = sim::TokenDist::Kind::geometric;
    } else if (name == "uniform") {
      d.kind = sim::TokenDist::Kind::uniform;
      d.low = std::round(mean * (1 - spread));
      d.high = std::round(mean * (1 + spread));
    } else if (name != "fixed") {
      throw InvalidArgument(std::string(key) + " must be " + (geometric_allowed ? "\"fixed\", \"geometric\" or \"uniform\"" : "\"fixed\" or \"uniform\"") +
                            ", got \"" + name + "\"");
    }
    return d;
  };
  w.in_tokens = distribution("inputtokens", "inputTokens", req.config.shape.in_tokens, false);
  // Models without a request shape (token) carry no output length: one token per request keeps
  // the records meaningful; the markov mode does not use it.
  w.out_tokens = distribution("outputtokens", "outputTokens", std::max(1.0, req.config.shape.out_tokens), true);
  if (w.out_tokens.kind == sim::TokenDist::Kind::uniform) w.out_tokens.low = std::max(1.0, w.out_tokens.low);
  if (folded.contains("tokenspread") && w.in_tokens.kind != sim::TokenDist::Kind::uniform &&
      w.out_tokens.kind != sim::TokenDist::Kind::uniform)
    warnings.push_back("tokenSpread is used by uniform inputTokens or outputTokens only: ignored");
  const sim::SimResult r = sim::simulate(server, w, fleet, options);
  const sim::Summary& s = r.summary;
  ordered_json o;
  // A schedule or a trace replaces RPS: report the load it offered in the measured window.
  const bool open_rate = w.schedule.empty() && w.trace.empty() && w.arrivals != sim::WorkloadSpec::Arrivals::closed;
  put(o, "offeredRPS", open_rate ? req.rate_rps : s.offered_rps);
  put(o, "throughput", s.throughput_rps);
  put(o, "avgRespTime", s.e2e_ms.mean);
  put(o, "avgWaitTime", s.wait_ms.mean);
  put(o, "avgNumInServ", s.mean_num_in_service);
  put(o, "avgTTFT", s.ttft_ms.mean);
  put(o, "avgITL", s.itl_ms.mean);
  put(o, "rho", s.mean_num_in_service / (req.config.max_batch * s.mean_replicas));
  put(o, "lossProb", s.blocking_prob);
  put(o, "avgQueueLength", s.mean_queue_length);
  put(o, "avgNumInSystem", s.mean_num_in_system);
  put(o, "avgNumInSystemHalfWidth", s.num_in_system_half_width);
  put(o, "throughputHalfWidth", s.throughput_half_width);
  put(o, "measuredOfferedRPS", s.offered_rps);
  put_stat(o, "ttft", "avgTTFT", s.ttft_ms);
  put_stat(o, "itl", "avgITL", s.itl_ms);
  put_stat(o, "tokenITL", "avgTokenITL", s.token_itl_ms);  // per output token, as the model's ITL percentiles
  put_stat(o, "respTime", "avgRespTime", s.e2e_ms);
  put_stat(o, "waitTime", "avgWaitTime", s.wait_ms);
  o["completed"] = s.completed;
  o["blocked"] = s.blocked;
  o["utilisation"] = s.utilisation;
  o["preemptions"] = s.preemptions;
  o["mode"] = sim::mode_name(options.mode);
  o["seed"] = options.seed;
  o["durationSeconds"] = options.duration_s;
  o["warmupSeconds"] = options.warmup_s;
  o["replicas"] = fleet.replicas;
  if (!warnings.empty()) o["warnings"] = warnings;
  return o;
}

ordered_json error_body(const std::string& detail, const std::string& status) {
  ordered_json o;
  o["error"] = detail;
  o["message"] = "Simulate() failed: " + detail;
  o["status"] = status;
  return o;
}

}  // namespace

SimResponse run_simulation_request(std::string_view json_text) {
  SimResponse out;
  try {
    const json folded = parse_json_folded(json_text);
    if (!folded.is_object()) throw InvalidArgument("ProblemData must be a JSON object");
    out.body = run(folded);
  } catch (const InvalidArgument& e) {
    out.ok = false;
    out.body = error_body(e.what(), "invalid");
  } catch (const std::exception& e) {
    out.ok = false;
    out.body = error_body(e.what(), "error");
  }
  return out;
}

std::vector<std::string> run_simulation_requests(const std::vector<std::string>& lines, unsigned threads,
                                                 std::size_t* failures) {
  return detail::answer_lines(lines, threads, failures, [&](const std::string& line) {
    const auto r = run_simulation_request(line);
    return std::make_pair(dump_response(r.body), r.ok);
  });
}

const Field& simulation_format() {
  static const Field f = [] {
    const auto rows = [](std::string key, std::string doc, std::vector<Field> columns) {
      Field row = array("", doc, number("", "a value"));
      row.min_items = row.max_items = columns.size();
      row.prefix = std::move(columns);
      Field list = array(std::move(key), doc, std::move(row));
      list.min_items = 1;
      return list;
    };
    Field sim = object("", "the keys inferno simulate reads beside ProblemData's", {
        number("kvCapacityTokens", "KV-cache capacity of a replica, tokens (0: unlimited)").at_least(0).at_most(1e15),
        number("iterationNoiseCv", "coefficient of variation of each iteration's time").at_least(0).at_most(10),
        choice("mode", "simulation mode", enum_name_list(sim::kModes)).fallback("iteration"),
        number("durationSeconds", "simulated time, s").at_least(0, true).at_most(1e8).fallback(600),
        number("warmupSeconds", "time left out of the statistics, s (default: a tenth of durationSeconds; below it)")
            .at_least(0).at_most(1e8, true),
        integer("seed", "random seed", 0, std::numeric_limits<std::int64_t>::max()).fallback(1),
        integer("replicas", "replicas behind the router", 1, 1000).fallback(1),
        choice("router", "how requests are spread over replicas", enum_name_list(sim::kRouters)).fallback("round-robin"),
        rows("schedule", "a rate schedule: [time_s, rate_rps] rows, times increasing (replaces RPS)",
             {number("", "time, s").at_least(0).at_most(1e8), number("", "rate, req/s").at_least(0).at_most(1e7)}),
        choice("scheduleKind", "the schedule between its rows", {"step", "linear"}).fallback("step"),
        rows("trace", "a request trace: [time_s, in_tokens, out_tokens] rows (replaces RPS)",
             {number("", "arrival time, s").at_least(0).at_most(1e8), number("", "prompt tokens").at_least(0).at_most(1e8),
              number("", "output tokens").at_least(1).at_most(1e8)}),
        choice("arrivals", "arrival process", {"poisson", "gamma", "constant", "closed"}).fallback("poisson"),
        number("cv", "coefficient of variation of gamma inter-arrival times").at_least(0.01, true).at_most(100).fallback(1),
        choice("outputTokens", "output lengths around the mean", {"fixed", "geometric", "uniform"}).fallback("fixed"),
        choice("inputTokens", "prompt lengths around the mean", {"fixed", "uniform"}).fallback("fixed"),
        number("tokenSpread", "uniform lengths within +- this share of the mean").at_least(0).at_most(1).fallback(0.5),
        choice("kvPolicy", "when KV pages are taken", enum_name_list(sim::kKvPolicies)).fallback("reserve"),
        integer("clients", "closed-loop users", 1, 1000000),
        number("thinkTimeSeconds", "closed-loop think time, s").at_least(0).at_most(1e8).fallback(0)});
    return sim;
  }();
  return f;
}

const Field& simulate_request_format() {
  static const Field f = [] {
    Field line = problem_data_format();
    line.doc = "an inferno simulate line: ProblemData's keys and the simulation's; keys match without regard to case";
    for (const Field& m : simulation_format().members) line.members.push_back(m);
    return line;
  }();
  return f;
}

}  // namespace inferno::io
