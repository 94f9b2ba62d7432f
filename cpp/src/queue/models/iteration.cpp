#include "inferno/queue/models/iteration.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "inferno/error.hpp"

namespace inferno::queue {

namespace {
// Far beyond any real prompt/budget ratio; stops the chunk search on absurd inputs.
constexpr std::int64_t kMaxChunks = std::int64_t{1} << 40;
}  // namespace

IterationModel::IterationModel(double alpha_ms, double beta_ms, double gamma_ms,
                               const RequestShape& shape, int max_batch, const EngineOverheads& overheads,
                               std::string kind)
    : alpha_(alpha_ms),
      beta_(beta_ms),
      gamma_(gamma_ms),
      overheads_(overheads),
      kind_(std::move(kind)),
      in_tokens_(shape.in_tokens),
      out_tokens_(shape.out_tokens),
      max_num_tokens_(shape.max_num_tokens) {
  if (alpha_ == 0 && beta_ == 0 && gamma_ == 0)
    throw InvalidArgument("alpha, beta and gamma must not all be 0 (the service time would be 0)");
  const double m = out_tokens_, n = in_tokens_;
  decode_work_ = beta_ * m + gamma_ * m * (n + (m + 1.0) / 2.0);

  // nc(B) = min{c : b_c >= B}. b_c is non-decreasing in c, so walk the distinct table values,
  // finding each next c by exponential then binary search (O(N log C) even for huge prompts).
  chunks_.assign(static_cast<std::size_t>(max_batch), 0);
  int batch = 1;
  std::int64_t c_from = 1;
  while (batch <= max_batch) {
    std::int64_t hi = c_from;
    while (batch_limit_for_chunks(hi) < batch) {
      if (hi >= kMaxChunks)
        throw InvalidArgument("in_tokens is too large for max_num_tokens: a prompt of " +
                              std::to_string(n) + " tokens cannot be prefilled in batch " +
                              std::to_string(batch));
      hi = std::min(kMaxChunks, hi * 2);
    }
    std::int64_t lo = std::max(c_from, hi / 2);
    while (lo < hi) {  // smallest c in [lo, hi] with b_c >= batch
      const std::int64_t mid = lo + (hi - lo) / 2;
      if (batch_limit_for_chunks(mid) >= batch) hi = mid; else lo = mid + 1;
    }
    const std::int64_t limit = std::min<std::int64_t>(batch_limit_for_chunks(hi), max_batch);
    for (; batch <= limit; ++batch) chunks_[batch - 1] = hi;
    c_from = hi + 1;
  }

  service_times_ms_.resize(static_cast<std::size_t>(max_batch));
  for (int b = 1; b <= max_batch; ++b) {
    const double c = static_cast<double>(chunks_[b - 1]);
    service_times_ms_[b - 1] = (c + m) * iteration_ms(b, c) + admission_ms(b, c);
  }
}

std::int64_t IterationModel::batch_limit_for_chunks(std::int64_t chunks) const {
  const double c = static_cast<double>(chunks);
  const double n = in_tokens_, m = out_tokens_;
  const double v = (c + m) * (max_num_tokens_ - n / c) / (n + m);
  // The 1e-9 guard absorbs rounding when v is mathematically an integer (docs/queueing-model.md §3.1).
  const double limit = std::floor(std::max(0.0, v) + 1e-9);
  return limit >= 9.0e18 ? std::int64_t{9000000000000000000} : static_cast<std::int64_t>(limit);
}

double IterationModel::attention_work() const { return overheads_.attention_ms * 0.5 * in_tokens_ * in_tokens_; }

double IterationModel::prefill_work(double chunks) const {
  return (beta_ + gamma_ * (chunks + 1.0) / 2.0) * in_tokens_ + attention_work();
}

double IterationModel::work_per_iteration(double chunks) const {
  return (prefill_work(chunks) + decode_work_) / (chunks + out_tokens_);
}

double IterationModel::iteration_ms(double x, double chunks) const {
  return alpha_ + x * work_per_iteration(chunks) + overheads_.per_sequence_ms * x * x;
}

double IterationModel::background_ms(double x, double chunks) const {
  // Everything of an iteration of x sequences but the request's own work: the per-sequence
  // overhead δ·x² belongs to the iteration as a whole.
  return std::max(0.0, alpha_ + (x - 1.0) * work_per_iteration(chunks) + overheads_.per_sequence_ms * x * x);
}

double IterationModel::admission_ms(double x, double chunks) const {
  if (!overheads_.iteration_wait) return 0.0;
  // The others (x - 1 of them on average) keep the engine iterating; a new request joins at the
  // next iteration boundary, on average half an iteration of theirs away. With fewer than one
  // other the engine is idle part of the time: the wait scales down to 0 with them.
  const double others = std::max(0.0, x - 1.0);
  return 0.5 * std::min(1.0, others) * iteration_ms(others, chunks);
}

double IterationModel::prefill_at(double x, double chunks) const {
  return admission_ms(x, chunks) + chunks * background_ms(x, chunks) + prefill_work(chunks);
}

double IterationModel::itl_at(double x, double chunks) const {
  return background_ms(x, chunks) + beta_ + gamma_ * (in_tokens_ + (out_tokens_ + 1.0) / 2.0);
}

std::int64_t IterationModel::chunks_for_occupancy(double x, int batch_cap) const {
  const double rounded = std::floor(x + 0.5);
  // Checked before the cast: a NaN occupancy must not become an index.
  if (!(rounded >= 1.0)) return chunks_[0];
  const int b = static_cast<int>(std::min(rounded, static_cast<double>(batch_cap)));
  return chunks_[b - 1];
}

double IterationModel::prefill_ms(double x, int batch_cap) const {
  return prefill_at(x, static_cast<double>(chunks_for_occupancy(x, batch_cap)));
}

double IterationModel::itl_ms(double x, int batch_cap) const {
  return itl_at(x, static_cast<double>(chunks_for_occupancy(x, batch_cap)));
}

MeanSplit IterationModel::mean_split(double service_ms, double num_in_service, int batch_cap) const {
  // Mean-field split at X̄ = L_s (docs/queueing-model.md §3.1); ITL is the residual so that
  // T = TTFT + (m - 1)·ITL holds exactly.
  const double c = static_cast<double>(chunks_for_occupancy(num_in_service, batch_cap));
  MeanSplit split;
  split.prefill_ms = prefill_at(num_in_service, c);
  split.itl_ms = (service_ms - split.prefill_ms) / out_tokens_;
  // The prefill is evaluated at the mean occupancy and S is exact: with very few output tokens
  // and many chunks (m = 1, a 3244-token prompt in 100 chunks) the residual could fall below the
  // ITL of a request decoding alone, even below 0. Hold the ITL there and give the prefill the
  // rest, so that T = TTFT + (m-1)·ITL still holds and neither part is negative. The hold is
  // continuous: at a batch cap of 1, S is exactly prefill + m·(ITL alone), and which side of the
  // test the residual lands on is a matter of the last bit; both sides must give the same split.
  const double alone_itl = itl_at(1.0, static_cast<double>(chunks_[0]));
  if (!(split.itl_ms >= alone_itl)) {
    split.itl_ms = std::min(alone_itl, service_ms / out_tokens_);
    split.prefill_ms = service_ms - out_tokens_ * split.itl_ms;
  }
  split.post_queue_ms = split.prefill_ms + split.itl_ms;
  // How the request's own prefill moves with its prompt length, n·∂p/∂n: the linear work once,
  // the attention ε·n²/2 twice (a prompt 10 % longer has 21 % more token pairs).
  split.own_prefill_ms = prefill_work(c) + attention_work();
  // The wait for the iteration in progress is uniform over it, not its mean (0 without it).
  split.post_queue_spread_ms = 2.0 * admission_ms(num_in_service, c);
  return split;
}

namespace {
// ∫_0^z floor(t) dt: with deterministic arrivals 1/λ apart, E[floor(λU)] for U uniform on [a, b]
// is (F(λb) - F(λa)) / (λ(b - a)): continuous in the load, unlike floor itself.
double floor_integral(double z) {
  const double k = std::floor(std::max(0.0, z));
  return 0.5 * k * (k - 1.0) + k * (std::max(0.0, z) - k);
}
// Mean number of arrivals of an evenly spaced stream (rate λ per ms) in (0, t], t = U + shift,
// U uniform on [0, width]: the arrivals after a tagged one within its window.
double spaced_arrivals(double lambda, double shift, double width) {
  if (!(lambda * width > 1e-12)) return std::floor(std::max(0.0, lambda * shift));
  return (floor_integral(lambda * (shift + width)) - floor_integral(lambda * shift)) / (lambda * width);
}
}  // namespace

MeanSplit IterationModel::mean_split_for_arrivals(double service_ms, double num_in_service, int batch_cap,
                                                  double arrival_scv) const {
  MeanSplit split = mean_split(service_ms, num_in_service, batch_cap);
  if (!overheads_.iteration_wait || !(service_ms > 0)) return split;
  // Derivation: docs/queueing-model.md §3.6. Notation: x residents, λ their arrival rate (Little
  // on the service stage), p the request's prefill work in c chunks of p1 each; an arrival adds
  // one chunk's work to the iteration after the one it arrived in.
  const double x = std::max(1.0, num_in_service);
  const double c = static_cast<double>(chunks_for_occupancy(num_in_service, batch_cap));
  const double lambda = num_in_service / service_ms;
  const double others = x - 1.0;
  const double idle_scale = std::min(1.0, others);  // an idle engine starts a request at once
  const double m = out_tokens_;
  const double p = prefill_work(c), p1 = p / c;
  const double decode_share = decode_work_ / (c + m), prefill_share = p / (c + m);
  // An iteration of the others without prefill work, and with their mean prefill work.
  const double bare = alpha_ + others * decode_share + overheads_.per_sequence_ms * x * x;
  const double mean_field = bare + others * prefill_share;
  const double own_decode = beta_ + gamma_ * (in_tokens_ + (m + 1.0) / 2.0);

  // Random arrivals: the iteration in progress is length-biased, E[T²]/E[T]; its variance comes
  // from the number of prefills admitted at its start (renewal: Var T = p1²λT̄ / (1 - (λp1)²)).
  const double load = std::min(0.95, lambda * p1);
  const double second = mean_field * mean_field + p1 * p1 * lambda * mean_field / (1.0 - load * load);
  const double biased = mean_field > 0 ? second / mean_field : 0.0;  // 0: iterations take no time
  const double wait_random = idle_scale * 0.5 * biased;
  const double joined_random = idle_scale * lambda * biased;  // others admitted with it
  const double prefill_random = c * bare + p + p1 * joined_random + (c - 1.0) * (mean_field - bare);
  const double during_random = lambda * (bare + p1 + p1 * joined_random);  // join its first decode step
  const double post_random = wait_random + prefill_random + bare + own_decode + p1 * during_random;

  // Evenly spaced arrivals: no other arrival within 1/λ of it. It lands in an iteration of the
  // others (bare, plus the prefills that joined it), at a uniform phase; those arriving during
  // its wait join its prefill, those during its prefill its first decode step. Three passes of
  // the fixed point (the iteration in progress holds the previous arrival's followers).
  double in_progress = bare, joined = 0, during = 0, prefill = c * bare + p;
  for (int pass = 0; pass < 3; ++pass) {
    joined = spaced_arrivals(lambda, 0.0, in_progress);
    prefill = c * bare + p + p1 * joined;
    during = std::max(0.0, spaced_arrivals(lambda, prefill, in_progress) - joined);
    in_progress = bare + p1 * during;
  }
  const double wait_spaced = idle_scale * 0.5 * in_progress;
  const double post_spaced = wait_spaced + prefill + bare + own_decode + p1 * during;

  const double scv = std::max(0.0, arrival_scv);
  const double post = post_spaced + scv * (post_random - post_spaced);

  // Decoding with evenly spaced arrivals: the prefills that land in the request's decode window
  // are the arrivals on the grid k/λ (its own arrival at 0) between its first token and its
  // last, a step function of the window, not the λ·(window) of the mean field (which random
  // arrivals do follow). The window D is the least solution of D = (m - 1)·step + p·N(D), N
  // counted with the iteration boundary's phase (one decode step) smoothing the steps. The
  // decoders sharing each step are, by Little's law over the request's own stay, λ·(TTFT + D) - 1
  // (the birth-death chain's occupancy is that of random arrivals, higher). The window grows from
  // its bare length by what lands in it, which may bring more: the iteration rises monotonically
  // to the least solution, geometrically at rate about λ·(p + m·w_dec/(c + m)) below saturation.
  // Random or burstier arrivals keep the mean split's ITL: the window is not computed for them.
  double itl_spaced = split.itl_ms;
  const double cap = static_cast<double>(batch_cap);
  if (scv < 1.0 && m > 1 && lambda > 0 && x < cap) {
    const auto step_at = [&](double window) {
      const double sharing = std::clamp(lambda * (post_spaced + window) - 1.0, 0.0, cap - 1.0);
      return alpha_ + sharing * decode_share + overheads_.per_sequence_ms * (sharing + 1.0) * (sharing + 1.0) +
             own_decode;
    };
    const double phase = step_at(0.0);  // the smoothing width: one decode step
    const double before = spaced_arrivals(lambda, post_spaced - 0.5 * phase, phase);
    double window = (m - 1.0) * phase;
    for (int pass = 0; pass < 200; ++pass) {
      const double landed = std::max(0.0, spaced_arrivals(lambda, post_spaced + window - 0.5 * phase, phase) - before);
      const double next = (m - 1.0) * step_at(window) + p * landed;
      const bool settled = next - window <= 1e-12 * next;
      window = std::max(window, next);
      if (settled) break;
    }
    itl_spaced = window / (m - 1.0);
  }
  // Between the two patterns the ITL interpolates; burstier than random it stays the mean split's
  // (extrapolating the difference could take it below zero).
  const double itl = scv >= 1.0 ? split.itl_ms : itl_spaced + scv * (split.itl_ms - itl_spaced);
  split.arrival_adjust_ms = post - split.post_queue_ms + (m - 1.0) * (itl - split.itl_ms);
  split.itl_ms = itl;
  split.post_queue_ms = post;
  split.prefill_ms = post - split.itl_ms;
  split.post_queue_spread_ms = 2.0 * std::max(0.0, wait_spaced + scv * (wait_random - wait_spaced));
  return split;
}

ServiceModelInfo iteration_model_info() {
  ServiceModelInfo info;
  info.name = "iteration";
  info.description =
      "continuous batching with chunked prefill under a per-iteration token budget (default)";
  info.params = {
      {"alpha", "ms", "fixed time per engine iteration", 0.0, false},
      {"beta", "ms/token", "compute time per processed token", 0.0, false},
      {"gamma", "ms/token", "KV-cache read time per cached token per iteration", 0.0, false},
  };
  info.make = [](const ModelParams& p, const RequestShape& shape, int max_batch) {
    return std::make_unique<IterationModel>(p.at("alpha"), p.at("beta"), p.at("gamma"), shape,
                                            max_batch);
  };
  return info;
}

}  // namespace inferno::queue
