#include "inferno/sizing/model.hpp"

#include <cmath>
#include <string>

#include "inferno/error.hpp"

namespace inferno::sizing {

namespace {

void positive_int(int v, const char* field) { require(v >= 1, field, "an integer >= 1", v); }

}  // namespace

void ModelArch::validate() const {
  positive_int(layers, "num_hidden_layers");
  positive_int(hidden, "hidden_size");
  positive_int(heads, "num_attention_heads");
  positive_int(kv_heads, "num_key_value_heads");
  positive_int(head_dim, "head_dim");
  positive_int(intermediate, "intermediate_size");
  positive_int(vocab, "vocab_size");
  positive_int(max_pos, "max_position_embeddings");
  if (heads % kv_heads != 0)
    throw InvalidArgument("num_key_value_heads must divide num_attention_heads (" + std::to_string(heads) + "), got " +
                          std::to_string(kv_heads));
  if (experts < 0 || experts_per_token < 0 || learned_pos < 0 || sliding_window < 0 || shared_expert_intermediate < 0)
    throw InvalidArgument("num_local_experts, num_experts_per_tok, learned positions, sliding_window and "
                          "shared_expert_intermediate_size must be >= 0");
  if (experts > 0) {
    require(experts_per_token >= 1 && experts_per_token <= experts, "num_experts_per_tok",
            "in [1, num_local_experts = " + std::to_string(experts) + "]", experts_per_token);
    positive_int(expert_intermediate, "moe_intermediate_size");
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
