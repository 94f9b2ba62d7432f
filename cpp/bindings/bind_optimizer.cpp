// Bindings of the optimizer subsystem (so far: its input System). Entities cross as lists of
// dicts keyed by the Python column names (units in the names); Python builds the DataFrames.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <type_traits>
#include <variant>

#include "document_arg.hpp"
#include "inferno/error.hpp"
#include "inferno/io/solution_json.hpp"
#include "inferno/optimizer/candidates.hpp"
#include "inferno/optimizer/highs_info.hpp"
#include "inferno/optimizer/options.hpp"
#include "inferno/optimizer/solution.hpp"
#include "inferno/optimizer/system.hpp"

namespace py = pybind11;
// The file's names live in a namespace of its own (the using-directive too), so a unity build can
// compile it in one unit with the other bindings.
namespace inferno::bindings::optimizer_module {
using namespace inferno::optimizer;

namespace {

// The effective options by JSON key, in the registry's order.
py::dict options_dict(const System& s) {
  py::dict out;
  const OptimizerSpec& spec = s.options();
  for (const OptionInfo& option : optimizer_options()) {
    option.visit_value(spec, [&](const auto& v) {
      using T = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<T, std::optional<double>> || std::is_same_v<T, std::optional<std::int64_t>>)
        out[py::str(option.key)] = v ? py::cast(*v) : py::none();
      else
        out[py::str(option.key)] = py::cast(v);
    });
  }
  return out;
}

// A document: the text of a file (read by the core's parser, with its limits and messages) or a
// dict, which crosses as a value.
void add_document(SystemBuilder& b, const std::string& source, const py::object& document) {
  if (py::isinstance<py::str>(document)) b.add_document(source, document.cast<std::string>());
  else b.add_value(source, inferno::bindings::document_value(document, source));
}

py::object optional(const std::optional<double>& v) { return v ? py::object(py::float_(*v)) : py::none(); }
py::object optional(const std::optional<std::int64_t>& v) { return v ? py::object(py::int_(*v)) : py::none(); }

py::list accelerators(const System& s) {
  py::list out;
  for (const auto& a : s.accelerators())
    out.append(py::dict(py::arg("name") = a.name, py::arg("type") = a.type,
                        py::arg("multiplicity") = a.multiplicity, py::arg("cost_per_hour") = a.cost,
                        py::arg("mem_size_gb") = a.mem_size_gb, py::arg("mem_bw_gbps") = a.mem_bw_gbps,
                        py::arg("power_idle_w") = a.power.idle_w,
                        py::arg("power_mid_w") = a.power.mid_power_w,
                        py::arg("power_mid_util") = a.power.mid_util,
                        py::arg("power_full_w") = a.power.full_w));
  return out;
}

py::list perf_records(const System& s) {
  py::list out;
  for (const auto& p : s.perf_records())
    out.append(py::dict(
        py::arg("model") = p.model, py::arg("accelerator") = p.accelerator,
        py::arg("acc_count") = p.acc_count, py::arg("max_batch_size") = p.max_batch_size,
        py::arg("at_tokens") = p.at_tokens,
        py::arg("format") = p.format == PerfFormat::perf_parms ? "perfParms" : "decodeParms",
        py::arg("alpha_ms") = p.alpha, py::arg("beta_ms") = p.beta, py::arg("gamma_ms") = p.gamma,
        py::arg("delta_ms") = p.delta, py::arg("epsilon_ms") = p.epsilon,
        py::arg("decode_alpha_ms") = p.decode_alpha, py::arg("decode_beta_ms") = p.decode_beta,
        py::arg("prefill_gamma_ms") = p.prefill_gamma, py::arg("prefill_delta_ms") = p.prefill_delta,
        py::arg("unconverged") = p.unconverged()));
  return out;
}

// A live-state record from Python: its keys must be among `allowed`; each value a number.
double number_in(const py::dict& record, const char* key, double fallback, const std::string& what) {
  if (!record.contains(key) || record[key].is_none()) return fallback;
  const py::handle v = record[key];
  if (py::isinstance<py::bool_>(v) || !(py::isinstance<py::float_>(v) || py::isinstance<py::int_>(v)))
    throw inferno::InvalidArgument(what + ": " + key + " must be a number, got " + py::repr(v).cast<std::string>());
  return v.cast<double>();
}

void only_keys(const py::dict& record, std::initializer_list<const char*> allowed, const std::string& what) {
  for (const auto& item : record) {
    const std::string key = py::str(item.first).cast<std::string>();
    bool known = false;
    std::string list;
    for (const char* a : allowed) {
      known = known || key == a;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    if (!known) throw inferno::InvalidArgument(what + ": unknown key '" + key + "'; allowed: " + list);
  }
}

int whole_number(double v, const char* key, const std::string& what) {
  if (!(std::floor(v) == v && std::fabs(v) <= 1e9))
    throw inferno::InvalidArgument(what + ": " + key + " must be an integer, got " + inferno::format_number(v));
  return static_cast<int>(v);
}

System with_loads(const System& s, const std::map<std::string, py::dict>& loads) {
  std::map<std::string, Load> typed;
  for (const auto& [name, d] : loads) {
    const std::string what = "with_loads: server '" + name + "'";
    only_keys(d, {"rate_rps", "in_tokens", "out_tokens", "throughput_rps"}, what);
    const Server* server = nullptr;
    for (const auto& x : s.servers())
      if (x.name == name) server = &x;
    Load l = server ? server->current.load : Load{};
    l.arrival_rate_rpm = 60 * number_in(d, "rate_rps", l.arrival_rate_rpm / 60, what);
    l.throughput_rpm = 60 * number_in(d, "throughput_rps", l.throughput_rpm / 60, what);
    l.in_tokens = number_in(d, "in_tokens", l.in_tokens, what);
    l.out_tokens = number_in(d, "out_tokens", l.out_tokens, what);
    typed[name] = l;
  }
  return s.with_loads(typed);
}

System with_current(const System& s, const std::map<std::string, py::dict>& allocations, bool keep_accelerator,
                    bool keep_batch) {
  std::map<std::string, AllocationData> typed;
  for (const auto& [name, d] : allocations) {
    const std::string what = "with_current: server '" + name + "'";
    only_keys(d, {"accelerator", "replicas", "max_batch"}, what);
    AllocationData a;
    if (d.contains("accelerator") && !d["accelerator"].is_none()) {
      if (!py::isinstance<py::str>(d["accelerator"]))
        throw inferno::InvalidArgument(what + ": accelerator must be a string");
      a.accelerator = d["accelerator"].cast<std::string>();
    }
    a.num_replicas = whole_number(number_in(d, "replicas", 0, what), "replicas", what);
    a.max_batch = whole_number(number_in(d, "max_batch", 0, what), "max_batch", what);
    typed[name] = a;
  }
  return s.with_current(typed, keep_accelerator, keep_batch);
}

System with_perf(const System& s, const std::vector<py::dict>& records) {
  std::vector<PerfRecord> typed;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const py::dict& d = records[i];
    const std::string what = "with_perf: record " + std::to_string(i);
    only_keys(d, {"model", "accelerator", "acc_count", "max_batch_size", "at_tokens", "alpha_ms", "beta_ms", "gamma_ms",
                  "delta_ms", "epsilon_ms"}, what);
    PerfRecord r;
    for (const char* key : {"model", "accelerator"}) {
      if (!d.contains(key) || !py::isinstance<py::str>(d[key])) throw inferno::InvalidArgument(what + ": " + key + " (a name) is required");
    }
    r.model = d["model"].cast<std::string>();
    r.accelerator = d["accelerator"].cast<std::string>();
    if (const PerfRecord* old = s.find_perf(r.model, r.accelerator)) r = *old;  // unlisted fields kept
    r.format = PerfFormat::perf_parms;
    r.acc_count = whole_number(number_in(d, "acc_count", r.acc_count, what), "acc_count", what);
    r.max_batch_size = whole_number(number_in(d, "max_batch_size", r.max_batch_size, what), "max_batch_size", what);
    r.at_tokens = whole_number(number_in(d, "at_tokens", r.at_tokens, what), "at_tokens", what);
    r.alpha = number_in(d, "alpha_ms", r.alpha, what);
    r.beta = number_in(d, "beta_ms", r.beta, what);
    r.gamma = number_in(d, "gamma_ms", r.gamma, what);
    r.delta = number_in(d, "delta_ms", r.delta, what);
    r.epsilon = number_in(d, "epsilon_ms", r.epsilon, what);
    typed.push_back(r);
  }
  return s.with_perf(typed);
}

py::list targets(const System& s) {
  py::list out;
  for (const auto& c : s.service_classes())
    for (const auto& [model, t] : c.targets)
      out.append(py::dict(py::arg("service_class") = c.name, py::arg("priority") = c.priority,
                          py::arg("model") = model, py::arg("itl_ms") = t.itl_ms,
                          py::arg("ttft_ms") = t.ttft_ms, py::arg("tps") = t.tps,
                          py::arg("itl_percentile") = t.itl_percentile, py::arg("ttft_percentile") = t.ttft_percentile));
  return out;
}

py::list servers(const System& s) {
  py::list out;
  for (const auto& v : s.servers()) {
    const auto& cur = v.current;
    out.append(py::dict(
        py::arg("name") = v.name, py::arg("service_class") = v.service_class,
        py::arg("model") = v.model, py::arg("arrival_rate_rpm") = cur.load.arrival_rate_rpm,
        py::arg("in_tokens") = cur.load.in_tokens, py::arg("out_tokens") = cur.load.out_tokens,
        py::arg("keep_accelerator") = v.keep_accelerator, py::arg("min_replicas") = v.min_replicas,
        py::arg("max_batch_size") = v.max_batch_size, py::arg("max_queue") = optional(v.max_queue),
        py::arg("current_accelerator") = cur.accelerator,
        py::arg("current_replicas") = cur.num_replicas, py::arg("current_max_batch") = cur.max_batch,
        py::arg("current_cost") = optional(cur.cost)));
  }
  return out;
}

py::dict candidate_dict(const Candidate& c) {
  py::list parts;
  for (const Part& p : c.parts)
    parts.append(py::dict(py::arg("accelerator") = p.accelerator, py::arg("type") = p.type,
                          py::arg("replicas") = p.replicas, py::arg("batch") = p.batch, py::arg("queue") = p.queue,
                          py::arg("cards") = p.cards, py::arg("cost") = p.cost,
                          py::arg("arrival_rate_rps") = p.arrival_rate_rps, py::arg("itl_ms") = p.itl_ms,
                          py::arg("ttft_ms") = p.ttft_ms, py::arg("batch_fill") = p.rho, py::arg("power_w") = p.power_w));
  py::dict d(
      py::arg("server") = c.server, py::arg("accelerator") = c.accelerator,
      py::arg("feasible") = c.feasible, py::arg("reason") = c.reason, py::arg("outcome") = c.outcome,
      py::arg("type") = c.type, py::arg("service_model") = c.service_model,
      py::arg("batch") = c.batch, py::arg("queue") = c.queue, py::arg("replicas") = c.replicas,
      py::arg("required_replicas") = c.required_replicas, py::arg("cost") = c.cost,
      py::arg("objective") = c.objective, py::arg("value") = c.value, py::arg("cards") = c.cards,
      py::arg("demand_rps") = c.demand_rps, py::arg("rate_per_replica_rps") = c.rate_per_replica_rps,
      py::arg("max_rpm") = c.max_rpm, py::arg("itl_ms") = c.itl_ms, py::arg("ttft_ms") = c.ttft_ms,
      py::arg("batch_fill") = c.rho, py::arg("busy_prob") = c.busy, py::arg("blocking_prob") = c.blocking_prob,
      py::arg("power_w") = c.power_known ? py::object(py::float_(c.power_w)) : py::none());
  d["slo_met"] = c.slo_met;
  d["saturated"] = c.saturated;
  d["served_rpm"] = c.served_rpm;
  d["parts"] = parts;
  return d;
}

std::vector<Candidate> candidates_of(const System& s, int threads) {
  py::gil_scoped_release release;
  return generate_candidates(s, threads);
}

py::list candidates(const System& s, int threads) {
  py::list out;
  for (const auto& c : candidates_of(s, threads)) out.append(candidate_dict(c));
  return out;
}

/// One optimisation: the system it ran on, its candidates and the solution.
struct Run {
  System system;
  std::vector<Candidate> candidates;
  Solution solution;
  double candidates_ms = 0;
};

Run run_optimize(const System& s, int threads) {
  Run r{s, {}, {}, 0};
  py::gil_scoped_release release;
  const auto t0 = std::chrono::steady_clock::now();
  r.candidates = generate_candidates(r.system, threads > 0 ? threads : r.system.options().threads);
  r.candidates_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  r.solution = optimize(r.system, r.candidates);
  return r;
}

py::dict solver_dict(const SolverReport& r) {
  auto opt = [](const std::optional<double>& v) { return v ? py::object(py::float_(*v)) : py::none(); };
  return py::dict(py::arg("algorithm") = r.algorithm, py::arg("status") = r.status,
                  py::arg("objective") = opt(r.objective), py::arg("bound") = opt(r.bound),
                  py::arg("gap") = opt(r.gap), py::arg("time_ms") = r.time_ms,
                  py::arg("fallback") = r.fallback.empty() ? py::object(py::none()) : py::str(r.fallback),
                  py::arg("message") = r.message, py::arg("greedy_objective") = opt(r.greedy_objective),
                  py::arg("greedy_unserved") = r.greedy_unserved ? py::object(py::int_(*r.greedy_unserved)) : py::none());
}

py::dict solution_dict(const Run& run) {
  const Solution& sol = run.solution;
  py::list allocations, unallocated, by_type, diff, diagnostics;
  for (const auto& c : sol.allocations) allocations.append(candidate_dict(c));
  for (const auto& u : sol.unallocated)
    unallocated.append(py::dict(py::arg("server") = u.server, py::arg("reason") = u.reason,
                                py::arg("detail") = u.detail));
  for (const auto& [type, use] : sol.by_type)
    by_type.append(py::dict(py::arg("type") = type, py::arg("cards") = use.cards(),
                            py::arg("limit") = use.limit ? py::object(py::float_(*use.limit_cards())) : py::none(),
                            py::arg("cost") = use.cost,
                            py::arg("slices") = use.units_per_card > 1 ? py::object(py::int_(use.slices)) : py::none(),
                            py::arg("units_per_card") = use.units_per_card));
  for (const auto& [server, ch] : sol.diff)
    diff.append(py::dict(py::arg("server") = server, py::arg("from_accelerator") = ch.from_accelerator,
                         py::arg("to_accelerator") = ch.to_accelerator,
                         py::arg("from_replicas") = ch.from_replicas, py::arg("to_replicas") = ch.to_replicas,
                         py::arg("cost_delta") = ch.cost_delta));
  for (const auto& d : sol.diagnostics) diagnostics.append(py::make_tuple(d.where, d.message));
  py::dict d;
  d["allocations"] = allocations;
  d["unallocated"] = unallocated;
  d["by_type"] = by_type;
  d["diff"] = diff;
  d["total_cost"] = sol.total_cost;
  d["total_power_w"] = sol.total_power_w;
  d["power_known"] = sol.power_known;
  d["total_value"] = sol.total_value;
  d["limited"] = sol.limited;
  d["solver"] = solver_dict(sol.solver);
  d["status"] = sol.status;
  d["diagnostics"] = diagnostics;
  d["candidates_ms"] = run.candidates_ms;
  return d;
}

}  // namespace

/// The option registry as dicts: key, name, type, nullable, default, choices, bounds, doc.
py::list option_registry() {
  const OptimizerSpec defaults;
  py::list out;
  for (const OptionInfo& o : optimizer_options()) {
    py::dict d;
    d["key"] = o.key;
    d["name"] = o.name;
    d["type"] = o.type();
    d["nullable"] = o.nullable();
    o.visit_value(defaults, [&](const auto& v) {
      using T = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<T, std::optional<std::int64_t>> || std::is_same_v<T, std::optional<double>>)
        d["default"] = v ? py::cast(*v) : py::none();
      else
        d["default"] = py::cast(v);
    });
    d["choices"] = o.choices;
    const bool numeric = o.type() == "integer" || o.type() == "number";
    d["minimum"] = numeric ? py::cast(o.lower) : py::none();
    d["maximum"] = numeric && o.bounded_above ? py::cast(o.upper) : py::none();
    d["exclusive_minimum"] = o.lower_open;
    d["exclusive_maximum"] = o.upper_open;
    d["doc"] = o.doc;
    out.append(d);
  }
  return out;
}

void bind(py::module_& root) {
  py::module_ m = root.def_submodule("optimizer", "Global optimizer: input system, candidates, solvers");
  // Registered before System, whose optimize() returns it, so that signatures name the Python type.
  m.def("option_registry", &option_registry,
        "The optimizer's options, defined once: key, name, type, nullable, default, choices, bounds, doc");
  py::class_<Run> run_class(m, "Run", "One optimisation: its system, candidates and solution");
  py::class_<System>(m, "System", "Immutable optimizer input; see inferno.System")
      .def_property_readonly("accelerators", &accelerators)
      .def_property_readonly("perf_records", &perf_records)
      .def_property_readonly("targets", &targets)
      .def_property_readonly("servers", &servers)
      .def_property_readonly("capacity", [](const System& s) { return s.capacity(); })
      .def_property_readonly("units_per_card", [](const System& s) { return s.units_per_card(); })
      .def_property_readonly("options", &options_dict, "Effective options by optimizer-data.json key, in registry order")
      .def("candidates", &candidates, py::arg("threads") = 0)
      .def("with_documents",
           [](const System& s, const std::vector<std::pair<std::string, py::object>>& documents) {
             SystemBuilder b(s);
             for (const auto& [source, document] : documents) add_document(b, source, document);
             return b.build();
           },
           py::arg("documents"), "A copy with more (source, dict or JSON text) documents applied (e.g. option overrides)")
      .def("with_arrival_rates", &System::with_arrival_rates, py::arg("rates_rpm"))
      .def("with_loads", &with_loads, py::arg("loads"), "A copy with new loads: {server: {rate_rps, in_tokens, out_tokens}}")
      .def("with_current", &with_current, py::arg("allocations"), py::arg("keep_accelerator") = false,
           py::arg("keep_batch") = false,
           "A copy with current allocations: {server: {accelerator, replicas, max_batch}}")
      .def("with_perf", &with_perf, py::arg("records"),
           "A copy with these performance records (model, accelerator, alpha_ms, ...) replacing or adding")
      .def("optimize", &run_optimize, py::arg("threads") = 0,
           "Candidates and the solver chosen by the options; the GIL is released meanwhile")
      .def_property_readonly("diagnostics", [](const System& s) {
        py::list out;
        for (const auto& d : s.diagnostics()) out.append(py::make_tuple(d.where, d.message));
        return out;
      });
  run_class
      .def_property_readonly("candidates", [](const Run& r) {
        py::list out;
        for (const auto& c : r.candidates) out.append(candidate_dict(c));
        return out;
      })
      .def("solution", &solution_dict)
      .def("apply", [](const Run& r) { return apply(r.system, r.solution); })
      .def("to_json",
           [](const Run& r, bool reference_format, bool with_candidates, bool timing, int indent) {
             inferno::io::SolutionJsonOptions o;
             o.reference_format = reference_format;
             o.candidates = with_candidates ? &r.candidates : nullptr;
             o.timing = timing;
             o.indent = indent;
             o.candidates_ms = r.candidates_ms;
             return inferno::io::solution_to_json(r.system, r.solution, o);
           },
           py::arg("reference_format") = false, py::arg("candidates") = false, py::arg("timing") = false,
           py::arg("indent") = 2)
      .def("document",
           [](const Run& r, bool reference_format, bool with_candidates, bool timing) -> py::object {
             inferno::io::SolutionJsonOptions o;
             o.reference_format = reference_format;
             o.candidates = with_candidates ? &r.candidates : nullptr;
             o.timing = timing;
             o.candidates_ms = r.candidates_ms;
             // a value, not text (docs/development.md, "The Python/C++ boundary")
             return pyjson::from_json(nlohmann::json(inferno::io::solution_document(r.system, r.solution, o)));
           },
           py::arg("reference_format") = false, py::arg("candidates") = false, py::arg("timing") = false);
  m.def(
      "load_system",
      [](const std::vector<std::string>& directories, const std::vector<std::pair<std::string, py::object>>& documents) {
        SystemBuilder b;
        for (const auto& dir : directories) b.add_directory(dir);
        for (const auto& [source, document] : documents) add_document(b, source, document);
        return b.build();
      },
      py::arg("directories"), py::arg("documents"),
      "Builds a System from directories of reference JSON files, then (source, document) pairs, "
      "each a dict or the text of a file, applied in order with insert-or-replace semantics.");
  m.def(
      "highs_versions",
      [] {
        const auto v = highs_versions();
        return py::dict(py::arg("compiled") = v.compiled, py::arg("linked") = v.linked);
      },
      "The HiGHS version inferno was compiled against and the one of the library it loaded");
}

}  // namespace inferno::bindings::optimizer_module

void bind_optimizer(py::module_& root) { inferno::bindings::optimizer_module::bind(root); }
