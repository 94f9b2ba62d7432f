// Token model (docs/queueing-model.md §3.3): the 2024 model of the original inferno slides. Every one of K_tok
// tokens takes α + β·b ms with b requests in the batch; there is no separate prefill.
#include <memory>

#include "inferno/error.hpp"
#include "inferno/queue/service_model.hpp"

namespace inferno::queue {

namespace {

class TokenModel final : public ServiceModel {
 public:
  TokenModel(const ModelParams& p, int max_batch)
      : alpha_(p.at("alpha")), beta_(p.at("beta")), tokens_(p.at("tokens_per_request")) {
    if (!(alpha_ + beta_ > 0))
      throw InvalidArgument("alpha + beta must be > 0 for the token model (the token time would be 0)");
    service_times_ms_.resize(static_cast<std::size_t>(max_batch));
    for (int b = 1; b <= max_batch; ++b) service_times_ms_[b - 1] = tokens_ * (alpha_ + beta_ * b);
  }

  const std::string& kind() const override {
    static const std::string name = "token";
    return name;
  }
  double prefill_ms(double, int) const override { return 0.0; }
  double itl_ms(double x, int) const override { return alpha_ + beta_ * x; }
  double tokens_per_request() const override { return tokens_; }

  MeanSplit mean_split(double service_ms, double, int) const override {
    // TTFT = wait + one token time, so that T = TTFT + (K_tok - 1)·ITL.
    MeanSplit split;
    split.itl_ms = service_ms / tokens_;
    split.post_queue_ms = split.itl_ms;
    return split;
  }

 private:
  double alpha_, beta_, tokens_;
};

}  // namespace

ServiceModelInfo token_model_info() {
  ServiceModelInfo info;
  info.name = "token";
  info.description = "2024 token model: each token takes alpha + beta*batch ms";
  info.params = {
      {"alpha", "ms", "fixed time per token step", 0.0, false},
      {"beta", "ms/request", "time per token step per batch member", 0.0, false},
      {"tokens_per_request", "tokens", "tokens generated per request (K_tok)", 0.0, true},
  };
  info.uses_request_shape = false;
  info.make = [](const ModelParams& p, const RequestShape&, int max_batch) {
    return std::make_unique<TokenModel>(p, max_batch);
  };
  return info;
}

}  // namespace inferno::queue
