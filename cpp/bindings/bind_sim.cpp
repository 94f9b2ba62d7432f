// Bindings of the simulator. Inputs cross as dicts built by python/inferno/sim.py (which checks
// their keys); results as a summary dict and column arrays for the DataFrames.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "inferno/error.hpp"
#include "inferno/io/sim_json.hpp"
#include "inferno/sim/simulator.hpp"

namespace py = pybind11;
// The file's names live in a namespace of its own (the using-directive too), so a unity build can
// compile it in one unit with the other bindings.
namespace inferno::bindings::sim_module {
using namespace inferno::sim;
using inferno::InvalidArgument;

namespace {

template <class T>
T get(const py::dict& d, const char* key, T fallback) {
  if (!d.contains(key) || d[key].is_none()) return fallback;
  try {
    return d[key].cast<T>();
  } catch (const py::cast_error&) {
    throw InvalidArgument(std::string(key) + " has the wrong type");
  }
}

TokenDist to_dist(const py::dict& d, const char* what) {
  TokenDist t;
  const auto kind = get<std::string>(d, "kind", "fixed");
  if (kind == "fixed") t.kind = TokenDist::Kind::fixed;
  else if (kind == "geometric" || kind == "exponential") t.kind = TokenDist::Kind::geometric;
  else if (kind == "uniform") t.kind = TokenDist::Kind::uniform;
  else if (kind == "empirical") t.kind = TokenDist::Kind::empirical;
  else throw InvalidArgument(std::string(what) + ": unknown distribution '" + kind +
                             "'; allowed: 'fixed', 'geometric' (or 'exponential'), 'uniform', 'empirical'");
  t.value = get<double>(d, "value", 0.0);
  t.low = get<double>(d, "low", 0.0);
  t.high = get<double>(d, "high", 0.0);
  t.values = get<std::vector<double>>(d, "values", {});
  return t;
}

py::dict stat_dict(const Stat& s) {
  py::dict d;
  d["count"] = s.count;
  d["mean"] = s.mean;
  d["p50"] = s.p50;
  d["p90"] = s.p90;
  d["p95"] = s.p95;
  d["p99"] = s.p99;
  d["half_width"] = s.half_width;
  return d;
}

template <class T, class F>
py::array_t<T> column(const std::vector<RequestRecord>& rows, F field) {
  py::array_t<T> out(static_cast<py::ssize_t>(rows.size()));
  auto v = out.template mutable_unchecked<1>();
  for (std::size_t i = 0; i < rows.size(); ++i) v(static_cast<py::ssize_t>(i)) = field(rows[i]);
  return out;
}

// The inputs of a run from the dicts python/inferno/sim.py builds.
struct Inputs {
  SimulatedReplica server;
  WorkloadSpec workload;
  FleetSpec fleet;
  SimOptions options;
};

Inputs to_inputs(const py::dict& config, const py::dict& workload, const py::dict& fleet, const py::dict& options) {
  SimulatedReplica server;
  inferno::queue::QueueConfig& q = server.queue;
  q.service_model = get<std::string>(config, "service_model", "iteration");
  q.params = get<std::map<std::string, double>>(config, "params", {});
  q.shape.in_tokens = get<double>(config, "in_tokens", 0.0);
  q.shape.out_tokens = get<double>(config, "out_tokens", 1.0);
  q.shape.max_num_tokens = get<int>(config, "max_num_tokens", 8192);
  q.max_batch = get<int>(config, "max_batch", 0);
  q.max_queue = get<long long>(config, "max_queue", 0);
  server.kv_capacity_tokens = get<double>(options, "kv_capacity_tokens", 0.0);
  server.iteration_noise_cv = get<double>(options, "iteration_noise_cv", 0.0);
  server.kv_policy = parse_kv_policy(get<std::string>(options, "kv_policy", "reserve"));

  WorkloadSpec w;
  const auto arrivals = get<std::string>(workload, "arrivals", "poisson");
  if (arrivals == "poisson") w.arrivals = WorkloadSpec::Arrivals::poisson;
  else if (arrivals == "gamma") w.arrivals = WorkloadSpec::Arrivals::gamma;
  else if (arrivals == "trace") w.arrivals = WorkloadSpec::Arrivals::trace;
  else if (arrivals == "constant") w.arrivals = WorkloadSpec::Arrivals::constant;
  else if (arrivals == "closed") w.arrivals = WorkloadSpec::Arrivals::closed;
  else throw InvalidArgument("unknown arrivals '" + arrivals + "'; allowed: 'poisson', 'gamma', 'constant', 'closed', 'trace'");
  w.clients = get<int>(workload, "clients", 0);
  w.think_time_s = get<double>(workload, "think_time_s", 0.0);
  w.rate_rps = get<double>(workload, "rate_rps", 0.0);
  w.cv = get<double>(workload, "cv", 1.0);
  w.schedule.times_s = get<std::vector<double>>(workload, "schedule_times_s", {});
  w.schedule.rates_rps = get<std::vector<double>>(workload, "schedule_rates_rps", {});
  w.schedule.linear = get<bool>(workload, "schedule_linear", false);
  const auto times = get<std::vector<double>>(workload, "trace_time_s", {});
  const auto ins = get<std::vector<double>>(workload, "trace_in_tokens", {});
  const auto outs = get<std::vector<double>>(workload, "trace_out_tokens", {});
  if (ins.size() != times.size() || outs.size() != times.size())
    throw InvalidArgument("trace columns time_s, in_tokens and out_tokens must have the same length");
  for (std::size_t i = 0; i < times.size(); ++i) w.trace.push_back({times[i], ins[i], outs[i]});
  w.in_tokens = to_dist(get<py::dict>(workload, "in_tokens", py::dict()), "in_tokens");
  w.out_tokens = to_dist(get<py::dict>(workload, "out_tokens", py::dict()), "out_tokens");

  FleetSpec f;
  f.replicas = get<int>(fleet, "replicas", 1);
  f.router = parse_router(get<std::string>(fleet, "router", "round-robin"));
  f.startup_delay_s = get<double>(fleet, "startup_delay_s", 0.0);
  for (const auto& e : get<std::vector<std::pair<double, int>>>(fleet, "scale_events", {}))
    f.scale_events.push_back({e.first, e.second});

  SimOptions o;
  o.mode = parse_mode(get<std::string>(options, "mode", "iteration"));
  o.duration_s = get<double>(options, "duration_s", 600.0);
  o.warmup_s = get<double>(options, "warmup_s", 0.0);
  const auto seed = get<long long>(options, "seed", 1);
  if (seed < 0) inferno::require(false, "seed", "an integer >= 0", static_cast<double>(seed));
  o.seed = static_cast<std::uint64_t>(seed);
  o.sample_interval_s = get<double>(options, "sample_interval_s", 1.0);
  o.ci_batches = get<int>(options, "ci_batches", 20);
  o.keep_requests = get<bool>(options, "keep_requests", true);

  return {server, w, f, o};
}

py::dict result_dict(const SimResult& r) {
  const Summary& s = r.summary;
  py::dict summary;
  summary["arrivals"] = s.arrivals;
  summary["completed"] = s.completed;
  summary["blocked"] = s.blocked;
  summary["total_arrivals"] = s.total_arrivals;
  summary["total_completed"] = s.total_completed;
  summary["total_blocked"] = s.total_blocked;
  summary["unfinished"] = s.unfinished;
  summary["window_s"] = s.window_s;
  summary["offered_rps"] = s.offered_rps;
  summary["throughput_rps"] = s.throughput_rps;
  summary["throughput_half_width"] = s.throughput_half_width;
  summary["ttft_ms"] = stat_dict(s.ttft_ms);
  summary["itl_ms"] = stat_dict(s.itl_ms);
  summary["token_itl_ms"] = stat_dict(s.token_itl_ms);
  summary["e2e_ms"] = stat_dict(s.e2e_ms);
  summary["wait_ms"] = stat_dict(s.wait_ms);
  summary["num_in_system"] = s.mean_num_in_system;
  summary["num_in_system_half_width"] = s.num_in_system_half_width;
  summary["num_in_service"] = s.mean_num_in_service;
  summary["queue_length"] = s.mean_queue_length;
  summary["utilisation"] = s.utilisation;
  summary["blocking_prob"] = s.blocking_prob;
  summary["iterations"] = s.iterations;
  summary["preemptions"] = s.preemptions;
  summary["max_batch_seen"] = s.max_batch_seen;
  summary["max_tokens_in_iteration"] = s.max_tokens_in_iteration;
  summary["mean_replicas"] = s.mean_replicas;

  py::dict requests;
  const auto& q_rows = r.requests;
  requests["id"] = column<std::int64_t>(q_rows, [](const RequestRecord& x) { return x.id; });
  requests["arrival_ms"] = column<double>(q_rows, [](const RequestRecord& x) { return x.arrival_ms; });
  requests["start_ms"] = column<double>(q_rows, [](const RequestRecord& x) { return x.start_ms; });
  requests["first_token_ms"] = column<double>(q_rows, [](const RequestRecord& x) { return x.first_token_ms; });
  requests["finish_ms"] = column<double>(q_rows, [](const RequestRecord& x) { return x.finish_ms; });
  requests["in_tokens"] = column<std::int64_t>(q_rows, [](const RequestRecord& x) { return x.in_tokens; });
  requests["out_tokens"] = column<std::int64_t>(q_rows, [](const RequestRecord& x) { return x.out_tokens; });
  requests["replica"] = column<std::int64_t>(q_rows, [](const RequestRecord& x) { return x.replica; });
  requests["blocked"] = column<bool>(q_rows, [](const RequestRecord& x) { return x.blocked; });

  py::dict series;
  std::vector<double> t, ql, b;
  std::vector<int> reps;
  for (const auto& x : r.series) {
    t.push_back(x.time_s);
    ql.push_back(x.queue_length);
    b.push_back(x.batch);
    reps.push_back(x.replicas);
  }
  series["time_s"] = t;
  series["queue_length"] = ql;
  series["batch"] = b;
  series["replicas"] = reps;

  py::dict out;
  out["summary"] = summary;
  out["requests"] = requests;
  out["series"] = series;
  return out;
}

py::dict counters_dict(const ServerCounters& c) {
  py::dict d;
  d["time_s"] = c.time_s;
  d["arrivals"] = c.arrivals;
  d["request_success"] = c.request_success;
  d["blocked"] = c.blocked;
  d["prompt_tokens"] = c.prompt_tokens;
  d["generation_tokens"] = c.generation_tokens;
  d["ttft_sum_s"] = c.ttft_sum_s;
  d["ttft_count"] = c.ttft_count;
  d["itl_sum_s"] = c.itl_sum_s;
  d["itl_count"] = c.itl_count;
  d["e2e_sum_s"] = c.e2e_sum_s;
  d["running_seconds"] = c.running_seconds;
  d["waiting_seconds"] = c.waiting_seconds;
  d["replica_seconds"] = c.replica_seconds;
  d["running"] = c.running;
  d["waiting"] = c.waiting;
  d["kv_cache_usage"] = c.kv_cache_usage;
  d["replicas_serving"] = c.replicas_serving;
  d["replicas_starting"] = c.replicas_starting;
  d["replicas_draining"] = c.replicas_draining;
  return d;
}

}  // namespace

void bind(py::module_& parent) {
  py::module_ m = parent.def_submodule("sim", "Discrete-event simulator of continuous batching");

  m.def("simulate", [](const py::dict& config, const py::dict& workload, const py::dict& fleet, const py::dict& options) {
        const Inputs in = to_inputs(config, workload, fleet, options);
        SimResult r;
        {
          py::gil_scoped_release release;
          r = simulate(in.server, in.workload, in.fleet, in.options);
        }
        return result_dict(r);
      }, py::arg("config"), py::arg("workload"), py::arg("fleet"), py::arg("options"));

  py::class_<Simulator>(m, "Simulator", "A run that can be stepped (docs/simulator.md, \"Stepping\")")
      .def(py::init([](const py::dict& config, const py::dict& workload, const py::dict& fleet, const py::dict& options) {
             const Inputs in = to_inputs(config, workload, fleet, options);
             return std::make_unique<Simulator>(in.server, in.workload, in.fleet, in.options);
           }), py::arg("config"), py::arg("workload"), py::arg("fleet"), py::arg("options"))
      .def_property_readonly("now_s", &Simulator::now_s)
      .def("advance_to", [](Simulator& s, double time_s) {
             py::gil_scoped_release release;
             s.advance_to(time_s);
           }, py::arg("time_s"), "Runs the events up to time_s (s, >= now_s)")
      .def("scale_to", &Simulator::scale_to, py::arg("replicas"), py::arg("startup_delay_s") = 0.0,
           "Serving plus starting replicas become `replicas` now; new ones serve after startup_delay_s")
      .def("stop_arrivals_at", &Simulator::stop_arrivals_at, py::arg("time_s"),
           "No arrival at or after time_s is offered to this run (a successor takes them)")
      .def("counters", [](const Simulator& s) { return counters_dict(s.counters()); },
           "Counters since the start and gauges now, as a metrics endpoint reports them")
      .def("finish", [](Simulator& s) {
             SimResult r;
             {
               py::gil_scoped_release release;
               r = s.finish();
             }
             return result_dict(r);
           }, "Runs to the end and summarises, as simulate() does");

  m.def("run_simulation_requests", [](const std::vector<std::string>& lines, unsigned threads) {
        std::size_t failures = 0;
        std::vector<std::string> out;
        {
          py::gil_scoped_release release;
          out = inferno::io::run_simulation_requests(lines, threads, &failures);
        }
        return py::make_tuple(out, failures);
      }, py::arg("lines"), py::arg("threads") = 0);
}

}  // namespace inferno::bindings::sim_module

void bind_sim(py::module_& parent) { inferno::bindings::sim_module::bind(parent); }
