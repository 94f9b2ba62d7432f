#pragma once
// JSON of the sizing subsystem: catalog files, Hugging Face configs, recommendation requests,
// profiling points, and every result (docs/sizing.md §11). Keys are case-sensitive: the documents hold
// maps keyed by model and GPU names.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "inferno/io/schema.hpp"

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
void merge_catalog_document(sizing::Catalog& catalog, const nlohmann::json& document, const std::string& source);
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

/// A recommendation request (docs/sizing.md §5), with optional inline "models" (name → HF config)
/// added to `registry`.
sizing::RecommendRequest recommend_request_from_json(std::string_view json_text, sizing::ModelRegistry& registry);
sizing::RecommendRequest recommend_request_from_document(const nlohmann::json& document, sizing::ModelRegistry& registry);

/// The formats of a sizing request and of its serving and efficiency objects (docs/schemas.md):
/// the reader's known keys come from them, and the published schema is generated from them.
/// Keys are case-sensitive in these documents.
const Field& serving_format();
const Field& efficiency_format();
const Field& recommend_request_format();
/// A GPU catalog (merge_catalog): GPUs by id and MIG families by name; the reader takes its keys
/// from it and Catalog::validate enforces the same ranges (tests probe both).
const Field& catalog_format();
/// Profiling points (points_from_document): a list, or {"points": [...]}; the format is the object form.
const Field& profile_points_format();
/// One entry of a MIG demand list ({profile, count, owner}) and of an existing layout's slices.
const Field& demand_entry_format();
const Field& placed_slice_format();

/// Profiling points document ({"points": [...]}).
std::vector<sizing::ProfilePoint> points_from_json(std::string_view json_text);
std::vector<sizing::ProfilePoint> points_from_document(const nlohmann::json& document);
/// Slice demand "3g.40gb=3,1g.10gb=5" or a JSON object/array; existing layouts as JSON.
std::vector<sizing::SliceDemand> demand_from_text(std::string_view text);
std::vector<sizing::SliceDemand> demand_from_document(const nlohmann::json& document);
std::vector<sizing::GpuLayout> layouts_from_json(std::string_view json_text);
std::vector<sizing::GpuLayout> layouts_from_document(const nlohmann::json& document);

nlohmann::json estimate_to_json(const sizing::Estimate& e);
nlohmann::json calibration_to_json(const sizing::Calibration& c);
/// The recommendation, with what the choices need of each type that has a capacity.
nlohmann::json recommendation_to_json(const std::vector<sizing::ServerRecommendation>& recs,
                                      const sizing::RecommendOptions& options);
nlohmann::json packing_to_json(const sizing::Packing& p);
nlohmann::json tuner_seed_to_json(const sizing::TunerSeed& s);

}  // namespace inferno::io
