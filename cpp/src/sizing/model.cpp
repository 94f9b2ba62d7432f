#include "inferno/sizing/model.hpp"

#include <cmath>
#include <string>

#include "inferno/error.hpp"
#include "inferno/sizing/catalog.hpp"

namespace inferno::sizing {

namespace {

void positive_int(int v, const char* field) { require(v >= 1, field, "an integer >= 1", v); }

}  // namespace

void ModelArch::validate() const {
  // Upper bounds keep every parameter count inside a 64-bit integer (the largest product,
  // experts × 3·h·I × L, stays below 3.1e18) and are far above any published model; see
  // docs/sizing.md, "Input ranges".
  const auto count = [](int v, const char* field, int lo, int hi) {
    require(v >= lo && v <= hi, field, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", v);
  };
  count(layers, "num_hidden_layers", 1, 1000);
  count(hidden, "hidden_size", 1, 1000000);
  count(heads, "num_attention_heads", 1, 100000);
  count(kv_heads, "num_key_value_heads", 1, heads);
  count(head_dim, "head_dim", 1, 100000);
  require(std::int64_t{heads} * head_dim <= 1000000, "num_attention_heads x head_dim", "at most 1000000",
          static_cast<double>(std::int64_t{heads} * head_dim));
  count(intermediate, "intermediate_size", 1, 1000000);
  count(vocab, "vocab_size", 1, 100000000);
  count(max_pos, "max_position_embeddings", 1, 1000000000);
  if (heads % kv_heads != 0)
    throw InvalidArgument("num_key_value_heads must divide num_attention_heads (" + std::to_string(heads) + "), got " +
                          std::to_string(kv_heads));
  count(experts, "num_local_experts", 0, 1024);
  count(learned_pos, "learned position embeddings", 0, 1000000002);
  count(sliding_window, "sliding_window", 0, 1000000000);
  count(shared_expert_intermediate, "shared_expert_intermediate_size", 0, 1000000);
  if (experts > 0) {
    require(experts_per_token >= 1 && experts_per_token <= experts, "num_experts_per_tok",
            "in [1, num_local_experts = " + std::to_string(experts) + "]", experts_per_token);
    count(expert_intermediate, "moe_intermediate_size", 1, 1000000);
  }
}

void ServingOpts::validate() const {
  auto in_range = [](double v, double lo, double hi, const char* field) {
    require(std::isfinite(v) && v > lo && v <= hi, field, "in (" + format_number(lo) + ", " + format_number(hi) + "]", v);
  };
  in_range(weight_bytes, 0, 8, "weightBytes");
  require(std::isfinite(quant_overhead) && quant_overhead >= 0 && quant_overhead < 8, "quantOverhead", "in [0, 8)", quant_overhead);
  in_range(kv_bytes, 0, 8, "kvBytes");
  in_range(gpu_mem_util, 0, 1, "gpuMemoryUtilization");
  positive_int(max_num_seqs, "maxNumSeqs");
  positive_int(max_num_batched_tokens, "maxNumBatchedTokens");
  if (max_model_len < 0) throw InvalidArgument("maxModelLen must be >= 0 (0 = the model's max_position_embeddings)");
  positive_int(block, "blockSize");
  positive_int(tp, "tensorParallelSize");
  if (tp > kMaxNodeGpus) throw InvalidArgument("tensorParallelSize must be at most 64 (GPUs of one node), got " + std::to_string(tp));
  positive_int(pp, "pipelineParallelSize");
  if (pp > 1024) throw InvalidArgument("pipelineParallelSize must be at most 1024, got " + std::to_string(pp));
}

Counts count_params(const ModelArch& a) {
  a.validate();
  using I64 = std::int64_t;
  const I64 h = a.hidden, L = a.layers, V = a.vocab;
  const I64 q = I64{a.heads} * a.head_dim, kv = I64{a.kv_heads} * a.head_dim;
  const I64 attn = h * q + 2 * h * kv + q * h;
  const I64 attn_bias = a.attn_bias ? q + 2 * kv + h : (a.qkv_bias ? q + 2 * kv : 0);
  const bool moe = a.experts > 0;
  const I64 ie = moe ? a.expert_intermediate : a.intermediate;
  const I64 mlp_weights_one = (a.mlp == MlpKind::gated ? 3 : 2) * h * ie;
  const I64 expert = mlp_weights_one + (a.mlp_bias ? ie + h : 0);
  const I64 shared = (a.mlp == MlpKind::gated ? 3 : 2) * h * I64{a.shared_expert_intermediate};
  const I64 mlp_total = moe ? a.experts * expert + h * a.experts + shared : expert;
  const I64 mlp_active = moe ? a.experts_per_token * expert + h * a.experts + shared : expert;
  const I64 mlp_matmul = moe ? a.experts_per_token * mlp_weights_one + shared : mlp_weights_one;
  const I64 norms = a.norm == NormKind::layer_norm ? 4 * h : 2 * h;
  const I64 final_norm = a.norm == NormKind::layer_norm ? 2 * h : h;
  const I64 embed = V * h + I64{a.learned_pos} * h;
  const I64 head = a.tie_embeddings ? 0 : V * h;
  Counts c;
  c.p_total = embed + L * (attn + attn_bias + mlp_total + norms) + final_norm + head;
  c.p_active = embed + L * (attn + attn_bias + mlp_active + norms) + final_norm + head;
  c.p_matmul = L * (attn + mlp_matmul) + V * h;
  c.p_expert = moe ? expert : 0;
  c.kv_elements_per_token = 2 * L * kv;
  c.attn_flop_coeff = 4 * L * q;
  return c;
}

}  // namespace inferno::sizing
