#pragma once
// Model architecture (docs/sizing.md §2): the Hugging Face config subset the roofline needs, serving
// options of the vLLM engine, and exact parameter and KV-cache counts.
#include <cstdint>
#include <string>

#include "inferno/enum_names.hpp"

namespace inferno::sizing {

enum class MlpKind { gated, plain };
enum class NormKind { rms, layer_norm };

struct ModelArch {
  std::string name;        // registry name (HF id), may be empty
  std::string model_type;  // llama, mistral, mixtral, qwen2, granite, opt, gpt2, ...
  int layers = 0;          // L   [num_hidden_layers]
  int hidden = 0;          // h   [hidden_size]
  int heads = 0;           // n_h [num_attention_heads]
  int kv_heads = 0;        // n_kv [num_key_value_heads], default n_h
  int head_dim = 0;        // d   [head_dim], default h / n_h
  int intermediate = 0;    // I   [intermediate_size] (OPT: ffn_dim)
  int vocab = 0;           // V   [vocab_size]
  bool tie_embeddings = false;
  int experts = 0;         // E (0 = dense)
  int experts_per_token = 0;  // k
  int expert_intermediate = 0;  // I_e, default I
  int shared_expert_intermediate = 0;
  MlpKind mlp = MlpKind::gated;
  NormKind norm = NormKind::rms;
  bool attn_bias = false, qkv_bias = false, mlp_bias = false;
  int learned_pos = 0;     // rows of learned position embeddings (OPT: max_pos + 2)
  int max_pos = 0;         // [max_position_embeddings]
  int sliding_window = 0;  // 0 = none

  /// Checks the shapes (positive sizes, n_h divisible by n_kv, k <= E) and throws
  /// InvalidArgument naming the field.
  void validate() const;
};

enum class ComputeDtype { bf16, fp8 };
inline constexpr EnumName<ComputeDtype> kComputeDtypes[] = {
    {ComputeDtype::bf16, "bf16"}, {ComputeDtype::bf16, "fp16"}, {ComputeDtype::fp8, "fp8"}};

struct ServingOpts {
  double weight_bytes = 2;         // b_w: bf16/fp16 2, fp8/int8 1, int4 0.5
  double quant_overhead = 0;       // extra bytes per weight for scales/zeros
  double kv_bytes = 2;             // b_kv: auto (activation dtype) 2, fp8 1
  ComputeDtype compute = ComputeDtype::bf16;
  double gpu_mem_util = 0.90;      // vLLM --gpu-memory-utilization
  int max_num_seqs = 256;          // vLLM --max-num-seqs
  int max_num_batched_tokens = 8192;
  int max_model_len = 0;           // 0 = the model's max_pos
  int block = 16;                  // KV block size, tokens
  int tp = 1;                      // tensor-parallel degree (whole GPUs only)
  int pp = 1;                      // pipeline-parallel stages, each of tp GPUs (whole GPUs only)

  void validate() const;
};

/// Exact counts of docs/sizing.md §2 (integers, carried in int64).
struct Counts {
  std::int64_t p_total = 0;    // resident parameters
  std::int64_t p_active = 0;   // parameters touched by one token
  std::int64_t p_matmul = 0;   // weight-matrix elements multiplied per token (LM head included)
  std::int64_t p_expert = 0;   // parameters of one expert's MLP in one layer (0 for dense)
  std::int64_t kv_elements_per_token = 0;  // 2·L·n_kv·d
  std::int64_t attn_flop_coeff = 0;        // 4·L·n_h·d: attention FLOPs per (token × context token)
};

Counts count_params(const ModelArch& arch);

}  // namespace inferno::sizing
