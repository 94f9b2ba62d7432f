#include "inferno/tuner/observation.hpp"

#include <algorithm>
#include <cmath>

#include "inferno/error.hpp"
#include "inferno/queue/analyzer.hpp"
#include "inferno/queue/limits.hpp"

namespace inferno::tuner {

const char* channel_name(Channel c) {
  switch (c) {
    case Channel::ttft: return "ttft";
    case Channel::itl: return "itl";
    case Channel::wait: return "wait";
  }
  return "ttft";
}

const char* model_error_name(ModelError e) {
  switch (e) {
    case ModelError::none: return "none";
    case ModelError::invalid_operating_point: return "invalid_operating_point";
    case ModelError::non_positive_parameter: return "non_positive_parameter";
    case ModelError::solver_failed: return "solver_failed";
    case ModelError::non_finite_output: return "non_finite_output";
  }
  return "none";
}

ModelSpec ModelSpec::named(const std::string& name) {
  ModelSpec spec;
  if (name == "prefill-decode") return spec;
  if (name == "full") {
    spec.channels = {Channel::ttft, Channel::itl, Channel::wait};
    return spec;
  }
  if (name == "decode") {
    spec.state = {"alpha", "beta"};
    spec.fixed = {{"gamma", 0.0}};
    spec.channels = {Channel::wait, Channel::itl};
    spec.zero_input_tokens = true;
    return spec;
  }
  throw InvalidArgument("unknown tuner configuration '" + name + "'; allowed: 'decode', 'prefill-decode', 'full'");
}

ModelSpec ModelSpec::named(const std::string& name, const std::string& service_model) {
  ModelSpec spec = named(name);
  spec.service_model = service_model;
  for (const auto& p : queue::find_service_model(service_model).params) {
    const bool listed = std::find(spec.state.begin(), spec.state.end(), p.name) != spec.state.end() ||
                        spec.fixed.count(p.name) > 0;
    if (!listed) spec.state.push_back(p.name);
  }
  return spec;
}

ModelSpec ModelSpec::named(const std::string& name, const std::string& service_model, const queue::ModelParams& fixed) {
  if (fixed.empty()) return named(name, service_model);
  const ModelSpec base = named(name);
  ModelSpec spec = named(name, service_model);
  std::string allowed;
  for (const auto& s : spec.state)
    if (std::find(base.state.begin(), base.state.end(), s) == base.state.end()) allowed += (allowed.empty() ? "'" : ", '") + s + "'";
  for (const auto& [key, value] : fixed) {
    const auto it = std::find(spec.state.begin(), spec.state.end(), key);
    const bool own = std::find(base.state.begin(), base.state.end(), key) != base.state.end();
    if (it == spec.state.end() || own)
      throw InvalidArgument("fixed: '" + key + "' cannot be fixed with configuration '" + name + "' on service model '" +
                            service_model + "'; allowed: " + (allowed.empty() ? "none" : allowed));
    if (!(std::isfinite(value) && value >= 0))
      throw InvalidArgument("fixed: '" + key + "' must be a finite number >= 0, got " + format_number(value));
    spec.state.erase(it);
    spec.fixed[key] = value;
  }
  return spec;
}

void ModelSpec::validate() const {
  const queue::ServiceModelInfo& info = queue::find_service_model(service_model);
  if (state.empty()) throw InvalidArgument("the tuned state must name at least one parameter");
  if (channels.empty()) throw InvalidArgument("at least one observed channel is required");
  std::string names;
  for (const auto& p : info.params) names += (names.empty() ? "'" : ", '") + p.name + "'";
  for (const auto& p : info.params) {
    int count = 0;
    for (const auto& s : state) count += s == p.name;
    count += static_cast<int>(fixed.count(p.name));
    if (count != 1)
      throw InvalidArgument("parameter '" + p.name + "' of service model '" + service_model +
                            "' must be either tuned or fixed, exactly once (parameters: " + names + ")");
  }
  for (const auto& s : state) {
    bool known = false;
    for (const auto& p : info.params) known = known || p.name == s;
    if (!known) throw InvalidArgument("unknown parameter '" + s + "' of service model '" + service_model + "'; allowed: " + names);
  }
  for (std::size_t i = 0; i < channels.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (channels[i] == channels[j]) throw InvalidArgument(std::string("channel '") + channel_name(channels[i]) + "' is listed twice");
  if (max_num_tokens < 1) require(false, "max_num_tokens", "an integer >= 1", max_num_tokens);
}

ObservationModel::ObservationModel(ModelSpec spec) : spec_(std::move(spec)) { spec_.validate(); }

namespace {
double channel_value(const Observation& o, Channel c) {
  switch (c) {
    case Channel::ttft: return o.ttft_ms;
    case Channel::itl: return o.itl_ms;
    case Channel::wait: return o.wait_ms;
  }
  return kNotGiven;
}
}  // namespace

Vector ObservationModel::observed(const Observation& obs) const {
  Vector z(obs_dim());
  for (int j = 0; j < obs_dim(); ++j) z[j] = channel_value(obs, spec_.channels[static_cast<std::size_t>(j)]);
  return z;
}

std::string ObservationModel::invalid_reason(const Observation& obs) const {
  if (!obs.problem.empty()) return obs.problem;
  const OperatingPoint& u = obs.point;
  if (!(std::isfinite(u.rate_rpm) && u.rate_rpm > 0)) return "rate_rpm must be a finite number > 0, got " + format_number(u.rate_rpm);
  if (!(std::isfinite(u.out_tokens) && u.out_tokens >= 1)) return "out_tokens must be a finite number >= 1, got " + format_number(u.out_tokens);
  if (!spec_.zero_input_tokens && !(std::isfinite(u.in_tokens) && u.in_tokens > 0))
    return "in_tokens must be a finite number > 0, got " + format_number(u.in_tokens);
  if (u.max_batch < 1) return "max_batch must be an integer >= 1, got " + std::to_string(u.max_batch);
  if (u.max_queue < 0) return "max_queue must be an integer >= 0, got " + std::to_string(u.max_queue);
  for (Channel c : spec_.channels) {
    const double v = channel_value(obs, c);
    // A wait of 0 is a valid measurement; latencies must be positive.
    const bool ok = c == Channel::wait ? std::isfinite(v) && v >= 0 : std::isfinite(v) && v > 0;
    if (!ok) return std::string(channel_name(c)) + "_ms must be a finite number " + (c == Channel::wait ? ">= 0" : "> 0") + ", got " + format_number(v);
  }
  return "";
}

namespace {
ModelError build(const ModelSpec& spec, const Vector& x, const OperatingPoint& u, queue::QueueConfig& config,
                 std::string* detail) {
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    if (!(std::isfinite(x[i]) && x[i] > 0)) {
      if (detail) *detail = spec.state[static_cast<std::size_t>(i)] + " = " + format_number(x[i]) + " is not > 0";
      return ModelError::non_positive_parameter;
    }
  }
  if (!(u.rate_rpm > 0 && u.out_tokens >= 1 && u.max_batch >= 1 && u.max_queue >= 0 &&
        u.arrival_cov >= 0 && u.arrival_cov <= queue::kMaxCov && (spec.zero_input_tokens || u.in_tokens >= 0))) {
    if (detail) *detail = "invalid operating point";
    return ModelError::invalid_operating_point;
  }
  config.service_model = spec.service_model;
  config.params = spec.fixed;
  for (Eigen::Index i = 0; i < x.size(); ++i) config.params[spec.state[static_cast<std::size_t>(i)]] = x[i];
  config.shape = queue::RequestShape{spec.zero_input_tokens ? 0.0 : u.in_tokens, u.out_tokens, spec.max_num_tokens};
  config.max_batch = u.max_batch;
  config.max_queue = u.max_queue;
  config.options.arrival_cov = u.arrival_cov;
  return ModelError::none;
}
}  // namespace

ModelError ObservationModel::evaluate(const Vector& x, const OperatingPoint& u, Vector& out, std::string* detail) const {
  queue::QueueConfig config;
  if (const ModelError e = build(spec_, x, u, config, detail); e != ModelError::none) return e;
  queue::Metrics m;
  try {
    const queue::QueueAnalyzer analyzer(config);
    m = analyzer.analyze(u.rate_rpm / 60.0);
  } catch (const std::exception& error) {
    if (detail) *detail = error.what();
    return ModelError::solver_failed;
  }
  out.resize(obs_dim());
  for (int j = 0; j < obs_dim(); ++j) {
    switch (spec_.channels[static_cast<std::size_t>(j)]) {
      case Channel::ttft: out[j] = m.ttft_ms; break;
      case Channel::itl: out[j] = m.itl_ms; break;
      case Channel::wait: out[j] = m.wait_time_ms; break;
    }
    if (!std::isfinite(out[j])) {
      if (detail) *detail = std::string(channel_name(spec_.channels[static_cast<std::size_t>(j)])) + " is not finite";
      return ModelError::non_finite_output;
    }
  }
  return ModelError::none;
}

ModelError ObservationModel::max_rate_rps(const Vector& x, const OperatingPoint& u, double& rate_rps) const {
  queue::QueueConfig config;
  if (const ModelError e = build(spec_, x, u, config, nullptr); e != ModelError::none) return e;
  try {
    rate_rps = queue::QueueAnalyzer(config).max_rate_rps() / 0.999;  // 1000·μ_N: full-batch capacity
  } catch (const std::exception&) {
    return ModelError::solver_failed;
  }
  return std::isfinite(rate_rps) ? ModelError::none : ModelError::non_finite_output;
}

}  // namespace inferno::tuner
