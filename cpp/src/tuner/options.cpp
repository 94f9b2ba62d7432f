#include "inferno/tuner/options.hpp"

#include <algorithm>
#include <type_traits>

#include "inferno/enum_names.hpp"
#include "inferno/error.hpp"
#include "inferno/io/reader.hpp"

namespace inferno::tuner {

namespace {

// One option being defined: kind, setter and getter from the macros below, then its range and doc.
struct Def {
  TunerOption o;
  Def& range(std::optional<double> lower, std::optional<double> upper, bool lower_open = false, bool upper_open = false) {
    o.lower = lower;
    o.upper = upper;
    o.lower_open = lower_open;
    o.upper_open = upper_open;
    return *this;
  }
  Def& per(OptionScope scope) {
    o.scope = scope;
    return *this;
  }
  template <class E, std::size_t N>
  Def& names(const EnumName<E> (&table)[N]) {
    o.choices = enum_name_list(table);
    return *this;
  }
  Def& checked_last() {
    o.checked_last = true;
    return *this;
  }
  Def& filter_part() {
    o.in_filter = true;
    return *this;
  }
  Def& doc(std::string text) {
    o.doc = std::move(text);
    return *this;
  }
};

Def def(const char* name, OptionKind kind, void (*set)(TunerConfig&, const OptionValue&),
        OptionValue (*get)(const TunerConfig&)) {
  Def d;
  d.o.name = name;
  d.o.kind = kind;
  d.o.set = set;
  d.o.get = get;
  return d;
}

// Each setter takes the value in the kind its option declares (the binding converted it).
#define FILTER_NUMBER(field)                                                                                      \
  def(#field, OptionKind::number, [](TunerConfig& c, const OptionValue& v) { c.filter.field = std::get<double>(v); }, \
       [](const TunerConfig& c) -> OptionValue { return c.filter.field; }).filter_part()
#define FILTER_VECTOR(field)                                                                                      \
  def(#field, OptionKind::vector, [](TunerConfig& c, const OptionValue& v) { c.filter.field = std::get<Vector>(v); }, \
       [](const TunerConfig& c) -> OptionValue { return c.filter.field; }).filter_part()
#define CONFIG_INTEGER(field)                                                                                   \
  def(#field, OptionKind::integer, [](TunerConfig& c, const OptionValue& v) { c.field = std::get<int>(v); }, \
       [](const TunerConfig& c) -> OptionValue { return c.field; })
#define CONFIG_NUMBER(field)                                                                                   \
  def(#field, OptionKind::number, [](TunerConfig& c, const OptionValue& v) { c.field = std::get<double>(v); }, \
       [](const TunerConfig& c) -> OptionValue { return c.field; })
#define CONFIG_FLAG(field)                                                                                  \
  def(#field, OptionKind::flag, [](TunerConfig& c, const OptionValue& v) { c.field = std::get<bool>(v); }, \
       [](const TunerConfig& c) -> OptionValue { return c.field; })
#define NAMED(field, member, parse, table)                                                                    \
  def(#field, OptionKind::name, [](TunerConfig& c, const OptionValue& v) { c.member = parse(std::get<std::string>(v)); }, \
       [](const TunerConfig& c) -> OptionValue { return std::string(enum_name(table, c.member)); })                \
      .names(table)

// The ranges: inside them the filter's arithmetic stays finite, and the counts bound the lists they
// size (docs/tuner.md, "Option ranges"). validate() checks them through check_option_ranges.
std::vector<TunerOption> make_options() {
  constexpr double kHeld = kMaxHeldObservations;
  const std::vector<Def> defs = {
      CONFIG_INTEGER(init_obs).range(1, kHeld).doc("observations collected before the cold-start fit"),
      CONFIG_INTEGER(warm_up_cycles).range(0, 1e9).doc("stored cycles with the gate skipped"),
      CONFIG_FLAG(hold_back).doc("`warming_up` is true during collection"),
      FILTER_NUMBER(gate_probability).range(0, 1, true, true).doc("gate level: the χ² quantile used as NIS threshold"),
      FILTER_NUMBER(nis_threshold).range(0, 1e6).doc("a fixed gate threshold; > 0 wins over `gate_probability`"),
      NAMED(noise, filter.noise, parse_noise_mode, kNoiseModes).doc("observation-noise model (2.5)"),
      FILTER_NUMBER(error_level).range(0, 1e6, true).doc(
          "σ_rel = error_level/(t_percentile·√gamma_factor), which must lie in [1e-6, 100]"),
      FILTER_NUMBER(t_percentile).range(0, 1e6, true).doc("see `error_level`"),
      FILTER_NUMBER(gamma_factor).range(0, 1e6, true).doc("see `error_level`"),
      FILTER_NUMBER(sigma_abs_ms).range(0, kMaxLatencyMs, true).doc("floor of σ in relative mode, ms"),
      FILTER_VECTOR(expected_observations).per(OptionScope::per_channel).range(0, kMaxLatencyMs, true)
          .doc("ẑ in ms for `noise=\"expected\"`"),
      def("adaptive_window", OptionKind::integer,
           [](TunerConfig& c, const OptionValue& v) { c.filter.adaptive_window = std::get<int>(v); },
           [](const TunerConfig& c) -> OptionValue { return c.filter.adaptive_window; })
          .range(1, 1e6).filter_part().doc("averaging window of the adaptive noise"),
      FILTER_NUMBER(sigma_min).range(0, kMaxRelativeNoise, true).doc("lower clamp of the adaptive σ_rel"),
      FILTER_NUMBER(sigma_max).range(std::nullopt, kMaxRelativeNoise).doc("upper clamp of the adaptive σ_rel"),
      FILTER_VECTOR(percent_change).per(OptionScope::per_parameter).range(0, kMaxRelativeChange, true)
          .doc("relative Q per cycle"),
      FILTER_VECTOR(initial_change).per(OptionScope::per_parameter).range(0, kMaxRelativeChange, true).doc("relative P0"),
      FILTER_VECTOR(init_state).per(OptionScope::per_parameter).checked_last().range(0, kMaxParameterValue, true)
          .doc("initial state and cold-start seed"),
      FILTER_VECTOR(min_state).per(OptionScope::per_parameter).range(0, kMaxParameterValue, true)
          .doc("configured lower bounds, ≤ `max_state`"),
      FILTER_VECTOR(max_state).per(OptionScope::per_parameter).range(0, kMaxParameterValue, true)
          .doc("configured upper bounds"),
      def("start", OptionKind::optional_vector,
           [](TunerConfig& c, const OptionValue& v) {
             const Vector& x = std::get<Vector>(v);
             if (x.size() == 0) c.start.reset();
             else c.start = x;
           },
           [](const TunerConfig& c) -> OptionValue { return c.start.value_or(Vector()); })
          .per(OptionScope::per_parameter).range(0, kMaxParameterValue, true).checked_last()
          .doc("a known starting point (the `init` argument): no cold start"),
      NAMED(parameterization, filter.parameterization, parse_parameterization, kParameterizations)
          .doc("the filter's state (2.4)"),
      NAMED(process_noise, filter.process_noise, parse_process_noise, kProcessNoises).doc("when Q is added (2.10)"),
      NAMED(saturation, filter.saturation, parse_saturation_policy, kSaturationPolicies)
          .doc("saturated observations (2.9)"),
      FILTER_NUMBER(throughput_ratio).range(0, 1, true).doc("saturation signal 2"),
      FILTER_NUMBER(concurrency_ratio).range(0, 1, true).doc("saturation signal 3"),
      FILTER_NUMBER(rate_ratio).range(0, 1, true).doc("saturation signal 4"),
      FILTER_NUMBER(saturation_weight).range(1, 1e6).doc("R multiplier of `downweight`"),
      FILTER_NUMBER(jacobian_rel_step).range(0, 0.5, true, true).doc("central-difference step (2.2)"),
      FILTER_NUMBER(jacobian_floor_factor).range(0, 1, true).doc("step floor as a fraction of the seed, linear parameters"),
      CONFIG_NUMBER(kappa_max).range(0, std::nullopt).doc("identifiability threshold (0 disables the guard)"),
      NAMED(mode, mode, parse_estimator_mode, kEstimatorModes).doc("estimator (3.7)"),
      CONFIG_INTEGER(window_size).range(1, kHeld).doc("observations in the sliding window"),
      CONFIG_NUMBER(residual_threshold).doc("window's outlier pass (≤ 0 disables it)"),
      CONFIG_NUMBER(init_fit_threshold).range(0, std::nullopt).doc("window's EKF fallback (0 disables it)"),
      CONFIG_INTEGER(lockout_rejections).range(0, 1e9).doc("consecutive gate rejections before recovery (0 = off)"),
      CONFIG_INTEGER(max_per_cycle).range(1, 1e6).doc("cold-start feed per cycle"),
      CONFIG_INTEGER(init_list_cap).range(0, kHeld).doc("cold-start list length (0 = unbounded, the reference's behaviour)"),
      CONFIG_FLAG(all_replicas).doc("every usable replica feeds the cold start"),
      CONFIG_FLAG(anchored_bounds).doc("bounds anchored at the configuration (3.2)"),
      CONFIG_FLAG(seeded_guess).doc("`init_state` seeds the cold-start guess (3.1)"),
      NAMED(guess_form, guess_form, parse_guess_form, kGuessForms).doc("guess variant (3.1)"),
  };
  std::vector<TunerOption> options;
  for (const Def& d : defs) options.push_back(d.o);
  for (TunerOption& o : options)
    if (o.name == "sigma_max") {
      o.lower_option = "sigma_min";
      o.checked_last = true;
    }
  std::sort(options.begin(), options.end(), [](const TunerOption& a, const TunerOption& b) { return a.name < b.name; });
  return options;
}

#undef FILTER_NUMBER
#undef FILTER_VECTOR
#undef CONFIG_INTEGER
#undef CONFIG_NUMBER
#undef CONFIG_FLAG
#undef NAMED

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

namespace {

// The format of one value of an option (an entry, for a vector), named `key`.
io::Field value_field(const TunerOption& o, const std::string& key) {
  io::Field f = o.kind == OptionKind::integer ? io::integer(key, o.doc) : io::number(key, o.doc);
  f.minimum.reset();
  f.maximum.reset();
  if (o.lower) f.at_least(*o.lower, o.lower_open);
  if (o.upper) f.at_most(*o.upper, o.upper_open);
  return f;
}

void check(const io::Field& f, double v) {
  const std::string problem = io::range_problem(f, v);
  if (!problem.empty()) throw InvalidArgument(problem);
}

}  // namespace

void check_option_ranges(const TunerConfig& config, bool filter_options) {
  // Options bounded by others come last, once those are known to be in range (an init_state is then
  // reported against valid bounds).
  for (int pass = 0; pass < 2; ++pass) {
    for (const TunerOption& o : tuner_options()) {
      if (o.in_filter != filter_options || o.checked_last != (pass == 1)) continue;
      const OptionValue value = o.get(config);
      if (const auto* v = std::get_if<Vector>(&value)) {
        const auto& state = config.filter.model.state;
        for (Eigen::Index i = 0; i < v->size(); ++i) {
          // A start is a point of the parameters, so its entries are named by them ("start beta").
          const bool named = o.name == "start" && static_cast<std::size_t>(i) < state.size();
          const std::string key = named ? "start " + state[static_cast<std::size_t>(i)] : o.name + "[" + std::to_string(i) + "]";
          check(value_field(o, key), (*v)[i]);
        }
        continue;
      }
      io::Field f = value_field(o, o.name);
      if (!o.lower_option.empty()) f.at_least(std::get<double>(tuner_option(o.lower_option).get(config)));
      if (const auto* x = std::get_if<double>(&value)) check(f, *x);
      else if (const auto* n = std::get_if<int>(&value)) check(f, *n);
    }
  }
}

const io::Field& tuner_options_format() {
  static const io::Field format = [] {
    static const char* const per[] = {"", " (one entry per parameter)", " (one entry per channel)"};
    const TunerConfig defaults = TunerConfig::profile("inferno");
    std::vector<io::Field> members;
    for (const TunerOption& o : tuner_options()) {
      const std::string doc = o.doc + per[static_cast<int>(o.scope)] +
                              (o.lower_option.empty() ? "" : "; at least " + o.lower_option);
      io::Field f;
      switch (o.kind) {
        case OptionKind::flag: f = io::boolean(o.name, doc); break;
        case OptionKind::name: f = io::choice(o.name, doc, o.choices); break;
        case OptionKind::integer:
        case OptionKind::number: f = value_field(o, o.name); f.doc = doc; break;
        case OptionKind::vector:
        case OptionKind::optional_vector:
          f = io::array(o.name, doc, value_field(o, ""));
          if (o.kind == OptionKind::optional_vector) f.or_null();
          break;
      }
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, Vector>) {
              if (v.size() == 0) f.fallback(nullptr);
              else f.fallback(std::vector<double>(v.data(), v.data() + v.size()));
            } else {
              f.fallback(v);
            }
          },
          o.get(defaults));
      members.push_back(std::move(f));
    }
    io::Field doc = io::object("", "the tuner's options (inferno profile defaults)", std::move(members));
    doc.only_known();
    return doc;
  }();
  return format;
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
