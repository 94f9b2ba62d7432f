// The 2026-02 iteration model "v2" (queue-analysis v0.3.0, docs/queueing-model.md §3.5). Superseded by
// `iteration` because it counts the focal request's own work twice, but the reference optimizer's
// stored sample solutions were computed with it, so reproducing them needs it.
//
//   t_c = (n + m)/(m + 1),  t_m = n + m/2
//   T_it(b)  = α + b·(β·t_c + γ·t_m)
//   pre(b)   = T_it(b) + (β + γ)·n          (0 without a prompt)
//   dec(b)   = T_it(b) + β + γ·(n + m/2)
//   τ(b)     = pre(b) + m·dec(b)
// Mean split: P̄ = pre(L_s), ITL̄ = (S - P̄)/m, TTFT̄ = W + P̄ + ITL̄.
#include <memory>

#include "inferno/error.hpp"
#include "inferno/queue/models/iteration.hpp"
#include "inferno/queue/service_model.hpp"

namespace inferno::queue {

namespace {

class IterationV2Model final : public ServiceModel {
 public:
  IterationV2Model(const ModelParams& p, const RequestShape& shape, int max_batch)
      : alpha_(p.at("alpha")),
        beta_(p.at("beta")),
        gamma_(p.at("gamma")),
        in_tokens_(shape.in_tokens),
        out_tokens_(shape.out_tokens) {
    if (alpha_ == 0 && beta_ == 0 && gamma_ == 0)
      throw InvalidArgument("alpha, beta and gamma must not all be 0 (the service time would be 0)");
    const double n = in_tokens_, m = out_tokens_;
    work_per_member_ = beta_ * (n + m) / (m + 1.0) + gamma_ * (n + m / 2.0);
    service_times_ms_.resize(static_cast<std::size_t>(max_batch));
    for (int b = 1; b <= max_batch; ++b) service_times_ms_[b - 1] = prefill(b) + m * decode(b);
  }

  const std::string& kind() const override {
    static const std::string name = "iteration-v2";
    return name;
  }
  double prefill_ms(double x, int) const override { return prefill(x); }
  double itl_ms(double x, int) const override { return decode(x); }
  double tokens_per_request() const override { return out_tokens_; }

  MeanSplit mean_split(double service_ms, double num_in_service, int) const override {
    MeanSplit split;
    split.prefill_ms = prefill(num_in_service);
    split.itl_ms = (service_ms - split.prefill_ms) / out_tokens_;
    split.post_queue_ms = split.prefill_ms + split.itl_ms;
    return split;
  }

 private:
  double iteration(double b) const { return alpha_ + b * work_per_member_; }
  double prefill(double b) const {
    return in_tokens_ > 0 ? iteration(b) + (beta_ + gamma_) * in_tokens_ : 0.0;
  }
  double decode(double b) const {
    return iteration(b) + beta_ + gamma_ * (in_tokens_ + out_tokens_ / 2.0);
  }

  double alpha_, beta_, gamma_;
  double in_tokens_, out_tokens_;
  double work_per_member_;  // β·t_c + γ·t_m
};

}  // namespace

ServiceModelInfo iteration_v2_model_info() {
  ServiceModelInfo info;
  info.name = "iteration-v2";
  info.description =
      "2026-02 iteration model (queue-analysis v0.3.0), kept to reproduce the reference "
      "optimizer's sample solutions; prefer 'iteration'";
  info.params = iteration_model_info().params;  // the same perfParms {alpha, beta, gamma}
  info.make = [](const ModelParams& p, const RequestShape& shape, int max_batch) {
    return std::make_unique<IterationV2Model>(p, shape, max_batch);
  };
  return info;
}

}  // namespace inferno::queue
