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
  const auto F = [&](const char* key) -> const Field& { return format.member(key); };
  const Reader line = Reader::line();  // types, ranges and defaults from the format
  // The simulator's own enums are parsed by their tables (sim/simulator.hpp), which name the choices.
  const auto enum_text = [&](const char* key) {
    Field f = F(key);
    f.choices.clear();
    return line.text(folded, f);
  };
  server.kv_capacity_tokens = line.number(folded, F("kvCapacityTokens"));
  server.iteration_noise_cv = line.number(folded, F("iterationNoiseCv"));
  server.kv_policy = sim::parse_kv_policy(enum_text("kvPolicy"));
  sim::SimOptions options;
  options.mode = sim::parse_mode(enum_text("mode"));
  options.duration_s = line.number(folded, F("durationSeconds"));
  options.warmup_s = line.number(folded, F("warmupSeconds"), options.duration_s / 10);
  options.seed = static_cast<std::uint64_t>(line.integer(folded, F("seed")));
  options.keep_requests = false;
  options.sample_interval_s = 0;
  sim::FleetSpec fleet;
  fleet.replicas = static_cast<int>(line.integer(folded, F("replicas")));
  fleet.router = sim::parse_router(enum_text("router"));
  sim::WorkloadSpec w;
  w.rate_rps = req.rate_rps;
  // Optional time-varying load: "schedule": [[time_s, rate_rps], ...] ("scheduleKind": "step" or
  // "linear"), or a trace: "trace": [[time_s, in_tokens, out_tokens], ...].
  // Rows of the width the format gives; the simulator checks their values and their order.
  const auto rows = [&](const char* key) {
    std::vector<std::vector<double>> out;
    const Field& f = F(key);
    const json& a = line.array(folded, f);
    const auto given = folded.find(key);  // keys of the format that are lower case already
    if (a.empty() && given != folded.end() && !given->is_null())  // an empty list would silently fall back to RPS
      throw InvalidArgument(f.key + " must hold at least one row (or be left out)");
    const std::vector<Field>& columns = f.items->prefix;
    for (const json& row : a) {
      if (!row.is_array() || row.size() != columns.size())
        throw InvalidArgument(f.key + " rows must be arrays of " + std::to_string(columns.size()) + " numbers");
      std::vector<double> values;
      for (const json& v : row) {
        if (!v.is_number()) throw InvalidArgument(f.key + " rows must hold numbers");
        values.push_back(v.get<double>());
      }
      out.push_back(std::move(values));
    }
    return out;
  };
  for (const auto& r : rows("schedule")) {
    w.schedule.times_s.push_back(r[0]);
    w.schedule.rates_rps.push_back(r[1]);
  }
  w.schedule.linear = line.text(folded, F("scheduleKind")) == "linear";
  for (const auto& r : rows("trace")) w.trace.push_back({r[0], r[1], r[2]});
  if (!w.trace.empty()) w.arrivals = sim::WorkloadSpec::Arrivals::trace;
  const std::string arrivals = line.text(folded, F("arrivals"));
  if (w.schedule.empty() && w.trace.empty() && arrivals != "closed" && !(req.rate_rps > 0))
    require(false, "RPS", "a finite number > 0 to simulate (or give a schedule, a trace or closed arrivals)", req.rate_rps);
  if (arrivals == "gamma" && w.trace.empty()) w.arrivals = sim::WorkloadSpec::Arrivals::gamma;
  else if (arrivals == "constant" && w.trace.empty()) w.arrivals = sim::WorkloadSpec::Arrivals::constant;
  else if (arrivals == "closed" && w.trace.empty()) w.arrivals = sim::WorkloadSpec::Arrivals::closed;
  // Validated whatever the arrivals, as every known key is; only gamma arrivals use it.
  w.cv = line.number(folded, F("cv"));
  std::vector<std::string> warnings = req.warnings;
  const Field& clients = F("clients");
  w.clients = static_cast<int>(line.integer(folded, clients, 0));
  if (w.arrivals == sim::WorkloadSpec::Arrivals::closed) line.check_range(clients, w.clients);  // required then
  w.think_time_s = line.number(folded, F("thinkTimeSeconds"));
  if ((folded.contains("clients") || folded.contains("thinktimeseconds")) && w.arrivals != sim::WorkloadSpec::Arrivals::closed)
    warnings.push_back("clients and thinkTimeSeconds are used by closed arrivals only: ignored");
  if (folded.contains("cv") && w.arrivals != sim::WorkloadSpec::Arrivals::gamma)
    warnings.push_back("cv is used by gamma arrivals only: ignored");
  // Token counts: the line's means, for every request (fixed), geometric with that mean (outputs),
  // or uniform within ± tokenSpread of it (the benchmark tools' synthetic data: 0.5 gives
  // [0.5, 1.5] × the mean).
  const double spread = line.number(folded, F("tokenSpread"));
  const auto distribution = [&](const char* key, double mean) {
    sim::TokenDist d = sim::TokenDist::constant(mean);
    const Field& f = F(key);
    const std::string name = enum_text(key);
    if (std::find(f.choices.begin(), f.choices.end(), name) == f.choices.end()) {  // the format lists what each allows
      std::string allowed;
      for (std::size_t i = 0; i < f.choices.size(); ++i)
        allowed += (i == 0 ? "\"" : i + 1 == f.choices.size() ? " or \"" : ", \"") + f.choices[i] + "\"";
      throw InvalidArgument(f.key + " must be " + allowed + ", got \"" + name + "\"");
    }
    if (name == "geometric") {
      d.kind = sim::TokenDist::Kind::geometric;
    } else if (name == "uniform") {
      d.kind = sim::TokenDist::Kind::uniform;
      d.low = std::round(mean * (1 - spread));
      d.high = std::round(mean * (1 + spread));
    }
    return d;
  };
  w.in_tokens = distribution("inputTokens", req.config.shape.in_tokens);
  // Models without a request shape (token) carry no output length: one token per request keeps
  // the records meaningful; the markov mode does not use it.
  w.out_tokens = distribution("outputTokens", std::max(1.0, req.config.shape.out_tokens));
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
