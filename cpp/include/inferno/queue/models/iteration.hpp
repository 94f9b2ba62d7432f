#pragma once
// The default service model (docs/queueing-model.md §3.1): continuous batching with chunked prefill under a
// per-iteration token budget. Exposed so that tests and tools can reach its primitives.
#include <cstdint>
#include <vector>

#include "inferno/queue/service_model.hpp"

namespace inferno::queue {

/// What the `vllm` service model adds to the iteration loop (all zero/false: `iteration` itself).
/// docs/queueing-model.md §3.6 derives them.
struct EngineOverheads {
  double per_sequence_ms = 0;   // δ: an iteration with b sequences takes δ·b² more
  bool iteration_wait = false;  // a new request first waits for the iteration in progress
  double attention_ms = 0;      // ε: prefill attention per pair of prompt tokens (causal: ε·n²/2)
};

class IterationModel final : public ServiceModel {
 public:
  IterationModel(double alpha_ms, double beta_ms, double gamma_ms, const RequestShape& shape,
                 int max_batch, const EngineOverheads& overheads = EngineOverheads(),
                 std::string kind = "iteration");

  const std::string& kind() const override { return kind_; }
  double prefill_ms(double x, int batch_cap) const override;
  double itl_ms(double x, int batch_cap) const override;
  MeanSplit mean_split(double service_ms, double num_in_service, int batch_cap) const override;
  /// `vllm` (iteration_wait): the time to first token from the prefills that share the request's
  /// iterations and the phase of its arrival, for random (scv 1) or evenly spaced (scv 0)
  /// arrivals and, linearly in scv, anything between or burstier (docs/queueing-model.md §3.6).
  MeanSplit mean_split_for_arrivals(double service_ms, double num_in_service, int batch_cap,
                                    double arrival_scv) const override;
  double tokens_per_request() const override { return out_tokens_; }

  /// nc(B): prefill chunks of a request in a batch of B (1 <= B <= max_batch()).
  std::int64_t chunk_count(int batch) const { return chunks_[batch - 1]; }
  /// b_c: the largest batch in which a prompt can be prefilled in c chunks.
  std::int64_t batch_limit_for_chunks(std::int64_t chunks) const;
  double attention_work() const;              // ε·n²/2: the prompt's attention, ms
  double prefill_work(double chunks) const;   // w_pre(c), ms
  double decode_work() const { return decode_work_; }  // w_dec, ms
  double work_per_iteration(double chunks) const;  // δ(c), ms
  double iteration_ms(double x, double chunks) const;  // T_iter(x, c)
  double admission_ms(double x, double chunks) const;  // the wait for the iteration in progress
  double prefill_at(double x, double chunks) const;    // P(x, c)
  double itl_at(double x, double chunks) const;        // itl(x, c)

 private:
  double background_ms(double x, double chunks) const;  // bg(x, c)
  std::int64_t chunks_for_occupancy(double x, int batch_cap) const;

  double alpha_, beta_, gamma_;
  EngineOverheads overheads_;
  std::string kind_;
  double in_tokens_, out_tokens_;
  double max_num_tokens_;
  double decode_work_;
  std::vector<std::int64_t> chunks_;
};

/// Registry entry of the iteration model (its parameters are shared by `iteration-v2`).
ServiceModelInfo iteration_model_info();
/// Registry entry of the `vllm` model: the iteration loop with the engine's overheads.
ServiceModelInfo vllm_model_info();

}  // namespace inferno::queue
