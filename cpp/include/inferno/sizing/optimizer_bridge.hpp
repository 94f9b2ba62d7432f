#pragma once
// Sizing to optimizer (docs/sizing.md §8): the documents `inferno optimize` reads, made from a
// sizing request, with MIG slices as accelerators of their GPU type.
#include <nlohmann/json.hpp>

#include "inferno/sizing/calibrate.hpp"
#include "inferno/sizing/catalog.hpp"
#include "inferno/sizing/recommend.hpp"

namespace inferno::sizing {

/// Optimizer inputs for slices and whole GPUs: {"accelerators", "count", "models", "serviceClasses",
/// "servers", "optimizer", "notes"}, each usable as a document of `inferno optimize`; the options
/// make the optimizer size replicas as the recommendation did (the same sizer, docs/sizing.md §8). Closed-loop servers have no
/// arrival rate and are listed in "notes" instead of "servers".
nlohmann::json emit_optimizer_data(const RecommendRequest& request, const Catalog& catalog, const ModelRegistry& registry,
                                   const CalibrationStore& calibrations = {});

}  // namespace inferno::sizing
