// Bindings of the sizing subsystem. Inputs and results cross as JSON text (the same documents as
// the CLI files, so Python and C++ agree bit for bit); the catalog, architectures and calibrations
// are opaque handles. python/inferno/sizing.py adds the DataFrames and plots.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "inferno/error.hpp"
#include "inferno/io/sizing_json.hpp"
#include "inferno/sizing/calibrate.hpp"
#include "inferno/sizing/catalog.hpp"
#include "inferno/sizing/pack.hpp"
#include "inferno/sizing/recommend.hpp"
#include "inferno/sizing/roofline.hpp"
#include "inferno/io/json.hpp"

namespace py = pybind11;
using namespace inferno::sizing;
using inferno::InvalidArgument;
using json = nlohmann::json;

namespace {

json parse(const std::string& text, const std::string& what) {
  try {
    return text.empty() ? json::object() : inferno::io::parse_json(text);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(what + ": " + e.what());
  }
}

Workload workload_of(double n, double m, int at_tokens) { return Workload{n, m, at_tokens}; }

const MigGeometry& geometry_of(const Catalog& catalog, const std::string& gpu) {
  if (!catalog.find_gpu(gpu)) (void)catalog.accelerator(gpu);  // throws, listing the known GPUs
  const MigGeometry* geo = catalog.geometry(gpu);
  if (!geo) throw InvalidArgument("GPU " + gpu + " has no MIG profiles (no migFamily in the catalog)");
  return *geo;
}

}  // namespace

void bind_sizing(py::module_& core) {
  py::module_ s = core.def_submodule("sizing", "GPU right-sizing: roofline, calibration, recommendation, packing");

  py::class_<Catalog>(s, "Catalog")
      .def(py::init<>())
      .def("merge", [](Catalog& c, const std::string& text, const std::string& source) { inferno::io::merge_catalog(c, text, source); },
           py::arg("json_text"), py::arg("source") = "")
      .def("to_json", [](const Catalog& c) { return inferno::io::catalog_to_json(c).dump(); })
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
      .def("accelerator_json", [](const Catalog& c, const std::string& name) {
        const Accelerator a = c.accelerator(name);
        return json{{"name", a.name}, {"gpu", a.gpu->id}, {"profile", a.profile ? a.profile->name : ""},
                    {"bf16TFlops", a.flops_bf16 / 1e12}, {"fp8TFlops", a.flops_fp8 / 1e12}, {"bwGBps", a.bw_Bps / 1e9},
                    {"memGiB", a.mem_bytes / kGiB}, {"units", a.units}, {"gpuUnits", a.gpu_units}, {"memSlices", a.mem_slices},
                    {"gpuMemSlices", a.gpu_mem_slices}, {"smCount", a.profile ? a.profile->sm_count : a.gpu->sm_count}}
            .dump();
      })
      .def("geometry_json", [](const Catalog& c, const std::string& gpu) { return inferno::io::geometry_to_json(geometry_of(c, gpu)).dump(); })
      .def("geometry_facts", [](const Catalog& c, const std::string& gpu) {
        const GeometryFacts f = geometry_facts(geometry_of(c, gpu));
        return json{{"profiles", f.profiles}, {"placedLayouts", f.placed_layouts}, {"multisets", f.multisets}, {"maximal", f.maximal}}.dump();
      });

  py::class_<ModelArch>(s, "ModelArch")
      .def_static("from_hf_config", [](const std::string& text, const std::string& name) { return inferno::io::arch_from_hf_config(std::string_view(text), name); },
                  py::arg("json_text"), py::arg("name") = "")
      .def_readonly("name", &ModelArch::name)
      .def_readonly("model_type", &ModelArch::model_type)
      .def("to_json", [](const ModelArch& a) { return inferno::io::arch_to_json(a, count_params(a)).dump(); });

  py::class_<Calibration>(s, "Calibration")
      .def_readonly("accepted", &Calibration::accepted)
      .def_readonly("reason", &Calibration::reason)
      .def("to_json", [](const Calibration& c) { return inferno::io::calibration_to_json(c).dump(); });

  s.def("derive", [](const ModelArch& arch, const Catalog& catalog, const std::string& accelerator, const std::string& serving,
                     const std::string& efficiency, double n, double m, int at_tokens) {
    const ServingOpts so = inferno::io::serving_from_json(parse(serving, "serving"), "serving");
    const Efficiency eff = inferno::io::efficiency_from_json(parse(efficiency, "efficiency"), "efficiency");
    return inferno::io::estimate_to_json(derive(arch, so, catalog.accelerator(accelerator), eff, workload_of(n, m, at_tokens))).dump();
  }, py::arg("arch"), py::arg("catalog"), py::arg("accelerator"), py::arg("serving") = "", py::arg("efficiency") = "",
     py::arg("n") = 1024.0, py::arg("m") = 128.0, py::arg("at_tokens") = 0);

  s.def("calibrate", [](const ModelArch& arch, const Catalog& catalog, const std::string& points, const std::string& mode,
                        const std::string& serving, const std::string& efficiency, double kappa_max, double max_rel_rms, bool pin_gamma) {
    CalibrationOptions o;
    if (mode == "theta") o.mode = CalibrationMode::theta;
    else if (mode == "family") o.mode = CalibrationMode::family;
    else throw InvalidArgument("mode: unknown \"" + mode + "\"; allowed: theta, family");
    o.kappa_max = kappa_max;
    o.max_rel_rms = max_rel_rms;
    o.pin_gamma = pin_gamma;
    const ServingOpts so = inferno::io::serving_from_json(parse(serving, "serving"), "serving");
    const Efficiency eff = inferno::io::efficiency_from_json(parse(efficiency, "efficiency"), "efficiency");
    return calibrate(arch, so, inferno::io::points_from_json(points), catalog, o, eff);
  }, py::arg("arch"), py::arg("catalog"), py::arg("points"), py::arg("mode") = "family", py::arg("serving") = "",
     py::arg("efficiency") = "", py::arg("kappa_max") = 1000.0, py::arg("max_rel_rms") = 0.15, py::arg("pin_gamma") = false);

  s.def("calibrated_theta", [](const Calibration& c, const ModelArch& arch, const Catalog& catalog, const std::string& accelerator,
                               const std::string& serving, double n, double m) {
    const ServingOpts so = inferno::io::serving_from_json(parse(serving, "serving"), "serving");
    return calibrated_theta(c, arch, so, catalog.accelerator(accelerator), Workload{n, m, 0});
  }, py::arg("calibration"), py::arg("arch"), py::arg("catalog"), py::arg("accelerator"), py::arg("serving") = "",
     py::arg("n") = 1024.0, py::arg("m") = 128.0);

  s.def("tuner_seed", [](const std::array<double, 3>& theta, double rel_rms) {
    return inferno::io::tuner_seed_to_json(tuner_seed(theta, rel_rms)).dump();
  }, py::arg("theta"), py::arg("rel_rms"));

  s.def("efficiency_from_theta", [](const ModelArch& arch, const Catalog& catalog, const std::string& accelerator,
                                    const std::array<double, 3>& theta, const std::string& current, const std::string& serving,
                                    double weight) {
    const ServingOpts so = inferno::io::serving_from_json(parse(serving, "serving"), "serving");
    const Efficiency eff = inferno::io::efficiency_from_json(parse(current, "current"), "current");
    const Efficiency out = efficiency_from_theta(arch, so, catalog.accelerator(accelerator), theta, eff, weight);
    return json{{"t0Ms", out.t0_ms}, {"etaBw", out.eta_bw}, {"etaFlops", out.eta_flops}}.dump();
  }, py::arg("arch"), py::arg("catalog"), py::arg("accelerator"), py::arg("theta"), py::arg("current") = "",
     py::arg("serving") = "", py::arg("weight") = 0.2);

  s.def("recommend", [](const std::string& request, const Catalog& catalog, std::map<std::string, ModelArch> registry,
                        const std::map<std::string, std::vector<Calibration>>& calibrations) {
    const auto req = inferno::io::recommend_request_from_json(request, registry);
    const auto recs = recommend(req.servers, catalog, registry, req.options, calibrations);
    return inferno::io::recommendation_to_json(recs, req.options).dump();
  }, py::arg("request"), py::arg("catalog"), py::arg("registry"), py::arg("calibrations"));

  s.def("emit_optimizer_data", [](const std::string& request, const Catalog& catalog, std::map<std::string, ModelArch> registry,
                                  const std::map<std::string, std::vector<Calibration>>& calibrations) {
    const auto req = inferno::io::recommend_request_from_json(request, registry);
    return inferno::io::emit_optimizer_data(req, catalog, registry, calibrations).dump();
  }, py::arg("request"), py::arg("catalog"), py::arg("registry"), py::arg("calibrations"));

  s.def("pack", [](const Catalog& catalog, const std::string& gpu, const std::string& demand, const std::string& existing,
                   bool allow_repartition, bool exact, long long node_budget) {
    PackOptions o;
    o.allow_repartition = allow_repartition;
    o.exact = exact;
    o.node_budget = node_budget;
    const auto layouts = existing.empty() ? std::vector<GpuLayout>{} : inferno::io::layouts_from_json(existing);
    return inferno::io::packing_to_json(pack(geometry_of(catalog, gpu), inferno::io::demand_from_text(demand), layouts, o)).dump();
  }, py::arg("catalog"), py::arg("gpu"), py::arg("demand"), py::arg("existing") = "", py::arg("allow_repartition") = false,
     py::arg("exact") = true, py::arg("node_budget") = 2000000LL);

  s.def("parse_nvidia_smi", [](const std::string& lgip, const std::string& lgipp, const std::string& family, int compute_slices,
                               int memory_slices) {
    return inferno::io::geometry_to_json(parse_nvidia_smi(lgip, lgipp, family, compute_slices, memory_slices)).dump();
  }, py::arg("lgip"), py::arg("lgipp"), py::arg("family"), py::arg("compute_slices") = 7, py::arg("memory_slices") = 8);
}
