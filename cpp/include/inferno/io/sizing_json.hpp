#pragma once
// JSON of the sizing subsystem: catalog files, Hugging Face configs, recommendation requests,
// profiling points, and every result (docs/sizing.md §11). Keys are case-sensitive: the documents hold
// maps keyed by model and GPU names.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "inferno/sizing/calibrate.hpp"
#include "inferno/sizing/catalog.hpp"
#include "inferno/sizing/model.hpp"
#include "inferno/sizing/pack.hpp"
#include "inferno/sizing/recommend.hpp"
#include "inferno/sizing/roofline.hpp"

namespace inferno::io {

/// Merges a catalog document ({"gpus": [...], "migFamilies": {...}}) into `catalog`: a GPU whose
/// id exists is updated field by field, a family is replaced whole. Validates the result.
void merge_catalog(sizing::Catalog& catalog, std::string_view json_text, const std::string& source);
nlohmann::json catalog_to_json(const sizing::Catalog& catalog);
nlohmann::json geometry_to_json(const sizing::MigGeometry& geometry);

/// A Hugging Face config.json (docs/sizing.md §2). Throws InvalidArgument naming the missing or
/// invalid key, and for model types whose defaults are unknown when a key is missing.
sizing::ModelArch arch_from_hf_config(std::string_view json_text, const std::string& name = "");
sizing::ModelArch arch_from_hf_config(const nlohmann::json& config, const std::string& name);
nlohmann::json arch_to_json(const sizing::ModelArch& arch, const sizing::Counts& counts);

/// Serving options ("serving" object of a server) over `base`; efficiency likewise.
sizing::ServingOpts serving_from_json(const nlohmann::json& object, const std::string& where, sizing::ServingOpts base = {});
sizing::Efficiency efficiency_from_json(const nlohmann::json& object, const std::string& where, sizing::Efficiency base = {});

/// A recommendation request (docs/sizing.md §5): servers, menu, costs, slice cost rule, capacity,
/// efficiency, and optional inline "models" (name → HF config) added to `registry`.
struct RecommendRequest {
  std::vector<sizing::ServerSpec> servers;
  sizing::RecommendOptions options;
  std::map<std::string, int> capacity;  // GPUs per type (for the emitted capacity-data)
};
RecommendRequest recommend_request_from_json(std::string_view json_text, sizing::ModelRegistry& registry);

/// Profiling points document ({"points": [...]}).
std::vector<sizing::ProfilePoint> points_from_json(std::string_view json_text);
/// Slice demand "3g.40gb=3,1g.10gb=5" or a JSON object/array; existing layouts as JSON.
std::vector<sizing::SliceDemand> demand_from_text(std::string_view text);
std::vector<sizing::GpuLayout> layouts_from_json(std::string_view json_text);

nlohmann::json estimate_to_json(const sizing::Estimate& e);
nlohmann::json calibration_to_json(const sizing::Calibration& c);
/// The recommendation, with what the choices need of each type that has a capacity.
nlohmann::json recommendation_to_json(const std::vector<sizing::ServerRecommendation>& recs,
                                      const sizing::RecommendOptions& options);
nlohmann::json packing_to_json(const sizing::Packing& p);
nlohmann::json tuner_seed_to_json(const sizing::TunerSeed& s);

/// Optimizer inputs for slices and whole GPUs (docs/sizing.md §8): {"accelerators", "count",
/// "models", "serviceClasses", "servers", "notes"}, each usable as a document of `inferno optimize`.
/// Closed-loop servers have no arrival rate and are listed in "notes" instead of "servers".
nlohmann::json emit_optimizer_data(const RecommendRequest& request, const sizing::Catalog& catalog,
                                   const sizing::ModelRegistry& registry, const sizing::CalibrationStore& calibrations = {});

}  // namespace inferno::io
