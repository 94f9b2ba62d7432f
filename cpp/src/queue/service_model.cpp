#include "inferno/queue/service_model.hpp"

#include <cmath>

#include "inferno/error.hpp"
#include "inferno/queue/limits.hpp"

namespace inferno::queue {

#define INFERNO_SERVICE_MODEL(NAME) ServiceModelInfo NAME##_model_info();
#include "models/models.def"
#undef INFERNO_SERVICE_MODEL

const std::vector<ServiceModelInfo>& service_models() {
  // Immutable table built once; read-only after construction, so safe to share across threads.
  static const std::vector<ServiceModelInfo> table = {
#define INFERNO_SERVICE_MODEL(NAME) NAME##_model_info(),
#include "models/models.def"
#undef INFERNO_SERVICE_MODEL
  };
  return table;
}

std::string service_model_names(char quote) {
  std::string names;
  for (const auto& info : service_models())
    names += (names.empty() ? "" : ", ") + std::string(1, quote) + info.name + quote;
  return names;
}

namespace {

std::string param_names(const ServiceModelInfo& info) {
  std::string names;
  for (const auto& p : info.params) names += (names.empty() ? "" : ", ") + p.name;
  return names;
}
}  // namespace

const ServiceModelInfo& find_service_model(const std::string& name) {
  for (const auto& info : service_models())
    if (info.name == name) return info;
  throw InvalidArgument("unknown service model '" + name + "'; allowed: " + service_model_names());
}

void validate_request_shape(const RequestShape& shape) {
  require_finite_in("in_tokens", shape.in_tokens, 0.0, false, kMaxTokens);
  require_finite_in("out_tokens", shape.out_tokens, 1.0, false, kMaxTokens);
  require(shape.max_num_tokens >= 1, "max_num_tokens", "an integer >= 1", shape.max_num_tokens);
}

std::shared_ptr<const ServiceModel> make_service_model(const std::string& name,
                                                       const ModelParams& params,
                                                       const RequestShape& shape, int max_batch) {
  const ServiceModelInfo& info = find_service_model(name);
  require(max_batch >= 1 && max_batch <= kMaxBatchLimit, "max_batch",
          "an integer in [1, " + std::to_string(kMaxBatchLimit) + "]", max_batch);
  for (const auto& [key, value] : params) {
    bool known = false;
    for (const auto& spec : info.params) known = known || spec.name == key;
    if (!known)
      throw InvalidArgument("unknown parameter '" + key + "' for service model '" + name +
                            "'; allowed: " + param_names(info));
  }
  for (const auto& spec : info.params) {
    const auto it = params.find(spec.name);
    if (it == params.end())
      throw InvalidArgument("missing parameter '" + spec.name + "' (" + spec.description + ", " +
                            spec.unit + ") for service model '" + name + "'; required: " +
                            param_names(info));
    require_finite_in(spec.name, it->second, spec.lower, spec.lower_strict, spec.upper);
  }
  if (info.uses_request_shape) validate_request_shape(shape);
  return info.make(params, shape, max_batch);
}

}  // namespace inferno::queue
