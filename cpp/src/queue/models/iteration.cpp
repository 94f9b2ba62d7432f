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
  // The 1e-9 guard absorbs rounding when v is mathematically an integer (spec §3.3.3).
  const double limit = std::floor(std::max(0.0, v) + 1e-9);
  return limit >= 9.0e18 ? std::int64_t{9000000000000000000} : static_cast<std::int64_t>(limit);
}

double IterationModel::prefill_work(double chunks) const {
  return (beta_ + gamma_ * (chunks + 1.0) / 2.0) * in_tokens_;
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
  // Mean-field split at X̄ = L_s (spec §3.3.4); ITL is the residual so that
  // T = TTFT + (m - 1)·ITL holds exactly.
  const double c = static_cast<double>(chunks_for_occupancy(num_in_service, batch_cap));
  MeanSplit split;
  split.prefill_ms = prefill_at(num_in_service, c);
  split.itl_ms = (service_ms - split.prefill_ms) / out_tokens_;
  // The prefill is evaluated at the mean occupancy and S is exact: with very few output tokens
  // and many chunks (m = 1, a 3244-token prompt in 100 chunks) the residual could fall below the
  // ITL of a request decoding alone, even below 0. Hold the ITL there and give the prefill the
  // rest, so that T = TTFT + (m-1)·ITL still holds and neither part is negative.
  const double alone_itl = itl_at(1.0, static_cast<double>(chunks_[0]));
  if (!(split.itl_ms >= alone_itl)) {
    split.itl_ms = std::min(alone_itl, service_ms / (out_tokens_ + 1.0));
    split.prefill_ms = service_ms - out_tokens_ * split.itl_ms;
  }
  split.post_queue_ms = split.prefill_ms + split.itl_ms;
  // The wait for the iteration in progress is uniform over it, not its mean (0 without it).
  split.post_queue_spread_ms = 2.0 * admission_ms(num_in_service, c);
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
