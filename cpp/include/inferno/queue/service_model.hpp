#pragma once
// Service models (docs/queueing-model.md §3): how long a request stays in service when b requests share the batch,
// and how the mean time in service splits into prefill, first token and inter-token latency.
//
// Adding a model: write cpp/src/queue/models/<name>.cpp defining `ServiceModelInfo
// <name>_model_info()` and add one line INFERNO_SERVICE_MODEL(<name>) to
// cpp/src/queue/models/models.def.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace inferno::queue {

/// What a request looks like and the engine's per-iteration token budget.
struct RequestShape {
  double in_tokens = 0;           // n: mean prompt tokens, >= 0
  double out_tokens = 1;          // m: mean output tokens, >= 1
  int max_num_tokens = 8192;      // M_tok: token budget per engine iteration
};

/// Mean latency decomposition returned by a model from the chain's mean time in service.
struct MeanSplit {
  double prefill_ms = 0;     // P̄
  double itl_ms = 0;         // ITL̄
  double post_queue_ms = 0;  // TTFT̄ - W: the part of the time to first token after queueing
  // Width of a uniform part of post_queue_ms (its mean, half the width, is included above): the
  // phase of the iteration boundary a new request waits for (`vllm`). 0 = deterministic.
  double post_queue_spread_ms = 0;
  // What the arrival pattern adds to the first token and the response beyond the mean-field
  // service time (`vllm`: prefills colliding or not; included in post_queue_ms). 0 otherwise.
  double arrival_adjust_ms = 0;
  // How the request's own prefill work (ms) varies with its prompt length n: n·∂p/∂n, the work
  // itself where it is linear in n. A prompt (1 + u)·n takes about u·own_prefill_ms more. 0 where
  // the model has no such part.
  double own_prefill_ms = 0;
};

class ServiceModel {
 public:
  virtual ~ServiceModel() = default;

  /// Registered name, e.g. "iteration".
  virtual const std::string& kind() const = 0;
  /// Largest batch the model was built for (the length of service_times_ms()).
  int max_batch() const { return static_cast<int>(service_times_ms_.size()); }
  /// τ_b in ms for b = 1..max_batch (0-based vector). Each is finite and > 0.
  const std::vector<double>& service_times_ms() const { return service_times_ms_; }

  /// Prefill latency (ms) of a request that enters a batch of (possibly fractional) size x, for a
  /// server whose batch cap is `batch_cap` (<= max_batch()).
  virtual double prefill_ms(double x, int batch_cap) const = 0;
  /// Per-token decode latency (ms) at batch occupancy x.
  virtual double itl_ms(double x, int batch_cap) const = 0;
  /// Splits the exact mean time in service S (ms) at mean occupancy L_s into the model's
  /// mean prefill, ITL and post-queue TTFT parts.
  virtual MeanSplit mean_split(double service_ms, double num_in_service, int batch_cap) const = 0;
  /// mean_split for arrivals whose inter-arrival times have squared coefficient of variation
  /// `arrival_scv` (1 = Poisson, 0 = evenly spaced). Models whose split does not depend on the
  /// arrival pattern return mean_split.
  virtual MeanSplit mean_split_for_arrivals(double service_ms, double num_in_service, int batch_cap,
                                            double arrival_scv) const {
    (void)arrival_scv;
    return mean_split(service_ms, num_in_service, batch_cap);
  }
  /// Output tokens per request in the model's own accounting (m, or K_tok for the token model).
  virtual double tokens_per_request() const = 0;

 protected:
  std::vector<double> service_times_ms_;
};

/// A named parameter of a service model, with its unit and admissible range.
struct ParamSpec {
  std::string name;         // as used by the C++ and Python APIs, e.g. "alpha"
  std::string unit;         // e.g. "ms", "ms/token"
  std::string description;
  double lower = 0;          // admissible values: finite, >= lower (> lower when lower_strict),
  bool lower_strict = false;  // and <= upper
  double upper = 1e6;        // kMaxModelParam (queue/limits.hpp)
  double typical = 1.0;      // a value of the right magnitude: where a tuner starts from
};

using ModelParams = std::map<std::string, double>;

struct ServiceModelInfo {
  std::string name;
  std::string description;
  std::vector<ParamSpec> params;  // all required
  bool uses_request_shape = true;  // false: in/out tokens are not part of this model
  std::function<std::unique_ptr<ServiceModel>(const ModelParams&, const RequestShape&, int max_batch)>
      make;
};

/// The registered service models, in registration order.
const std::vector<ServiceModelInfo>& service_models();

/// The registered names, quoted and comma-separated: 'iteration', 'prefill-decode', ...
std::string service_model_names(char quote = '\'');

/// Looks up a model by name; throws InvalidArgument listing the known names.
const ServiceModelInfo& find_service_model(const std::string& name);

/// Validates the parameters against the model's ParamSpecs (missing, unknown, NaN, out of range
/// all raise InvalidArgument naming the parameter) and builds the model for batches 1..max_batch.
std::shared_ptr<const ServiceModel> make_service_model(const std::string& name,
                                                       const ModelParams& params,
                                                       const RequestShape& shape, int max_batch);

/// Checks a request shape: n finite >= 0, m finite >= 1, max_num_tokens >= 1.
void validate_request_shape(const RequestShape& shape);

}  // namespace inferno::queue
