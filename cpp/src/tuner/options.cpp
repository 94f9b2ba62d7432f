#include "inferno/tuner/options.hpp"

#include <algorithm>

#include "inferno/error.hpp"

namespace inferno::tuner {

namespace {

// Each setter takes the value in the kind its option declares (the binding converted it).
#define FILTER_NUMBER(field) \
  {#field, OptionKind::number, [](TunerConfig& c, const OptionValue& v) { c.filter.field = std::get<double>(v); }}
#define FILTER_VECTOR(field) \
  {#field, OptionKind::vector, [](TunerConfig& c, const OptionValue& v) { c.filter.field = std::get<Vector>(v); }}
#define CONFIG_INTEGER(field) \
  {#field, OptionKind::integer, [](TunerConfig& c, const OptionValue& v) { c.field = std::get<int>(v); }}
#define CONFIG_NUMBER(field) \
  {#field, OptionKind::number, [](TunerConfig& c, const OptionValue& v) { c.field = std::get<double>(v); }}
#define CONFIG_FLAG(field) \
  {#field, OptionKind::flag, [](TunerConfig& c, const OptionValue& v) { c.field = std::get<bool>(v); }}

std::vector<TunerOption> make_options() {
  std::vector<TunerOption> options = {
      FILTER_NUMBER(error_level), FILTER_NUMBER(t_percentile), FILTER_NUMBER(gamma_factor),
      FILTER_NUMBER(sigma_abs_ms), FILTER_NUMBER(sigma_min), FILTER_NUMBER(sigma_max),
      FILTER_NUMBER(gate_probability), FILTER_NUMBER(nis_threshold), FILTER_NUMBER(throughput_ratio),
      FILTER_NUMBER(concurrency_ratio), FILTER_NUMBER(rate_ratio), FILTER_NUMBER(saturation_weight),
      FILTER_NUMBER(jacobian_rel_step), FILTER_NUMBER(jacobian_floor_factor),
      FILTER_VECTOR(init_state), FILTER_VECTOR(percent_change), FILTER_VECTOR(initial_change),
      FILTER_VECTOR(min_state), FILTER_VECTOR(max_state), FILTER_VECTOR(expected_observations),
      {"adaptive_window", OptionKind::integer,
       [](TunerConfig& c, const OptionValue& v) { c.filter.adaptive_window = std::get<int>(v); }},
      {"parameterization", OptionKind::name,
       [](TunerConfig& c, const OptionValue& v) { c.filter.parameterization = parse_parameterization(std::get<std::string>(v)); }},
      {"noise", OptionKind::name,
       [](TunerConfig& c, const OptionValue& v) { c.filter.noise = parse_noise_mode(std::get<std::string>(v)); }},
      {"process_noise", OptionKind::name,
       [](TunerConfig& c, const OptionValue& v) { c.filter.process_noise = parse_process_noise(std::get<std::string>(v)); }},
      {"saturation", OptionKind::name,
       [](TunerConfig& c, const OptionValue& v) { c.filter.saturation = parse_saturation_policy(std::get<std::string>(v)); }},
      {"mode", OptionKind::name,
       [](TunerConfig& c, const OptionValue& v) { c.mode = parse_estimator_mode(std::get<std::string>(v)); }},
      {"guess_form", OptionKind::name,
       [](TunerConfig& c, const OptionValue& v) { c.guess_form = parse_guess_form(std::get<std::string>(v)); }},
      CONFIG_INTEGER(init_obs), CONFIG_INTEGER(warm_up_cycles), CONFIG_INTEGER(window_size),
      CONFIG_INTEGER(init_list_cap), CONFIG_INTEGER(max_per_cycle), CONFIG_INTEGER(lockout_rejections),
      CONFIG_NUMBER(residual_threshold), CONFIG_NUMBER(init_fit_threshold), CONFIG_NUMBER(kappa_max),
      CONFIG_FLAG(hold_back), CONFIG_FLAG(all_replicas), CONFIG_FLAG(anchored_bounds), CONFIG_FLAG(seeded_guess),
      {"start", OptionKind::optional_vector,
       [](TunerConfig& c, const OptionValue& v) {
         const Vector& x = std::get<Vector>(v);
         if (x.size() == 0) c.start.reset();
         else c.start = x;
       }},
  };
  std::sort(options.begin(), options.end(), [](const TunerOption& a, const TunerOption& b) { return a.name < b.name; });
  return options;
}

#undef FILTER_NUMBER
#undef FILTER_VECTOR
#undef CONFIG_INTEGER
#undef CONFIG_NUMBER
#undef CONFIG_FLAG

}  // namespace

const std::vector<TunerOption>& tuner_options() {
  static const std::vector<TunerOption> options = make_options();
  return options;
}

std::string tuner_option_names() {
  std::string names;
  for (const auto& o : tuner_options()) names += (names.empty() ? "" : ", ") + o.name;
  return names;
}

void set_tuner_option(TunerConfig& config, const std::string& name, const OptionValue& value) {
  const TunerOption& option = tuner_option(name);
  static const char* const kinds[] = {"True or False", "an integer", "a number", "a string",
                                      "a sequence of numbers", "a sequence of numbers or None"};
  const auto wanted = static_cast<std::size_t>(option.kind);
  bool matches = false;
  switch (option.kind) {
    case OptionKind::flag: matches = std::holds_alternative<bool>(value); break;
    case OptionKind::integer: matches = std::holds_alternative<int>(value); break;
    case OptionKind::number: matches = std::holds_alternative<double>(value) || std::holds_alternative<int>(value); break;
    case OptionKind::name: matches = std::holds_alternative<std::string>(value); break;
    case OptionKind::vector:
    case OptionKind::optional_vector: matches = std::holds_alternative<Vector>(value); break;
  }
  if (!matches) throw InvalidArgument(name + " must be " + kinds[wanted]);
  if (option.kind == OptionKind::number && std::holds_alternative<int>(value))
    option.set(config, static_cast<double>(std::get<int>(value)));
  else
    option.set(config, value);
}

const TunerOption& tuner_option(const std::string& name) {
  for (const auto& o : tuner_options())
    if (o.name == name) return o;
  throw InvalidArgument("unknown tuner option '" + name + "'; allowed: " + tuner_option_names());
}

}  // namespace inferno::tuner
