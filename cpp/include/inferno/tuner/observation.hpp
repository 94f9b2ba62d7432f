#pragma once
// Observations of a running server and the observation function h(x; u) of the tuner (spec
// docs/tuner.md §1, §2.8): the queue core's analyze, returning a value or a typed error, never a
// sentinel.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "inferno/queue/service_model.hpp"
#include "inferno/tuner/ekf.hpp"

namespace inferno::tuner {

constexpr double kNotGiven = std::numeric_limits<double>::quiet_NaN();

/// The load under which an observation was measured.
struct OperatingPoint {
  double rate_rpm = 0;          // λ, offered requests per minute (> 0)
  double in_tokens = 0;         // n, mean prompt tokens (>= 0)
  double out_tokens = 0;        // m, mean output tokens (>= 1)
  int max_batch = 0;            // N, concurrency cap in force (>= 1)
  std::int64_t max_queue = 0;   // Qmax, external waiting room (>= 0)
  double arrival_cov = 1.0;     // coefficient of variation of inter-arrival times (1 Poisson, 0 evenly spaced)
};

/// One measurement window of one replica. Optional fields are NaN when not given.
struct Observation {
  OperatingPoint point;
  double ttft_ms = kNotGiven;
  double itl_ms = kNotGiven;
  double wait_ms = kNotGiven;
  // Saturation signals (docs/tuner.md §2.9), all optional.
  double throughput_rpm = kNotGiven;
  double avg_concurrency = kNotGiven;
  bool saturated = false;  // explicit flag from the producer
  std::string problem;     // a defect found while reading it (e.g. a fractional max_batch): invalid
};

/// Observed quantities the tuner can fit.
enum class Channel { ttft, itl, wait };
const char* channel_name(Channel c);

/// Typed errors of h (docs/tuner.md §2.8).
enum class ModelError { none, invalid_operating_point, non_positive_parameter, solver_failed, non_finite_output };
const char* model_error_name(ModelError e);

/// What is tuned and what is observed.
struct ModelSpec {
  std::string service_model = "iteration";
  std::vector<std::string> state = {"alpha", "beta", "gamma"};  // tuned parameters, in order
  queue::ModelParams fixed;                                      // the model's other parameters
  std::vector<Channel> channels = {Channel::ttft, Channel::itl};
  bool zero_input_tokens = false;  // decode-only variant: n = 0 whatever the observation says
  int max_num_tokens = 8192;       // per-iteration token budget (the tuner never changes it)

  /// The three configurations of `inferno tune --config`: "decode" (α, β; observes wait and ITL;
  /// γ = 0, n = 0), "prefill-decode" (α, β, γ; TTFT and ITL) and "full" (α, β, γ; TTFT, ITL and
  /// wait). InvalidArgument naming the allowed values otherwise.
  static ModelSpec named(const std::string& name);
  /// The configuration `name` on `service_model`: the service model's parameters that the
  /// configuration neither tunes nor fixes are tuned too, after its own (`vllm`: delta, epsilon).
  static ModelSpec named(const std::string& name, const std::string& service_model);
  /// As above, with some of the service model's extra parameters held at given values instead of
  /// tuned (`vllm` with delta = epsilon = 0: the iteration wait without per-sequence costs). Only
  /// parameters the configuration does not tune itself may be fixed; values must be finite, >= 0.
  static ModelSpec named(const std::string& name, const std::string& service_model, const queue::ModelParams& fixed);
  /// Checks names against the service model's parameters (InvalidArgument naming them).
  void validate() const;
};

/// h(x; u): maps parameters and an operating point to the observed channels.
class ObservationModel {
 public:
  explicit ObservationModel(ModelSpec spec);
  const ModelSpec& spec() const { return spec_; }
  int state_dim() const { return static_cast<int>(spec_.state.size()); }
  int obs_dim() const { return static_cast<int>(spec_.channels.size()); }

  /// The observation's channel values, in spec order (NaN where the observation lacks one).
  Vector observed(const Observation& obs) const;
  /// Why the observation cannot be used ("" if it can): non-positive rate, missing channel, ...
  std::string invalid_reason(const Observation& obs) const;

  /// h(x; u) into `out` (resized), or a typed error with `detail` set; `out` is unspecified then.
  ModelError evaluate(const Vector& x, const OperatingPoint& u, Vector& out, std::string* detail = nullptr) const;
  /// The model's largest sustainable rate at x (req/s), for the model-based saturation test.
  ModelError max_rate_rps(const Vector& x, const OperatingPoint& u, double& rate_rps) const;

 private:
  ModelSpec spec_;
};

}  // namespace inferno::tuner
