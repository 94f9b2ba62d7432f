// Bindings of the queue subsystem. Results cross as dicts keyed by the Python field names
// (units in the names); python/inferno/queue.py turns them into typed dataclasses.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "inferno/error.hpp"
#include "inferno/queue/analyzer.hpp"
#include "inferno/queue/concurrency.hpp"
#include "inferno/queue/models/iteration.hpp"

namespace py = pybind11;
// The file's names live in a namespace of its own (the using-directive too), so a unity build can
// compile it in one unit with the other bindings.
namespace inferno::bindings::queue_module {
using namespace inferno::queue;

namespace {

// The one table mapping Metrics to Python names; order = DataFrame column order.
struct MetricField {
  const char* name;
  double Metrics::*member;
};
const MetricField kMetricFields[] = {
    {"rate_rps", &Metrics::offered_rps},
    {"throughput_rps", &Metrics::throughput_rps},
    {"dropped_rps", &Metrics::dropped_rps},
    {"ttft_ms", &Metrics::ttft_ms},
    {"itl_ms", &Metrics::itl_ms},
    {"wait_ms", &Metrics::wait_time_ms},
    {"prefill_ms", &Metrics::prefill_time_ms},
    {"service_ms", &Metrics::service_time_ms},
    {"response_ms", &Metrics::resp_time_ms},
    {"num_in_service", &Metrics::num_in_service},
    {"num_in_system", &Metrics::num_in_system},
    {"queue_length", &Metrics::queue_length},
    {"batch_fill", &Metrics::rho},
    {"busy_prob", &Metrics::busy_prob},
    {"blocking_prob", &Metrics::loss_prob},
    {"wait_prob", &Metrics::prob_wait},
    {"tokens_per_s", &Metrics::tokens_per_sec},
};

py::dict metrics_dict(const Metrics& m) {
  py::dict d;
  for (const auto& f : kMetricFields) d[f.name] = m.*(f.member);
  return d;
}

ItlWeighting parse_weighting(const std::string& name) {
  if (const auto weighting = inferno::find_enum(kItlWeightings, name)) return *weighting;
  throw inferno::InvalidArgument("itl_weighting must be " + inferno::enum_names(kItlWeightings, "'", " or ") + ", got '" + name + "'");
}

Targets make_targets(const std::vector<std::tuple<std::string, double, double>>& constraints,
                     double tps) {
  Targets t;
  for (const auto& [metric, pct, target] : constraints) t.constraints.push_back({parse_target_metric(metric), pct, target});
  t.tps = tps;
  return t;
}

py::dict size_dict(const SizeResult& r) {
  py::dict d;
  d["status"] = size_status_name(r.status);
  d["rate_rps"] = r.rate_rps;
  d["binding"] = r.binding;
  d["violated"] = r.violated;
  py::dict per;
  py::dict achieved;
  for (std::size_t k = 0; k < r.per_constraint.size(); ++k) {
    const auto& pc = r.per_constraint[k];
    const std::string name = constraint_name(pc.constraint);
    per[py::str(name)] = py::make_tuple(size_status_name(pc.status), pc.rate_rps);
    achieved[py::str(name)] = r.achieved[k];
  }
  d["per_constraint"] = per;
  d["achieved"] = achieved;
  d["tps_rate_rps"] = r.tps_rate_rps;
  d["tps_met"] = r.tps_met;
  d["replicas_for_tps"] = static_cast<long long>(r.replicas_for_tps);
  d["evaluations"] = r.evaluations;
  d["metrics"] = metrics_dict(r.metrics);
  return d;
}

// One configured server: its spec (for rebuilding at other caps) and its analyzer.
class PyQueue {
 public:
  PyQueue(const std::string& service_model, const ModelParams& params, double in_tokens,
          double out_tokens, int max_num_tokens, int max_batch, std::int64_t max_queue,
          double arrival_cov, double service_cov, const std::string& itl_weighting, double in_tokens_spread)
      : config_(make_config(service_model, params, in_tokens, out_tokens, max_num_tokens, max_batch,
                            max_queue, arrival_cov, service_cov, itl_weighting, in_tokens_spread)),
        analyzer_(config_) {}

  const QueueAnalyzer& analyzer() const { return analyzer_; }
  const QueueConfig& config() const { return config_; }

  py::dict analyze(double rate_rps, const std::vector<double>& percents) const {
    Evaluation ev;
    PercentileValues pv;
    {
      py::gil_scoped_release release;
      analyzer_.evaluate(rate_rps, ev);
      pv = analyzer_.percentiles(ev, percents);
    }
    py::dict d = metrics_dict(ev.metrics);
    py::dict pct;
    for (std::size_t i = 0; i < percents.size(); ++i) {
      const std::string p = inferno::format_number(percents[i]);
      pct[py::str("ttft_p" + p + "_ms")] = pv.ttft_ms[i];
      pct[py::str("itl_p" + p + "_ms")] = pv.itl_ms[i];
      pct[py::str("wait_p" + p + "_ms")] = pv.wait_ms[i];
      pct[py::str("tpot_p" + p + "_ms")] = pv.tpot_ms[i];
    }
    d["percentiles"] = pct;
    return d;
  }

  // Columns for many rates, computed in C++ (in parallel for long arrays).
  py::dict analyze_many(py::array_t<double, py::array::c_style | py::array::forcecast> rates,
                        const std::vector<double>& percents) const {
    const auto n = static_cast<std::size_t>(rates.size());
    const double* r = rates.data();
    for (std::size_t i = 0; i < n; ++i)
      if (!(std::isfinite(r[i]) && r[i] > 0))
        throw inferno::InvalidArgument("rate_rps must contain finite numbers > 0; element " +
                                       std::to_string(i) + " is " + inferno::format_number(r[i]));
    for (double pct : percents)
      inferno::require(std::isfinite(pct) && pct > 0 && pct < 100, "percentile", "in (0, 100)", pct);
    const std::size_t n_fields = std::size(kMetricFields);
    const std::size_t n_cols = n_fields + 4 * percents.size();
    std::vector<double> table(n * n_cols);
    {
      py::gil_scoped_release release;
      auto work = [&](std::size_t begin, std::size_t end) {
        Evaluation ev;
        for (std::size_t i = begin; i < end; ++i) {
          analyzer_.evaluate(r[i], ev);
          double* row = &table[i * n_cols];
          for (std::size_t f = 0; f < n_fields; ++f) row[f] = ev.metrics.*(kMetricFields[f].member);
          if (percents.empty()) continue;
          // The analyzer's percentiles, as analyze() reports them (TTFT with its spreads).
          const PercentileValues pv = analyzer_.percentiles(ev, percents);
          for (std::size_t k = 0; k < percents.size(); ++k) {
            row[n_fields + 4 * k] = pv.ttft_ms[k];
            row[n_fields + 4 * k + 1] = pv.itl_ms[k];
            row[n_fields + 4 * k + 2] = pv.wait_ms[k];
            row[n_fields + 4 * k + 3] = pv.tpot_ms[k];
          }
        }
      };
      // Work per rate is O(N) (more with percentiles): spread long arrays over the cores.
      const std::size_t cost = n * static_cast<std::size_t>(analyzer_.max_batch()) * (1 + 50 * percents.size());
      const unsigned threads = cost < 200000 ? 1u : std::max(1u, std::thread::hardware_concurrency());
      if (threads == 1) {
        work(0, n);
      } else {
        std::vector<std::thread> pool;
        const std::size_t chunk = (n + threads - 1) / threads;
        for (unsigned t = 0; t < threads; ++t) {
          const std::size_t b = t * chunk, e = std::min(n, b + chunk);
          if (b < e) pool.emplace_back(work, b, e);
        }
        for (auto& th : pool) th.join();
      }
    }
    py::dict cols;
    auto column = [&](std::size_t c) {
      py::array_t<double> out(static_cast<py::ssize_t>(n));
      auto* o = out.mutable_data();
      for (std::size_t i = 0; i < n; ++i) o[i] = table[i * n_cols + c];
      return out;
    };
    for (std::size_t f = 0; f < n_fields; ++f) cols[kMetricFields[f].name] = column(f);
    for (std::size_t k = 0; k < percents.size(); ++k) {
      const std::string p = inferno::format_number(percents[k]);
      cols[py::str("ttft_p" + p + "_ms")] = column(n_fields + 4 * k);
      cols[py::str("itl_p" + p + "_ms")] = column(n_fields + 4 * k + 1);
      cols[py::str("wait_p" + p + "_ms")] = column(n_fields + 4 * k + 2);
      cols[py::str("tpot_p" + p + "_ms")] = column(n_fields + 4 * k + 3);
    }
    return cols;
  }

  py::array_t<double> wait_survival(double rate_rps,
                                    py::array_t<double, py::array::c_style | py::array::forcecast> t_ms) const {
    const double* t = t_ms.data();
    for (py::ssize_t i = 0; i < t_ms.size(); ++i)
      inferno::require(std::isfinite(t[i]) && t[i] >= 0, "t_ms", "finite and >= 0", t[i]);
    py::array_t<double> out(t_ms.size());
    double* o = out.mutable_data();
    {
      py::gil_scoped_release release;
      Evaluation ev;
      analyzer_.evaluate(rate_rps, ev);
      for (py::ssize_t i = 0; i < t_ms.size(); ++i) o[i] = analyzer_.wait_survival(ev, t[i]);
    }
    return out;
  }

  py::tuple itl_distribution(double rate_rps) const {
    ItlDistribution d;
    {
      py::gil_scoped_release release;
      Evaluation ev;
      analyzer_.evaluate(rate_rps, ev);
      d = analyzer_.itl_distribution(ev);
    }
    return py::make_tuple(py::array_t<double>(d.itl_ms.size(), d.itl_ms.data()),
                          py::array_t<double>(d.prob.size(), d.prob.data()));
  }

  py::dict max_rate(const std::vector<std::tuple<std::string, double, double>>& constraints,
                    double tps, int grid_points, double tps_safety_fraction) const {
    const Targets t = make_targets(constraints, tps);
    SizeOptions opt;
    opt.grid_points = grid_points;
    opt.tps_safety_fraction = tps_safety_fraction;
    SizeResult r;
    {
      py::gil_scoped_release release;
      r = analyzer_.max_rate(t, opt);
    }
    return size_dict(r);
  }

  py::dict optimal_concurrency(const std::vector<std::tuple<std::string, double, double>>& constraints,
                               double tps, int min_batch, double epsilon, int max_iters, bool converge,
                               bool verify_hi, int grid_points, double tps_safety_fraction) const {
    const Targets t = make_targets(constraints, tps);
    ConcurrencyOptions opt;
    opt.min_batch = min_batch;
    opt.epsilon = epsilon;
    opt.max_iters = max_iters;
    opt.converge = converge;
    opt.verify_hi = verify_hi;
    SizeOptions size;
    size.grid_points = grid_points;
    size.tps_safety_fraction = tps_safety_fraction;
    ConcurrencyResult r;
    {
      py::gil_scoped_release release;
      r = inferno::queue::optimal_concurrency(config_, t, opt, size);
    }
    py::dict d;
    d["concurrency"] = r.concurrency;
    d["throughput_rps"] = r.throughput_rps;
    d["feasible"] = r.feasible;
    d["itl_bracket"] = r.m_itl;
    d["ttft_bracket"] = r.m_tpf;
    d["calls"] = r.calls;
    d["anchor_throughput_rps"] = r.anchor_throughput_rps;
    d["probes"] = r.probes;
    d["converged"] = r.converged;
    d["bracket_lo"] = r.bracket_lo;
    d["bracket_hi"] = r.bracket_hi;
    d["max_stable_rate_rps"] = r.max_rate_rps;
    d["size"] = r.feasible ? py::object(size_dict(r.size)) : py::none();
    return d;
  }

 private:
  static QueueConfig make_config(const std::string& service_model, const ModelParams& params,
                                 double in_tokens, double out_tokens, int max_num_tokens,
                                 int max_batch, std::int64_t max_queue, double arrival_cov,
                                 double service_cov, const std::string& itl_weighting, double in_tokens_spread) {
    QueueConfig c;
    c.service_model = service_model;
    c.params = params;
    c.shape = RequestShape{in_tokens, out_tokens, max_num_tokens};
    c.max_batch = max_batch;
    c.max_queue = max_queue;
    c.options.arrival_cov = arrival_cov;
    c.options.service_cov = service_cov;
    c.options.itl_weighting = parse_weighting(itl_weighting);
    c.options.in_tokens_spread = in_tokens_spread;
    return c;
  }

  QueueConfig config_;
  QueueAnalyzer analyzer_;
};

py::array_t<double> to_array(const std::vector<double>& v) {
  return py::array_t<double>(static_cast<py::ssize_t>(v.size()), v.data());
}

}  // namespace

void bind(py::module_& root) {
  py::module_ m = root.def_submodule("queue", "Queueing models of continuous-batching servers");

  py::list fields;
  for (const auto& f : kMetricFields) fields.append(f.name);
  m.attr("METRIC_FIELDS") = py::tuple(fields);

  py::list models;
  for (const auto& info : service_models()) {
    py::list params;
    for (const auto& p : info.params)
      params.append(py::dict(py::arg("name") = p.name, py::arg("unit") = p.unit,
                             py::arg("description") = p.description, py::arg("lower") = p.lower,
                             py::arg("lower_strict") = p.lower_strict, py::arg("upper") = p.upper));
    models.append(py::dict(py::arg("name") = info.name, py::arg("description") = info.description,
                           py::arg("params") = params,
                           py::arg("uses_request_shape") = info.uses_request_shape));
  }
  m.attr("SERVICE_MODELS") = models;

  py::class_<PyQueue>(m, "Queue", "One server configuration (immutable); see inferno.QueueModel")
      .def(py::init<const std::string&, const ModelParams&, double, double, int, int, std::int64_t,
                    double, double, const std::string&, double>(),
           py::arg("service_model"), py::arg("params"), py::arg("in_tokens"), py::arg("out_tokens"),
           py::arg("max_num_tokens"), py::arg("max_batch"), py::arg("max_queue"),
           py::arg("arrival_cov"), py::arg("service_cov"), py::arg("itl_weighting"), py::arg("in_tokens_spread") = 0.0)
      .def("analyze", &PyQueue::analyze, py::arg("rate_rps"), py::arg("percentiles"))
      .def("analyze_many", &PyQueue::analyze_many, py::arg("rates_rps"), py::arg("percentiles"))
      .def("wait_survival", &PyQueue::wait_survival, py::arg("rate_rps"), py::arg("t_ms"))
      .def("itl_distribution", &PyQueue::itl_distribution, py::arg("rate_rps"))
      .def("max_rate", &PyQueue::max_rate, py::arg("constraints"), py::arg("tps"),
           py::arg("grid_points"), py::arg("tps_safety_fraction"))
      .def("optimal_concurrency", &PyQueue::optimal_concurrency, py::arg("constraints"),
           py::arg("tps"), py::arg("min_batch"), py::arg("epsilon"), py::arg("max_iters"),
           py::arg("converge"), py::arg("verify_hi"), py::arg("grid_points"),
           py::arg("tps_safety_fraction"))
      .def("burst_throughput_rps",
           [](const PyQueue& q, double window_ms, double out_tokens_spread) {
             return q.analyzer().burst_throughput_rps(window_ms, out_tokens_spread);
           },
           py::arg("window_ms"), py::arg("out_tokens_spread"))
      .def_property_readonly("max_batch", [](const PyQueue& q) { return q.analyzer().max_batch(); })
      .def_property_readonly("max_queue", [](const PyQueue& q) { return q.analyzer().max_queue(); })
      .def_property_readonly("kappa", [](const PyQueue& q) { return q.analyzer().kappa(); })
      .def_property_readonly("max_stable_rate_rps", [](const PyQueue& q) { return q.analyzer().max_rate_rps(); })
      .def_property_readonly("min_rate_rps", [](const PyQueue& q) { return q.analyzer().min_rate_rps(); })
      .def_property_readonly("peak_rate_rps", [](const PyQueue& q) { return q.analyzer().peak_rate_rps(); })
      .def_property_readonly("peak_batch", [](const PyQueue& q) { return q.analyzer().peak_batch(); })
      .def_property_readonly("service_times_ms",
                             [](const PyQueue& q) { return to_array(q.analyzer().model().service_times_ms()); })
      .def_property_readonly("itl_by_batch_ms",
                             [](const PyQueue& q) { return to_array(q.analyzer().itl_by_batch_ms()); })
      .def_property_readonly("prefill_chunks_by_batch", [](const PyQueue& q) -> py::object {
        const auto* model = dynamic_cast<const IterationModel*>(&q.analyzer().model());
        if (model == nullptr) return py::none();
        py::array_t<std::int64_t> out(q.analyzer().max_batch());
        for (int b = 1; b <= q.analyzer().max_batch(); ++b) out.mutable_data()[b - 1] = model->chunk_count(b);
        return std::move(out);
      })
      .def_property_readonly("completion_rates_rps", [](const PyQueue& q) {
        std::vector<double> rps(q.analyzer().rates().mu);
        for (double& x : rps) x *= 1000.0;
        return to_array(rps);
      });
}

}  // namespace inferno::bindings::queue_module

void bind_queue(py::module_& root) { inferno::bindings::queue_module::bind(root); }
