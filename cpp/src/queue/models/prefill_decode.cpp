// Prefill–decode model (docs/queueing-model.md §3.2): the api v1alpha1 `decodeParms` / `prefillParms` form.
// decode(b) = α_d + β_d·b per step; prefill(b) = γ_p + δ_p·n·b (0 without a prompt).
#include <algorithm>
#include <memory>

#include "inferno/error.hpp"
#include "inferno/queue/service_model.hpp"

namespace inferno::queue {

namespace {

class PrefillDecodeModel final : public ServiceModel {
 public:
  PrefillDecodeModel(const ModelParams& p, const RequestShape& shape, int max_batch)
      : decode_alpha_(p.at("decode_alpha")),
        decode_beta_(p.at("decode_beta")),
        prefill_gamma_(p.at("prefill_gamma")),
        prefill_delta_(p.at("prefill_delta")),
        in_tokens_(shape.in_tokens),
        out_tokens_(shape.out_tokens) {
    // The prefill pass emits the first token, so d = m - 1 decode steps. Without a prompt there
    // is no prefill pass and at least one decode step: d = max(m - 1, 1) (m - 1 alone made the
    // service time vanish as m fell to 1, e.g. 2e-16 ms at m = 1 + 2^-52).
    decode_steps_ = in_tokens_ == 0 ? std::max(1.0, out_tokens_ - 1.0) : out_tokens_ - 1.0;
    service_times_ms_.resize(static_cast<std::size_t>(max_batch));
    for (int b = 1; b <= max_batch; ++b) {
      const double tau = prefill(b) + decode_steps_ * decode(b);
      if (!(tau > 0))
        throw InvalidArgument(
            "prefill-decode parameters give a zero service time at batch " + std::to_string(b) +
            (decode_steps_ == 0
                 ? ": with out_tokens = 1 there is no decode step, so prefill_gamma or "
                   "prefill_delta (with in_tokens > 0) must be > 0"
                 : ": decode_alpha, decode_beta, prefill_gamma, prefill_delta must not all be 0"));
      service_times_ms_[b - 1] = tau;
    }
  }

  const std::string& kind() const override {
    static const std::string name = "prefill-decode";
    return name;
  }
  double prefill_ms(double x, int) const override { return prefill(x); }
  double itl_ms(double x, int) const override { return decode(x); }
  double tokens_per_request() const override { return out_tokens_; }

  MeanSplit mean_split(double service_ms, double num_in_service, int batch_cap) const override {
    // Effective concurrency: the batch size at which one request's service time equals S.
    const double fixed = (in_tokens_ > 0 ? prefill_gamma_ : 0.0) + decode_alpha_ * decode_steps_;
    const double slope = prefill_delta_ * in_tokens_ + decode_beta_ * decode_steps_;
    // b_eff = (S - fixed)/slope amplifies S's rounding error (~1e-15·S) by 1/slope. When the
    // whole batch range moves the service time by less than 1e-8·S (slope 0, or a vanishing
    // prompt with no decode step), S cannot resolve b_eff to 1e-7·N: use L_s instead.
    const double b_eff =
        !(slope * batch_cap > 1e-8 * service_ms)
            ? num_in_service
            : std::clamp((service_ms - fixed) / slope, 0.0, static_cast<double>(batch_cap));
    MeanSplit split;
    split.prefill_ms = prefill(b_eff);
    split.itl_ms = decode(b_eff);
    split.post_queue_ms = split.prefill_ms;
    return split;
  }

 private:
  double prefill(double b) const {
    return in_tokens_ > 0 ? prefill_gamma_ + prefill_delta_ * in_tokens_ * b : 0.0;
  }
  double decode(double b) const { return decode_alpha_ + decode_beta_ * b; }

  double decode_alpha_, decode_beta_, prefill_gamma_, prefill_delta_;
  double in_tokens_, out_tokens_;
  double decode_steps_;
};

}  // namespace

ServiceModelInfo prefill_decode_model_info() {
  ServiceModelInfo info;
  info.name = "prefill-decode";
  info.description = "separate prefill and decode step times (decodeParms / prefillParms)";
  info.params = {
      {"decode_alpha", "ms", "decode step time at zero batch (decodeParms.alpha)", 0.0, false},
      {"decode_beta", "ms/request", "decode step time per batch member (decodeParms.beta)", 0.0,
       false},
      {"prefill_gamma", "ms", "fixed prefill time (prefillParms.gamma)", 0.0, false},
      {"prefill_delta", "ms/token/request",
       "prefill time per input token per batch member (prefillParms.delta)", 0.0, false},
  };
  info.make = [](const ModelParams& p, const RequestShape& shape, int max_batch) {
    return std::make_unique<PrefillDecodeModel>(p, shape, max_batch);
  };
  return info;
}

}  // namespace inferno::queue
