// Bindings of the configuration search: the analytical screen returns its rows as columns (lists
// by field), which python/inferno/search.py turns into a DataFrame.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "document_arg.hpp"
#include "inferno/enum_names.hpp"
#include "inferno/error.hpp"
#include "inferno/io/json.hpp"
#include "inferno/io/sizing_json.hpp"
#include "inferno/search/screen.hpp"

namespace py = pybind11;
// The file's names live in a namespace of its own (the using-directive too), so a unity build can
// compile it in one unit with the other bindings.
namespace inferno::bindings::search_module {
using namespace inferno::search;
using inferno::InvalidArgument;

namespace {

template <class T, class F>
py::list column(const std::vector<Row>& rows, F get) {
  py::list out(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) out[i] = py::cast(static_cast<T>(get(rows[i])));
  return out;
}

}  // namespace

void bind(py::module_& core) {
  py::module_ s = core.def_submodule("search", "Configuration search: the analytical screen and the Pareto flag");

  s.def("screen",
        [](const inferno::sizing::Catalog& catalog, const std::map<std::string, inferno::sizing::ModelArch>& registry,
           const std::vector<std::string>& models, const std::vector<std::string>& accelerators,
           const std::vector<int>& tensor_parallel, const std::vector<int>& pipeline_parallel, const std::vector<int>& max_num_seqs,
           const std::vector<int>& max_num_batched_tokens, const py::object& serving, double rate_rps, double in_tokens,
           double out_tokens, double arrival_cov, double in_tokens_spread,
           const std::vector<std::tuple<std::string, double, double>>& slo, const py::object& efficiency,
           const std::string& service_model, double per_sequence_ms, int queue_to_batch_ratio,
           const std::map<std::string, double>& costs, const std::string& cost_rule, double report_percentile, int threads) {
          Space space;
          space.models = models;
          space.accelerators = accelerators;
          space.tensor_parallel = tensor_parallel;
          space.pipeline_parallel = pipeline_parallel;
          space.max_num_seqs = max_num_seqs;
          space.max_num_batched_tokens = max_num_batched_tokens;
          space.serving = inferno::io::serving_from_json(inferno::bindings::sizing_document(serving, "serving"), "serving");
          const Workload w{rate_rps, in_tokens, out_tokens, arrival_cov, in_tokens_spread};
          std::vector<inferno::queue::Constraint> constraints;
          for (const auto& [metric, pct, target] : slo)
            constraints.push_back({inferno::queue::parse_target_metric(metric), pct, target});
          Options o;
          o.efficiency = inferno::io::efficiency_from_json(inferno::bindings::sizing_document(efficiency, "efficiency"), "efficiency");
          o.service_model = service_model;
          o.per_sequence_ms = per_sequence_ms;
          o.queue_to_batch_ratio = queue_to_batch_ratio;
          o.costs = costs;
          const auto rule = inferno::find_enum(inferno::sizing::kSliceCostRules, cost_rule);
          if (!rule)
            throw InvalidArgument("sliceCostRule: unknown \"" + cost_rule + "\"; allowed: " +
                                  inferno::enum_names(inferno::sizing::kSliceCostRules, ""));
          o.cost_rule = *rule;
          o.report_percentile = report_percentile;
          o.threads = threads;
          Result result;
          {
            py::gil_scoped_release release;
            result = screen(space, w, constraints, catalog, registry, o);
          }
          const auto& r = result.rows;
          py::dict cols;
          cols["model"] = column<std::string>(r, [](const Row& x) { return x.model; });
          cols["accelerator"] = column<std::string>(r, [](const Row& x) { return x.accelerator; });
          cols["gpu"] = column<std::string>(r, [](const Row& x) { return x.gpu; });
          cols["profile"] = column<std::string>(r, [](const Row& x) { return x.profile; });
          cols["tp"] = column<int>(r, [](const Row& x) { return x.tp; });
          cols["pp"] = column<int>(r, [](const Row& x) { return x.pp; });
          cols["max_num_seqs"] = column<int>(r, [](const Row& x) { return x.max_num_seqs; });
          cols["max_num_batched_tokens"] = column<int>(r, [](const Row& x) { return x.max_num_batched_tokens; });
          cols["link"] = column<std::string>(r, [](const Row& x) { return x.link; });
          cols["gpus_per_replica"] = column<double>(r, [](const Row& x) { return x.gpus_per_replica; });
          cols["feasible"] = column<bool>(r, [](const Row& x) { return x.feasible; });
          cols["reason"] = column<std::string>(r, [](const Row& x) { return x.reason; });
          cols["alpha_ms"] = column<double>(r, [](const Row& x) { return x.alpha_ms; });
          cols["beta_ms"] = column<double>(r, [](const Row& x) { return x.beta_ms; });
          cols["gamma_ms"] = column<double>(r, [](const Row& x) { return x.gamma_ms; });
          cols["batch"] = column<int>(r, [](const Row& x) { return x.batch; });
          cols["kv_capacity_tokens"] = column<long long>(r, [](const Row& x) { return x.kv_capacity_tokens; });
          cols["bound"] = column<std::string>(r, [](const Row& x) { return x.bound; });
          cols["rate_per_replica_rps"] = column<double>(r, [](const Row& x) { return x.rate_per_replica_rps; });
          cols["binding"] = column<std::string>(r, [](const Row& x) { return x.binding; });
          cols["replicas"] = column<int>(r, [](const Row& x) { return x.replicas; });
          cols["cost_per_replica"] = column<double>(r, [](const Row& x) { return x.cost_per_replica; });
          cols["cost"] = column<double>(r, [](const Row& x) { return x.cost; });
          cols["qps_per_dollar"] = column<double>(r, [](const Row& x) { return x.qps_per_dollar; });
          cols["qps_per_gpu"] = column<double>(r, [](const Row& x) { return x.qps_per_gpu; });
          cols["qps_per_watt"] = column<double>(r, [](const Row& x) { return x.qps_per_watt; });
          cols["power_w"] = column<double>(r, [](const Row& x) { return x.power_w; });
          cols["ttft_ms"] = column<double>(r, [](const Row& x) { return x.ttft_ms; });
          cols["itl_ms"] = column<double>(r, [](const Row& x) { return x.itl_ms; });
          cols["e2e_ms"] = column<double>(r, [](const Row& x) { return x.e2e_ms; });
          cols["ttft_pct_ms"] = column<double>(r, [](const Row& x) { return x.ttft_pct_ms; });
          cols["itl_pct_ms"] = column<double>(r, [](const Row& x) { return x.itl_pct_ms; });
          cols["pareto"] = column<bool>(r, [](const Row& x) { return x.pareto; });
          return py::make_tuple(cols, result.evaluated);
        },
        py::arg("catalog"), py::arg("registry"), py::arg("models"), py::arg("accelerators"), py::arg("tensor_parallel"),
        py::arg("pipeline_parallel"), py::arg("max_num_seqs"), py::arg("max_num_batched_tokens"), py::arg("serving"),
        py::arg("rate_rps"), py::arg("in_tokens"), py::arg("out_tokens"), py::arg("arrival_cov") = 1.0,
        py::arg("in_tokens_spread") = 0.0, py::arg("slo") = std::vector<std::tuple<std::string, double, double>>{},
        py::arg("efficiency") = py::none(), py::arg("service_model") = "iteration", py::arg("per_sequence_ms") = 0.0,
        py::arg("queue_to_batch_ratio") = 10, py::arg("costs") = std::map<std::string, double>{},
        py::arg("cost_rule") = "compute", py::arg("report_percentile") = 95.0, py::arg("threads") = 1,
        "Screens the cross product of the lists; returns (columns by field, configurations that reached the queueing model).");

  s.def("pareto", [](const std::vector<double>& cost, const std::vector<double>& ttft, const std::vector<double>& itl) {
    if (cost.size() != ttft.size() || cost.size() != itl.size())
      throw InvalidArgument("pareto: cost, ttft and itl must have the same length");
    std::vector<Row> rows(cost.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (!(std::isfinite(cost[i]) && std::isfinite(ttft[i]) && std::isfinite(itl[i])))
        throw InvalidArgument("pareto: point " + std::to_string(i) + " has a value that is not a finite number");
      rows[i].feasible = true;
      rows[i].cost = cost[i];
      rows[i].ttft_pct_ms = ttft[i];
      rows[i].itl_pct_ms = itl[i];
    }
    mark_pareto(rows);
    std::vector<bool> flags;
    for (const auto& r : rows) flags.push_back(r.pareto);
    return flags;
  }, py::arg("cost"), py::arg("ttft"), py::arg("itl"), "Pareto flags of points (lower is better in all three).");
}

}  // namespace inferno::bindings::search_module

void bind_search(py::module_& core) { inferno::bindings::search_module::bind(core); }
