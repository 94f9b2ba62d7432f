// The `vllm` service model: the iteration loop of `iteration` (chunked prefill under a token
// budget) with two things a vLLM server adds to it, seen in real sweeps (docs/validation.md;
// derivation in docs/queueing-model.md §3.6):
//   wait   a new request joins at the next iteration boundary: half an iteration of the others;
//   δ·b²   per-sequence costs (scheduling, sampling, detokenising each sequence) that make an
//          iteration of b sequences grow faster than linearly at large batches.
// With δ = 0 it differs from `iteration` only by the iteration wait.
#include <memory>

#include "inferno/queue/models/iteration.hpp"
#include "inferno/queue/service_model.hpp"

namespace inferno::queue {

ServiceModelInfo vllm_model_info() {
  ServiceModelInfo info = iteration_model_info();
  info.name = "vllm";
  info.description =
      "the iteration loop as vLLM runs it: a new request waits for the iteration in progress, and "
      "a per-sequence cost makes large batches slower";
  info.params.push_back({"delta", "ms", "per-sequence cost: an iteration of b sequences takes delta*b^2 more",
                         0.0, false, 1e6, 1e-4});
  info.params.push_back({"epsilon", "ms/token^2", "prefill attention: a prompt of n tokens takes epsilon*n^2/2 more",
                         0.0, false, 1e6, 1e-6});
  info.make = [](const ModelParams& p, const RequestShape& shape, int max_batch) {
    EngineOverheads overheads;
    overheads.per_sequence_ms = p.at("delta");
    overheads.iteration_wait = true;
    overheads.attention_ms = p.at("epsilon");
    return std::make_unique<IterationModel>(p.at("alpha"), p.at("beta"), p.at("gamma"), shape, max_batch,
                                            overheads, "vllm");
  };
  return info;
}

}  // namespace inferno::queue
