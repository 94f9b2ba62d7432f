// Bindings of the tuner subsystem. Configurations cross as option dicts, set by name through the
// core's option table (inferno/tuner/options.hpp) and validated by TunerConfig; observations as
// dicts with unit-suffixed keys, results as dicts; python/inferno/tuner/ adds the DataFrames and
// dataclasses.
#include <pybind11/eigen.h>
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>

#include "inferno/error.hpp"
#include "inferno/queue/limits.hpp"
#include "inferno/tuner/options.hpp"
#include "inferno/tuner/tuner.hpp"

namespace py = pybind11;
// The file's names live in a namespace of its own (the using-directive too), so a unity build can
// compile it in one unit with the other bindings.
namespace inferno::bindings::tuner_module {
using namespace inferno::tuner;
using inferno::InvalidArgument;

namespace {

Vector to_vector(py::handle value, const std::string& key) {
  if (value.is_none()) return Vector();
  try {
    const auto items = value.cast<std::vector<double>>();
    return Eigen::Map<const Vector>(items.data(), static_cast<Eigen::Index>(items.size()));
  } catch (const py::cast_error&) {
    throw InvalidArgument(key + " must be a sequence of numbers or None");
  }
}

template <class T>
T as(py::handle value, const std::string& key, const char* what) {
  try {
    return value.cast<T>();
  } catch (const py::cast_error&) {
    throw InvalidArgument(key + " must be " + what);
  }
}

// An option flag: True or False only (also numpy's bool). pybind11's own bool conversion would
// read any number as a flag, so -1e9 silently meant True.
bool as_flag(py::handle value, const std::string& key) {
  if (PyBool_Check(value.ptr())) return value.ptr() == Py_True;
  if (py::hasattr(value, "dtype") && py::str(value.attr("dtype").attr("kind")).cast<std::string>() == "b")
    return value.cast<bool>();
  throw InvalidArgument(key + " must be True or False, got " + py::repr(value).cast<std::string>().substr(0, 40));
}

// A Python value converted to the kind the option takes (inferno/tuner/options.hpp), naming the
// option when it cannot be.
OptionValue option_value(const TunerOption& option, py::handle value) {
  const std::string& key = option.name;
  switch (option.kind) {
    case OptionKind::flag: return as_flag(value, key);
    case OptionKind::integer: return as<int>(value, key, "an integer");
    case OptionKind::number: return as<double>(value, key, "a number");
    case OptionKind::name: return as<std::string>(value, key, "a string");
    case OptionKind::vector:
    case OptionKind::optional_vector: return to_vector(value, key);
  }
  throw InvalidArgument(key + ": unknown option kind");
}

std::string option_names() { return tuner_option_names(); }

// Every option with its kind, range, default (the inferno profile, prefill-decode) and meaning: the
// source of the docs table, the JSON Schema and the command line's flags.
py::list option_registry() {
  static const char* const kinds[] = {"flag", "integer", "number", "name", "vector", "optional_vector"};
  static const char* const scopes[] = {"scalar", "parameter", "channel"};
  const TunerConfig defaults = TunerConfig::profile("inferno");
  py::list out;
  for (const TunerOption& o : tuner_options()) {
    py::dict d;
    d["name"] = o.name;
    d["kind"] = kinds[static_cast<int>(o.kind)];
    d["per"] = scopes[static_cast<int>(o.scope)];
    const OptionValue v = o.get(defaults);
    if (const auto* x = std::get_if<Vector>(&v))
      d["default"] = x->size() == 0 ? py::object(py::none()) : py::cast(std::vector<double>(x->data(), x->data() + x->size()));
    else
      std::visit([&](const auto& value) { d["default"] = py::cast(value); }, v);
    d["minimum"] = o.lower ? py::cast(*o.lower) : py::none();
    d["maximum"] = o.upper ? py::cast(*o.upper) : py::none();
    d["exclusive_minimum"] = o.lower_open;
    d["exclusive_maximum"] = o.upper_open;
    d["minimum_option"] = o.lower_option.empty() ? py::object(py::none()) : py::cast(o.lower_option);
    d["choices"] = o.choices;
    d["doc"] = o.doc;
    out.append(d);
  }
  return out;
}

// A validated configuration: the named model ("decode", "prefill-decode", "full"), the profile,
// then the options on top.
TunerConfig make_config(const std::string& config, const std::string& profile, const py::dict& options,
                        const std::string& service_model, const inferno::queue::ModelParams& fixed = {}) {
  const ModelSpec spec = ModelSpec::named(config, service_model, fixed);
  TunerConfig c = TunerConfig::profile(profile, spec);
  for (const auto& [key, value] : options) {
    const std::string name = py::str(key).cast<std::string>();
    set_tuner_option(c, name, option_value(tuner_option(name), value));
  }
  c.validate();
  return c;
}

py::list vector_list(const Vector& v) {
  py::list out;
  for (Eigen::Index i = 0; i < v.size(); ++i) out.append(v[i]);
  return out;
}

py::dict config_dict(const TunerConfig& c) {
  const FilterConfig& f = c.filter;
  py::dict d;
  py::list state, channels;
  for (const auto& s : f.model.state) state.append(s);
  for (Channel ch : f.model.channels) channels.append(channel_name(ch));
  d["service_model"] = f.model.service_model;
  d["state"] = state;
  d["channels"] = channels;
  d["init_state"] = vector_list(f.init_state);
  d["percent_change"] = vector_list(f.percent_change);
  d["initial_change"] = vector_list(f.initial_change.size() ? f.initial_change : f.percent_change);
  d["min_state"] = f.min_state.size() ? py::object(vector_list(f.min_state)) : py::none();
  d["max_state"] = f.max_state.size() ? py::object(vector_list(f.max_state)) : py::none();
  d["expected_observations"] = f.expected_observations.size() ? py::object(vector_list(f.expected_observations)) : py::none();
  d["parameterization"] = parameterization_name(f.parameterization);
  d["noise"] = noise_mode_name(f.noise);
  d["error_level"] = f.error_level;
  d["t_percentile"] = f.t_percentile;
  d["gamma_factor"] = f.gamma_factor;
  d["sigma_rel"] = f.sigma_rel();
  d["sigma_abs_ms"] = f.sigma_abs_ms;
  d["nis_threshold"] = f.threshold();
  d["process_noise"] = process_noise_name(f.process_noise);
  d["saturation"] = saturation_policy_name(f.saturation);
  d["init_obs"] = c.init_obs;
  d["warm_up_cycles"] = c.warm_up_cycles;
  d["hold_back"] = c.hold_back;
  d["mode"] = estimator_mode_name(c.mode);
  d["window_size"] = c.window_size;
  d["kappa_max"] = c.kappa_max;
  d["lockout_rejections"] = c.lockout_rejections;
  d["anchored_bounds"] = c.anchored_bounds;
  d["start"] = c.start ? py::object(vector_list(*c.start)) : py::none();
  return d;
}

double get_number(const py::dict& d, const char* key, double fallback) {
  if (!d.contains(key) || d[key].is_none()) return fallback;
  return as<double>(d[key], key, "a number");
}

Observation to_observation(const py::handle& item) {
  if (!py::isinstance<py::dict>(item)) throw InvalidArgument("an observation must be a dict");
  const auto d = py::reinterpret_borrow<py::dict>(item);
  Observation o;
  o.point.rate_rpm = get_number(d, "rate_rpm", kNotGiven);
  o.point.in_tokens = get_number(d, "in_tokens", kNotGiven);
  o.point.out_tokens = get_number(d, "out_tokens", kNotGiven);
  const double batch = get_number(d, "max_batch", kNotGiven);
  const double queue = get_number(d, "max_queue", 0.0);
  // A bad cap makes this observation invalid (reported per step), not the whole cycle.
  if (!(std::isfinite(batch) && batch == std::floor(batch) && batch >= 1 && batch <= inferno::kMaxBatchLimit))
    o.problem = "max_batch must be an integer >= 1, got " + inferno::format_number(batch);
  else
    o.point.max_batch = static_cast<int>(batch);
  if (!(std::isfinite(queue) && queue == std::floor(queue) && queue >= 0 && queue <= inferno::kMaxBatchLimit))
    o.problem = "max_queue must be an integer >= 0, got " + inferno::format_number(queue);
  else
    o.point.max_queue = static_cast<std::int64_t>(queue);
  const double cov = get_number(d, "arrival_cov", 1.0);
  if (!(std::isfinite(cov) && cov >= 0 && cov <= inferno::queue::kMaxCov))
    o.problem = "arrival_cov must be a finite number in [0, 100], got " + inferno::format_number(cov);
  else
    o.point.arrival_cov = cov;
  o.ttft_ms = get_number(d, "ttft_ms", kNotGiven);
  o.itl_ms = get_number(d, "itl_ms", kNotGiven);
  o.wait_ms = get_number(d, "wait_ms", kNotGiven);
  o.throughput_rpm = get_number(d, "throughput_rpm", kNotGiven);
  o.avg_concurrency = get_number(d, "avg_concurrency", kNotGiven);
  if (d.contains("saturated") && !d["saturated"].is_none()) o.saturated = as<bool>(d["saturated"], "saturated", "True or False");
  return o;
}

std::vector<Observation> to_observations(const py::iterable& items) {
  std::vector<Observation> out;
  for (const auto& item : items) out.push_back(to_observation(item));
  return out;
}

py::object optional_number(double v) { return std::isfinite(v) ? py::object(py::float_(v)) : py::none(); }

py::dict step_dict(const StepResult& r, const ModelSpec& spec) {
  py::dict d;
  d["outcome"] = outcome_name(r.outcome);
  d["accepted"] = is_accepted(r.outcome);
  d["reason"] = r.reason;
  for (std::size_t j = 0; j < spec.channels.size(); ++j) {
    const std::string ch = channel_name(spec.channels[j]);
    const auto J = static_cast<Eigen::Index>(j);
    d[py::str("observed_" + ch + "_ms")] = r.observed.size() > J ? optional_number(r.observed[J]) : py::none();
    d[py::str("predicted_" + ch + "_ms")] = r.predicted.size() > J ? optional_number(r.predicted[J]) : py::none();
    d[py::str("innovation_" + ch + "_ms")] = r.innovation.size() > J ? optional_number(r.innovation[J]) : py::none();
    d[py::str("innovation_std_" + ch + "_ms")] =
        r.innovation_cov.rows() > J ? optional_number(std::sqrt(r.innovation_cov(J, J))) : py::none();
  }
  d["nis"] = r.nis ? py::object(py::float_(*r.nis)) : py::none();
  d["gate_skipped"] = r.gate_skipped;
  d["one_sided_jacobian"] = r.one_sided_jacobian;
  d["saturated"] = r.saturated;
  d["saturation_reason"] = r.saturation_reason;
  py::list at_bounds;
  for (Eigen::Index i = 0; i < r.at_bounds.size(); ++i) at_bounds.append(bool(r.at_bounds[i]));
  d["at_bounds"] = at_bounds;
  return d;
}

py::dict named(const Vector& v, const std::vector<std::string>& names) {
  py::dict d;
  for (std::size_t i = 0; i < names.size() && static_cast<Eigen::Index>(i) < v.size(); ++i)
    d[py::str(names[i])] = optional_number(v[static_cast<Eigen::Index>(i)]);
  return d;
}

py::dict estimate_values(const Estimate& e, const ModelSpec& spec) {
  py::dict d;
  d["params"] = named(e.x, spec.state);
  d["stddev"] = named(e.stddev, spec.state);
  d["rel_stddev"] = named(e.rel_stddev, spec.state);
  d["lower95"] = named(e.lower95, spec.state);
  d["upper95"] = named(e.upper95, spec.state);
  d["covariance"] = e.covariance.allFinite() ? py::object(py::cast(e.covariance)) : py::none();
  d["correlation"] = e.correlation.allFinite() ? py::object(py::cast(e.correlation)) : py::none();
  py::dict sigma;
  for (std::size_t j = 0; j < spec.channels.size() && static_cast<Eigen::Index>(j) < e.sigma_rel.size(); ++j)
    sigma[channel_name(spec.channels[j])] = e.sigma_rel[static_cast<Eigen::Index>(j)];
  d["sigma_rel"] = sigma;
  d["queue_model_version"] = kQueueModelVersion;
  return d;
}

py::dict tuner_estimate_dict(const TunerEstimate& e, const ModelSpec& spec) {
  py::dict d = estimate_values(e.values, spec);
  d["source"] = e.source;
  d["kappa"] = std::isfinite(e.kappa) ? py::object(py::float_(e.kappa)) : py::none();
  d["ill_conditioned"] = !std::isfinite(e.kappa) || !e.identifiable;
  d["identifiable"] = e.identifiable;
  d["nis"] = e.nis ? py::object(py::float_(*e.nis)) : py::none();
  py::dict innovation;
  for (std::size_t j = 0; j < spec.channels.size(); ++j)
    innovation[channel_name(spec.channels[j])] =
        e.innovation.size() > static_cast<Eigen::Index>(j) ? optional_number(e.innovation[static_cast<Eigen::Index>(j)]) : py::none();
  d["innovation"] = innovation;
  d["innovation_cov"] = e.innovation_cov.size() ? py::object(py::cast(e.innovation_cov)) : py::none();
  d["outcome"] = outcome_name(e.outcome);
  py::dict at_bounds;
  for (std::size_t i = 0; i < spec.state.size() && static_cast<Eigen::Index>(i) < e.at_bounds.size(); ++i)
    at_bounds[py::str(spec.state[i])] = bool(e.at_bounds[static_cast<Eigen::Index>(i)]);
  d["at_bounds"] = at_bounds;
  d["update_count"] = e.update_count;
  d["observation_count"] = e.observation_count;
  d["cycle"] = e.cycle;
  d["warming_up"] = e.warming_up;
  d["phase"] = phase_name(e.phase);
  d["needs_calibration"] = e.needs_calibration;
  return d;
}

py::dict fit_dict(const FitResult& f, const ModelSpec& spec, bool log_band) {
  py::dict d;
  d["status"] = fit_status_name(f.status);
  d["source"] = f.source;
  d["objective"] = f.objective;
  d["kappa"] = std::isfinite(f.kappa) ? py::object(py::float_(f.kappa)) : py::none();
  d["evaluations"] = f.evaluations;
  d["stop"] = f.stop;
  d["dropped"] = f.dropped;
  d["weak_direction"] = f.weak_direction.empty() ? py::object(py::none()) : py::object(py::str(f.weak_direction));
  d["prior_weight"] = f.prior_weight;
  if (f.x.size()) {
    py::dict values = estimate_values(make_estimate(f.x, f.covariance ? *f.covariance : Matrix(), log_band), spec);
    for (const auto& [k, v] : values) d[k] = v;
  } else {
    d["params"] = py::none();
  }
  return d;
}

py::dict cycle_dict(const CycleResult& r, const ModelSpec& spec, bool log_band) {
  py::dict d;
  d["cycle"] = r.cycle;
  py::list steps;
  for (const auto& s : r.steps) steps.append(step_dict(s, spec));
  d["steps"] = steps;
  d["stored"] = r.stored;
  d["fit"] = r.fit ? py::object(fit_dict(*r.fit, spec, log_band)) : py::none();
  d["lockout_recovery"] = r.lockout_recovery;
  d["excursion"] = r.excursion;
  d["phase"] = phase_name(r.phase);
  d["warming_up"] = r.warming_up;
  return d;
}

py::dict counts_dict(const std::array<long, kOutcomeCount>& counts) {
  py::dict d;
  for (int i = 0; i < kOutcomeCount; ++i) d[outcome_name(static_cast<Outcome>(i))] = counts[static_cast<std::size_t>(i)];
  return d;
}

StepOptions step_options(bool skip_gate, bool plain, bool model_saturation, bool learn_noise) {
  StepOptions o;
  o.skip_gate = skip_gate;
  o.plain = plain;
  o.model_saturation = model_saturation;
  o.learn_noise = learn_noise;
  return o;
}

}  // namespace

void bind(py::module_& parent) {
  py::module_ m = parent.def_submodule("tuner", "Parameter tuner: EKF, cold-start fits, identifiability");

  m.def("make_config", [](const std::string& config, const std::string& profile, const py::dict& options, const std::string& service_model) {
        return config_dict(make_config(config, profile, options, service_model));
      }, py::arg("config"), py::arg("profile"), py::arg("options"), py::arg("service_model") = "iteration",
      "The effective configuration (validated) as a dict.");
  m.def("option_names", &option_names);
  m.def("option_registry", &option_registry,
        "Every tuner option: name, kind, per (scalar, parameter, channel), default, range, choices, doc");

  py::class_<VariantTuner>(m, "VariantTuner")
      .def(py::init([](const std::string& config, const std::string& profile, const py::dict& options, const std::string& service_model,
                       const inferno::queue::ModelParams& fixed) {
             return std::make_unique<VariantTuner>(make_config(config, profile, options, service_model, fixed));
           }), py::arg("config"), py::arg("profile"), py::arg("options"), py::arg("service_model") = "iteration",
           py::arg("fixed") = inferno::queue::ModelParams{})
      .def("cycle", [](VariantTuner& t, const py::iterable& observations) {
             const std::vector<Observation> obs = to_observations(observations);
             CycleResult r;
             {
               py::gil_scoped_release release;
               r = t.cycle(obs);
             }
             return cycle_dict(r, t.config().filter.model, t.config().filter.parameterization == Parameterization::log);
           })
      .def("estimate", [](const VariantTuner& t) -> py::object {
             if (!t.has_estimate()) return py::none();
             return tuner_estimate_dict(t.estimate(), t.config().filter.model);
           })
      .def("calibrate", [](VariantTuner& t, const py::iterable& sweep) {
             const std::vector<Observation> obs = to_observations(sweep);
             FitResult r;
             {
               py::gil_scoped_release release;
               r = t.calibrate(obs);
             }
             return fit_dict(r, t.config().filter.model, t.config().filter.parameterization == Parameterization::log);
           })
      .def_property_readonly("calibrated", &VariantTuner::calibrated)
      .def_property_readonly("warming_up", &VariantTuner::warming_up)
      .def_property_readonly("phase", [](const VariantTuner& t) { return phase_name(t.phase()); })
      .def_property_readonly("update_count", &VariantTuner::update_count)
      .def_property_readonly("outcome_counts", [](const VariantTuner& t) { return counts_dict(t.outcome_counts()); })
      .def_property_readonly("config", [](const VariantTuner& t) { return config_dict(t.config()); })
      .def_property_readonly("state_names", [](const VariantTuner& t) { return t.config().filter.model.state; })
      .def_property_readonly("channel_names", [](const VariantTuner& t) {
        std::vector<std::string> names;
        for (Channel c : t.config().filter.model.channels) names.push_back(channel_name(c));
        return names;
      });

  py::class_<ParameterFilter>(m, "ParameterFilter")
      .def(py::init([](const std::string& config, const std::string& profile, const py::dict& options, const std::string& service_model) {
             return std::make_unique<ParameterFilter>(make_config(config, profile, options, service_model).filter);
           }), py::arg("config"), py::arg("profile"), py::arg("options"), py::arg("service_model") = "iteration")
      .def("predict", &ParameterFilter::predict, py::arg("scale") = 1.0)
      .def("step", [](ParameterFilter& f, const py::dict& observation, bool skip_gate, bool plain, bool model_saturation, bool learn_noise) {
             const Observation o = to_observation(observation);
             StepResult r;
             {
               py::gil_scoped_release release;
               r = f.step(o, step_options(skip_gate, plain, model_saturation, learn_noise));
             }
             return step_dict(r, f.config().model);
           }, py::arg("observation"), py::arg("skip_gate") = false, py::arg("plain") = false,
           py::arg("model_saturation") = false, py::arg("learn_noise") = true)
      .def("steps", [](ParameterFilter& f, const py::iterable& observations, bool skip_gate, bool plain, bool records) {
             const std::vector<Observation> obs = to_observations(observations);
             std::vector<StepResult> results(obs.size());
             {
               py::gil_scoped_release release;
               const StepOptions options = step_options(skip_gate, plain, false, true);
               for (std::size_t i = 0; i < obs.size(); ++i) results[i] = f.step(obs[i], options);
             }
             py::list out;
             for (const auto& r : results) {
               if (records) out.append(step_dict(r, f.config().model));
               else out.append(outcome_name(r.outcome));  // outcomes only: the cheap form for long replays
             }
             return out;
           }, py::arg("observations"), py::arg("skip_gate") = false, py::arg("plain") = false, py::arg("records") = true)
      .def("reset", [](ParameterFilter& f, const Vector& x) { f.reset(x); }, py::arg("x"))
      .def("estimate", [](const ParameterFilter& f) { return estimate_values(f.estimate(), f.config().model); })
      .def_property_readonly("x", &ParameterFilter::x)
      .def_property_readonly("state", &ParameterFilter::state)
      .def_property_readonly("covariance", &ParameterFilter::covariance)
      .def_property_readonly("outcome_counts", [](const ParameterFilter& f) { return counts_dict(f.outcome_counts()); })
      .def_property_readonly("state_names", [](const ParameterFilter& f) { return f.config().model.state; });

  m.def("fit", [](const std::string& config, const py::dict& options, const py::iterable& observations,
                  const std::optional<Vector>& start, const std::string& service_model) {
        TunerConfig c = make_config(config, "inferno", options, service_model);
        const std::vector<Observation> obs = to_observations(observations);
        ObservationModel model(c.filter.model);
        EstimatorOptions eo;
        eo.min_obs = 1;
        eo.capacity = 0;
        eo.kappa_max = c.kappa_max;
        if (c.seeded_guess) eo.seed = c.filter.init_state;
        eo.guess_form = c.guess_form;
        InitEstimator estimator(model, eo);
        py::list invalid;
        for (std::size_t i = 0; i < obs.size(); ++i) {
          const std::string why = model.invalid_reason(obs[i]);
          if (!why.empty()) {
            invalid.append(py::make_tuple(i, why));
            continue;
          }
          estimator.add({obs[i], 1.0});
        }
        if (estimator.count() == 0) throw InvalidArgument("no valid observation to fit");
        FitResult r;
        {
          py::gil_scoped_release release;
          r = estimator.fit(start);
        }
        py::dict d = fit_dict(r, c.filter.model, c.filter.parameterization == Parameterization::log);
        d["invalid"] = invalid;
        d["observations_used"] = estimator.count();
        return d;
      }, py::arg("config"), py::arg("options"), py::arg("observations"), py::arg("start") = py::none(),
      py::arg("service_model") = "iteration");

  m.def("condition_number", [](const std::string& config, const py::iterable& observations, const Vector& x,
                               const std::string& service_model) {
        const ModelSpec spec = ModelSpec::named(config, service_model);
        ObservationModel model(spec);
        std::vector<FitPoint> points;
        for (const auto& o : to_observations(observations)) points.push_back({o, 1.0});
        return condition_number(model, points, x);
      }, py::arg("config"), py::arg("observations"), py::arg("x"), py::arg("service_model") = "iteration");

  m.def("evaluate", [](const std::string& config, const py::dict& observation, const Vector& x, const std::string& service_model) {
        const ModelSpec spec = ModelSpec::named(config, service_model);
        ObservationModel model(spec);
        Vector out;
        std::string detail;
        const ModelError e = model.evaluate(x, to_observation(observation).point, out, &detail);
        if (e != ModelError::none) throw InvalidArgument(std::string("the model cannot evaluate this point (") + model_error_name(e) + "): " + detail);
        py::dict d;
        for (std::size_t j = 0; j < spec.channels.size(); ++j)
          d[py::str(std::string(channel_name(spec.channels[j])) + "_ms")] = out[static_cast<Eigen::Index>(j)];
        return d;
      }, py::arg("config"), py::arg("observation"), py::arg("x"), py::arg("service_model") = "iteration");

  m.def("guess_init_state", [](double ttft_ms, double itl_ms, double in_tokens, double out_tokens,
                               const std::optional<Vector>& seed, const std::string& form) -> py::object {
        const GuessForm f = parse_guess_form(form);
        const auto g = guess_init_state(ttft_ms, itl_ms, in_tokens, out_tokens, seed ? *seed : Vector(), f);
        if (!g) return py::none();
        return py::cast(*g);
      }, py::arg("ttft_ms"), py::arg("itl_ms"), py::arg("in_tokens"), py::arg("out_tokens"),
      py::arg("seed") = py::none(), py::arg("form") = "reference");

  m.def("chi_square_quantile", &chi_square_quantile, py::arg("p"), py::arg("dof"));
  m.def("numerical_jacobian", [](const VectorFn& f, const Vector& x, double rel_step) { return numerical_jacobian(f, x, rel_step); },
        py::arg("f"), py::arg("x"), py::arg("rel_step") = 0.01);

  py::class_<Limiter>(m, "Limiter")
      .def(py::init([](const std::optional<Vector>& lower, const std::optional<Vector>& upper, int dim) {
             return Limiter(lower ? *lower : Vector(), upper ? *upper : Vector(), dim);
           }), py::arg("lower"), py::arg("upper"), py::arg("dim"))
      .def("clamp", [](const Limiter& l, Vector x) { l.clamp(x); return x; });

  // x0 and P0 default to None rather than to empty Eigen values: a default value is converted to
  // a Python object when the module loads, and an Eigen one would import numpy with `import inferno`.
  py::class_<KalmanFilter>(m, "KalmanFilter")
      .def(py::init([](int n, int dim_z, const std::optional<Vector>& x0, const std::optional<Matrix>& P0) {
             return KalmanFilter(n, dim_z, x0 ? *x0 : Vector(), P0 ? *P0 : Matrix());
           }), py::arg("n"), py::arg("m"), py::arg("x0") = py::none(), py::arg("P0") = py::none())
      .def("set_Q", &KalmanFilter::set_Q).def("set_R", &KalmanFilter::set_R)
      .def("set_F", &KalmanFilter::set_F).def("set_H", &KalmanFilter::set_H)
      .def("set_limiter", &KalmanFilter::set_limiter)
      .def("predict", [](KalmanFilter& k, const std::optional<Matrix>& Q) { if (Q) k.predict(*Q); else k.predict(); }, py::arg("Q") = py::none())
      .def("update", [](KalmanFilter& k, const Vector& z, const std::optional<Matrix>& R) { if (R) k.update(z, *R); else k.update(z); },
           py::arg("z"), py::arg("R") = py::none())
      .def_property_readonly("x", &KalmanFilter::x).def_property_readonly("P", &KalmanFilter::P)
      .def_property_readonly("Q", &KalmanFilter::Q).def_property_readonly("R", &KalmanFilter::R)
      .def_property_readonly("F", &KalmanFilter::F).def_property_readonly("H", &KalmanFilter::H)
      .def_property_readonly("y", &KalmanFilter::y).def_property_readonly("S", &KalmanFilter::S)
      .def_property_readonly("K", &KalmanFilter::K).def_property_readonly("nis", &KalmanFilter::nis);

  py::class_<ExtendedKalmanFilter, KalmanFilter>(m, "ExtendedKalmanFilter")
      .def(py::init([](int n, int dim_z, const std::optional<Vector>& x0, const std::optional<Matrix>& P0) {
             return ExtendedKalmanFilter(n, dim_z, x0 ? *x0 : Vector(), P0 ? *P0 : Matrix());
           }), py::arg("n"), py::arg("m"), py::arg("x0") = py::none(), py::arg("P0") = py::none())
      .def("set_f", &ExtendedKalmanFilter::set_f)
      .def("set_h", &ExtendedKalmanFilter::set_h)
      .def("set_jacobian_step", &ExtendedKalmanFilter::set_jacobian_step);
}

}  // namespace inferno::bindings::tuner_module

void bind_tuner(py::module_& parent) { inferno::bindings::tuner_module::bind(parent); }
