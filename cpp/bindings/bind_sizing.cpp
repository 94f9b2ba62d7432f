// Bindings of the sizing subsystem. Documents cross as values, dicts and lists (the same documents
// as the CLI files, read by the same readers); the catalog, architectures and calibrations are
// opaque handles. python/inferno/sizing.py adds the DataFrames and plots.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "document_arg.hpp"
#include "inferno/error.hpp"
#include "inferno/io/sizing_json.hpp"
#include "inferno/sizing/calibrate.hpp"
#include "inferno/sizing/catalog.hpp"
#include "inferno/sizing/optimizer_bridge.hpp"
#include "inferno/sizing/pack.hpp"
#include "inferno/sizing/recommend.hpp"
#include "inferno/sizing/roofline.hpp"
#include "inferno/io/json.hpp"

namespace py = pybind11;
// The file's names live in a namespace of its own (the using-directive too), so a unity build can
// compile it in one unit with the other bindings.
namespace inferno::bindings::sizing_module {
using namespace inferno::sizing;
using inferno::InvalidArgument;
using json = nlohmann::json;

namespace {

// A document argument: None is an empty object; keys are case-sensitive in sizing documents.
json parse(const py::object& value, const std::string& what) { return inferno::bindings::sizing_document(value, what); }

// Results cross as Python values (dicts and lists).
py::object to_python(const json& value) { return pyjson::from_json(value); }

Workload workload_of(double n, double m, int at_tokens) { return Workload{n, m, at_tokens}; }

const MigGeometry& geometry_of(const Catalog& catalog, const std::string& gpu) {
  if (!catalog.find_gpu(gpu)) (void)catalog.accelerator(gpu);  // throws, listing the known GPUs
  const MigGeometry* geo = catalog.geometry(gpu);
  if (!geo) throw InvalidArgument("GPU " + gpu + " has no MIG profiles (no migFamily in the catalog)");
  return *geo;
}

}  // namespace

void bind(py::module_& core) {
  py::module_ s = core.def_submodule("sizing", "GPU right-sizing: roofline, calibration, recommendation, packing");

  py::class_<Catalog>(s, "Catalog")
      .def(py::init<>())
      .def("merge", [](Catalog& c, const py::object& document, const std::string& source) {
             inferno::io::merge_catalog_document(c, parse(document, source.empty() ? "catalog" : source), source);
           }, py::arg("document"), py::arg("source") = "")
      .def("to_dict", [](const Catalog& c) { return to_python(inferno::io::catalog_to_json(c)); })
      .def("gpu_ids", [](const Catalog& c) {
        std::vector<std::string> ids;
        for (const auto& g : c.gpus()) ids.push_back(g.id);
        return ids;
      })
      .def("candidates", [](const Catalog& c, const std::vector<std::string>& gpus, bool slices, bool exclude_media) {
        std::vector<std::string> names;
        for (const auto& a : c.candidates(Menu{gpus, slices, exclude_media})) names.push_back(a.name);
        return names;
      }, py::arg("gpus"), py::arg("include_slices") = true, py::arg("exclude_media") = true)
      .def("accelerator", [](const Catalog& c, const std::string& name) {
        const Accelerator a = c.accelerator(name);
        return to_python(json{{"name", a.name}, {"gpu", a.gpu->id}, {"profile", a.profile ? a.profile->name : ""},
                    {"bf16TFlops", a.flops_bf16 / 1e12}, {"fp8TFlops", a.flops_fp8 / 1e12}, {"bwGBps", a.bw_Bps / 1e9},
                    {"memGiB", a.mem_bytes / kGiB}, {"units", a.units}, {"gpuUnits", a.gpu_units}, {"memSlices", a.mem_slices},
                    {"gpuMemSlices", a.gpu_mem_slices}, {"smCount", a.profile ? a.profile->sm_count : a.gpu->sm_count}});
      })
      .def("geometry", [](const Catalog& c, const std::string& gpu) { return to_python(inferno::io::geometry_to_json(geometry_of(c, gpu))); })
      .def("geometry_facts", [](const Catalog& c, const std::string& gpu) {
        const GeometryFacts f = geometry_facts(geometry_of(c, gpu));
        return to_python(json{{"profiles", f.profiles}, {"placedLayouts", f.placed_layouts}, {"multisets", f.multisets}, {"maximal", f.maximal}});
      });

  py::class_<ModelArch>(s, "ModelArch")
      .def_static("from_hf_config", [](const py::object& config, const std::string& name) {
                    return inferno::io::arch_from_hf_config(parse(config, "config"), name);
                  }, py::arg("config"), py::arg("name") = "")
      .def_readonly("name", &ModelArch::name)
      .def_readonly("model_type", &ModelArch::model_type)
      .def("to_dict", [](const ModelArch& a) { return to_python(inferno::io::arch_to_json(a, count_params(a))); });

  py::class_<Calibration>(s, "Calibration")
      .def_readonly("accepted", &Calibration::accepted)
      .def_readonly("reason", &Calibration::reason)
      .def("to_dict", [](const Calibration& c) { return to_python(inferno::io::calibration_to_json(c)); });

  s.def("derive", [](const ModelArch& arch, const Catalog& catalog, const std::string& accelerator, const py::object& serving,
                     const py::object& efficiency, double n, double m, int at_tokens) {
    const ServingOpts so = inferno::io::serving_from_json(parse(serving, "serving"), "serving");
    const Efficiency eff = inferno::io::efficiency_from_json(parse(efficiency, "efficiency"), "efficiency");
    return to_python(inferno::io::estimate_to_json(derive(arch, so, catalog.accelerator(accelerator), eff, workload_of(n, m, at_tokens))));
  }, py::arg("arch"), py::arg("catalog"), py::arg("accelerator"), py::arg("serving") = py::none(), py::arg("efficiency") = py::none(),
     py::arg("n") = 1024.0, py::arg("m") = 128.0, py::arg("at_tokens") = 0);

  s.def("calibrate", [](const ModelArch& arch, const Catalog& catalog, const py::object& points, const std::string& mode,
                        const py::object& serving, const py::object& efficiency, double kappa_max, double max_rel_rms, bool pin_gamma) {
    CalibrationOptions o;
    const auto calibration_mode = inferno::find_enum(kCalibrationModes, mode);
    if (!calibration_mode)
      throw InvalidArgument("mode: unknown \"" + mode + "\"; allowed: " + inferno::enum_names(kCalibrationModes, ""));
    o.mode = *calibration_mode;
    o.kappa_max = kappa_max;
    o.max_rel_rms = max_rel_rms;
    o.pin_gamma = pin_gamma;
    const ServingOpts so = inferno::io::serving_from_json(parse(serving, "serving"), "serving");
    const Efficiency eff = inferno::io::efficiency_from_json(parse(efficiency, "efficiency"), "efficiency");
    return calibrate(arch, so, inferno::io::points_from_document(parse(points, "points")), catalog, o, eff);
  }, py::arg("arch"), py::arg("catalog"), py::arg("points"), py::arg("mode") = "family", py::arg("serving") = py::none(),
     py::arg("efficiency") = py::none(), py::arg("kappa_max") = 1000.0, py::arg("max_rel_rms") = 0.15, py::arg("pin_gamma") = false);

  s.def("calibrated_theta", [](const Calibration& c, const ModelArch& arch, const Catalog& catalog, const std::string& accelerator,
                               const py::object& serving, double n, double m) {
    const ServingOpts so = inferno::io::serving_from_json(parse(serving, "serving"), "serving");
    return calibrated_theta(c, arch, so, catalog.accelerator(accelerator), Workload{n, m, 0});
  }, py::arg("calibration"), py::arg("arch"), py::arg("catalog"), py::arg("accelerator"), py::arg("serving") = py::none(),
     py::arg("n") = 1024.0, py::arg("m") = 128.0);

  s.def("tuner_seed", [](const std::array<double, 3>& theta, double rel_rms) {
    return to_python(inferno::io::tuner_seed_to_json(tuner_seed(theta, rel_rms)));
  }, py::arg("theta"), py::arg("rel_rms"));

  s.def("efficiency_from_theta", [](const ModelArch& arch, const Catalog& catalog, const std::string& accelerator,
                                    const std::array<double, 3>& theta, const py::object& current, const py::object& serving,
                                    double weight) {
    const ServingOpts so = inferno::io::serving_from_json(parse(serving, "serving"), "serving");
    const Efficiency eff = inferno::io::efficiency_from_json(parse(current, "current"), "current");
    const Efficiency out = efficiency_from_theta(arch, so, catalog.accelerator(accelerator), theta, eff, weight);
    return to_python(json{{"t0Ms", out.t0_ms}, {"etaBw", out.eta_bw}, {"etaFlops", out.eta_flops}});
  }, py::arg("arch"), py::arg("catalog"), py::arg("accelerator"), py::arg("theta"), py::arg("current") = py::none(),
     py::arg("serving") = py::none(), py::arg("weight") = 0.2);

  s.def("recommend", [](const py::object& request, const Catalog& catalog, std::map<std::string, ModelArch> registry,
                        const std::map<std::string, std::vector<Calibration>>& calibrations) {
    const auto req = inferno::io::recommend_request_from_document(parse(request, "request"), registry);
    const auto recs = recommend(req.servers, catalog, registry, req.options, calibrations);
    return to_python(inferno::io::recommendation_to_json(recs, req.options));
  }, py::arg("request"), py::arg("catalog"), py::arg("registry"), py::arg("calibrations"));

  s.def("emit_optimizer_data", [](const py::object& request, const Catalog& catalog, std::map<std::string, ModelArch> registry,
                                  const std::map<std::string, std::vector<Calibration>>& calibrations) {
    const auto req = inferno::io::recommend_request_from_document(parse(request, "request"), registry);
    return to_python(inferno::sizing::emit_optimizer_data(req, catalog, registry, calibrations));
  }, py::arg("request"), py::arg("catalog"), py::arg("registry"), py::arg("calibrations"));

  s.def("pack", [](const Catalog& catalog, const std::string& gpu, const py::object& demand, const py::object& existing,
                   bool allow_repartition, bool exact, long long node_budget) {
    PackOptions o;
    o.allow_repartition = allow_repartition;
    o.exact = exact;
    o.node_budget = node_budget;
    // The compact form "3g.40gb=3,1g.10gb=5" is the command line's; a dict or list is the document.
    const auto demands = py::isinstance<py::str>(demand) ? inferno::io::demand_from_text(demand.cast<std::string>())
                                                         : inferno::io::demand_from_document(parse(demand, "demand"));
    const auto layouts = existing.is_none() ? std::vector<GpuLayout>{} : inferno::io::layouts_from_document(parse(existing, "existing"));
    return to_python(inferno::io::packing_to_json(pack(geometry_of(catalog, gpu), demands, layouts, o)));
  }, py::arg("catalog"), py::arg("gpu"), py::arg("demand"), py::arg("existing") = py::none(), py::arg("allow_repartition") = false,
     py::arg("exact") = true, py::arg("node_budget") = 2000000LL);

  s.def("parse_nvidia_smi", [](const std::string& lgip, const std::string& lgipp, const std::string& family, int compute_slices,
                               int memory_slices) {
    return to_python(inferno::io::geometry_to_json(parse_nvidia_smi(lgip, lgipp, family, compute_slices, memory_slices)));
  }, py::arg("lgip"), py::arg("lgipp"), py::arg("family"), py::arg("compute_slices") = 7, py::arg("memory_slices") = 8);
}

}  // namespace inferno::bindings::sizing_module

void bind_sizing(py::module_& core) { inferno::bindings::sizing_module::bind(core); }
