#include "inferno/io/sizing_json.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "inferno/error.hpp"
#include "inferno/io/json.hpp"

namespace inferno::io {

using json = nlohmann::json;
using namespace inferno::sizing;

namespace {

// Sizing documents are read with io::parse_json: case-sensitive, since their maps are keyed by
// model and GPU names.
const json* child(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

void require_object(const json& v, const std::string& where) {
  if (!v.is_object()) throw InvalidArgument(where + " must be a JSON object, got " + io::excerpt(v));
}

int get_int(const json& obj, const std::string& key, const std::string& name, int fallback) {
  const auto v = get_integer(obj, key, name);
  if (!v) return fallback;
  if (*v < -2147483647 || *v > 2147483647) throw InvalidArgument(name + " is out of range, got " + std::to_string(*v));
  return static_cast<int>(*v);
}

double get_num(const json& obj, const std::string& key, const std::string& name, double fallback) {
  return get_number(obj, key, name).value_or(fallback);
}

// Keys the reader knows, to reject typos instead of silently ignoring them.
void check_keys(const json& obj, const std::string& where, std::initializer_list<const char*> known) {
  for (const auto& [k, v] : obj.items()) {
    bool ok = false;
    for (const char* name : known) ok = ok || k == name;
    if (!ok) {
      std::string list;
      for (const char* name : known) list += (list.empty() ? "" : ", ") + std::string(name);
      throw InvalidArgument(where + ": unknown key \"" + k + "\"; allowed: " + list);
    }
  }
}

PowerSpec power_from(const json& obj, const std::string& where, PowerSpec p) {
  require_object(obj, where);
  check_keys(obj, where, {"idle", "midPower", "midUtil", "full"});
  p.idle_w = get_num(obj, "idle", where + ".idle", p.idle_w);
  p.mid_power_w = get_num(obj, "midPower", where + ".midPower", p.mid_power_w);
  p.mid_util = get_num(obj, "midUtil", where + ".midUtil", p.mid_util);
  p.full_w = get_num(obj, "full", where + ".full", p.full_w);
  return p;
}

GpuSpec gpu_from(const json& obj, const std::string& where, GpuSpec g) {
  check_keys(obj, where, {"id", "vendor", "memGiB", "memObserved", "bwGBps", "bf16TFlops", "fp8TFlops", "int8TOps", "tdpW",
                          "smCount", "migFamily", "k8sProduct", "cost", "power", "note"});
  g.vendor = get_string(obj, "vendor", where + ".vendor").value_or(g.vendor);
  if (const auto v = get_number(obj, "memGiB", where + ".memGiB")) g.mem_bytes = *v * kGiB;
  g.mem_observed = get_bool(obj, "memObserved", where + ".memObserved").value_or(g.mem_observed);
  if (const auto v = get_number(obj, "bwGBps", where + ".bwGBps")) g.bw_Bps = *v * 1e9;
  if (const auto v = get_number(obj, "bf16TFlops", where + ".bf16TFlops")) g.flops_bf16 = *v * 1e12;
  if (const auto v = get_number(obj, "fp8TFlops", where + ".fp8TFlops")) g.flops_fp8 = *v * 1e12;
  if (const auto v = get_number(obj, "int8TOps", where + ".int8TOps")) g.ops_int8 = *v * 1e12;
  g.tdp_w = get_num(obj, "tdpW", where + ".tdpW", g.tdp_w);
  g.sm_count = get_int(obj, "smCount", where + ".smCount", g.sm_count);
  g.mig_family = get_string(obj, "migFamily", where + ".migFamily").value_or(g.mig_family);
  g.k8s_product = get_string(obj, "k8sProduct", where + ".k8sProduct").value_or(g.k8s_product);
  g.cost = get_num(obj, "cost", where + ".cost", g.cost);
  if (const json* p = child(obj, "power")) g.power = power_from(*p, where + ".power", g.power);
  return g;
}

MigGeometry family_from(const json& obj, const std::string& name, const std::string& where) {
  require_object(obj, where);
  check_keys(obj, where, {"computeSlices", "memorySlices", "profiles", "note"});
  MigGeometry geo;
  geo.name = name;
  geo.compute_slices = get_int(obj, "computeSlices", where + ".computeSlices", 7);
  geo.memory_slices = get_int(obj, "memorySlices", where + ".memorySlices", 8);
  const json* profiles = child(obj, "profiles");
  if (!profiles || !profiles->is_array()) throw InvalidArgument(where + ".profiles must be an array of profiles");
  for (std::size_t i = 0; i < profiles->size(); ++i) {
    const json& p = (*profiles)[i];
    const std::string pw = where + ".profiles[" + std::to_string(i) + "]";
    require_object(p, pw);
    check_keys(p, pw, {"name", "nvmlId", "g", "memSlices", "starts", "maxCount", "smCount", "memGiB", "media", "observed", "note"});
    MigProfile m;
    m.name = get_string(p, "name", pw + ".name").value_or("");
    m.nvml_id = get_int(p, "nvmlId", pw + ".nvmlId", -1);
    m.g = get_int(p, "g", pw + ".g", 0);
    m.mem_slices = get_int(p, "memSlices", pw + ".memSlices", 0);
    if (const json* s = child(p, "starts")) {
      if (!s->is_array()) throw InvalidArgument(pw + ".starts must be an array of integers");
      for (const auto& v : *s) {
        if (!v.is_number_integer()) throw InvalidArgument(pw + ".starts must be an array of integers, got " + io::excerpt(v));
        m.starts.push_back(v.get<int>());
      }
    }
    m.max_count = get_int(p, "maxCount", pw + ".maxCount", static_cast<int>(m.starts.size()));
    m.sm_count = get_int(p, "smCount", pw + ".smCount", 0);
    m.mem_bytes = get_num(p, "memGiB", pw + ".memGiB", 0) * kGiB;
    m.media = get_bool(p, "media", pw + ".media").value_or(false);
    m.observed = get_bool(p, "observed", pw + ".observed").value_or(false);
    geo.profiles.push_back(std::move(m));
  }
  return geo;
}

json power_json(const PowerSpec& p) {
  return json{{"idle", p.idle_w}, {"midPower", p.mid_power_w}, {"midUtil", p.mid_util}, {"full", p.full_w}};
}

}  // namespace

void merge_catalog(Catalog& catalog, std::string_view text, const std::string& source) {
  const json doc = io::parse_json(text);
  const std::string where = source.empty() ? "catalog" : source;
  require_object(doc, where);
  check_keys(doc, where, {"gpus", "migFamilies", "note"});
  Catalog next = catalog;
  if (const json* fams = child(doc, "migFamilies")) {
    require_object(*fams, where + ".migFamilies");
    for (const auto& [name, f] : fams->items()) next.upsert_family(family_from(f, name, where + ".migFamilies." + name));
  }
  if (const json* gpus = child(doc, "gpus")) {
    if (!gpus->is_array()) throw InvalidArgument(where + ".gpus must be an array of GPU objects");
    for (std::size_t i = 0; i < gpus->size(); ++i) {
      const json& g = (*gpus)[i];
      const std::string gw = where + ".gpus[" + std::to_string(i) + "]";
      require_object(g, gw);
      const auto id = get_string(g, "id", gw + ".id");
      if (!id || id->empty()) throw InvalidArgument(gw + ".id is required");
      GpuSpec base;
      if (const GpuSpec* old = next.find_gpu(*id)) base = *old;
      base.id = *id;
      next.upsert_gpu(gpu_from(g, gw + " (" + *id + ")", base));
    }
  }
  try {
    next.validate();
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(where + ": " + e.what());
  }
  catalog = std::move(next);
}

json geometry_to_json(const MigGeometry& geo) {
  json profiles = json::array();
  for (const auto& p : geo.profiles)
    profiles.push_back({{"name", p.name}, {"nvmlId", p.nvml_id}, {"g", p.g}, {"memSlices", p.mem_slices}, {"starts", p.starts},
                        {"maxCount", p.max_count}, {"smCount", p.sm_count}, {"memGiB", p.mem_bytes / kGiB}, {"media", p.media},
                        {"observed", p.observed}});
  return json{{"computeSlices", geo.compute_slices}, {"memorySlices", geo.memory_slices}, {"profiles", profiles}};
}

json catalog_to_json(const Catalog& catalog) {
  json gpus = json::array();
  for (const auto& g : catalog.gpus())
    gpus.push_back({{"id", g.id}, {"vendor", g.vendor}, {"memGiB", g.mem_bytes / kGiB}, {"memObserved", g.mem_observed},
                    {"bwGBps", g.bw_Bps / 1e9}, {"bf16TFlops", g.flops_bf16 / 1e12}, {"fp8TFlops", g.flops_fp8 / 1e12},
                    {"int8TOps", g.ops_int8 / 1e12}, {"tdpW", g.tdp_w}, {"smCount", g.sm_count}, {"migFamily", g.mig_family},
                    {"k8sProduct", g.k8s_product}, {"cost", g.cost}, {"power", power_json(g.power)}});
  json fams = json::object();
  for (const auto& [name, geo] : catalog.mig_families()) fams[name] = geometry_to_json(geo);
  return json{{"gpus", gpus}, {"migFamilies", fams}};
}

// ---- model architectures -------------------------------------------------------------------

ModelArch arch_from_hf_config(std::string_view text, const std::string& name) {
  return arch_from_hf_config(io::parse_json(text), name);
}

ModelArch arch_from_hf_config(const json& c, const std::string& name) {
  require_object(c, "config");
  ModelArch a;
  a.model_type = get_string(c, "model_type", "model_type").value_or("");
  a.name = !name.empty() ? name : get_string(c, "_name_or_path", "_name_or_path").value_or(a.model_type);
  static const std::vector<std::string> gated_rms = {"llama", "mistral", "mixtral", "granite", "qwen2", "qwen2_moe", "qwen3"};
  const bool known_gated = std::find(gated_rms.begin(), gated_rms.end(), a.model_type) != gated_rms.end();
  const bool opt = a.model_type == "opt";
  const bool known = known_gated || opt;
  auto need = [&](const char* key) -> int {
    const auto v = get_integer(c, key, key);
    if (!v) {
      if (known) throw InvalidArgument(std::string("config: ") + key + " is required");
      throw InvalidArgument(std::string("config: ") + key + " is required (model_type \"" + a.model_type +
                            "\" has no known defaults; supported: llama, mistral, mixtral, granite, qwen2, qwen2_moe, qwen3, opt)");
    }
    if (*v < 0 || *v > 2147483647) throw InvalidArgument(std::string("config: ") + key + " is out of range");
    return static_cast<int>(*v);
  };
  a.layers = need("num_hidden_layers");
  a.hidden = need("hidden_size");
  a.heads = need("num_attention_heads");
  a.vocab = need("vocab_size");
  a.max_pos = need("max_position_embeddings");
  if (opt) {
    a.intermediate = need("ffn_dim");
    a.kv_heads = a.heads;
    a.mlp = MlpKind::plain;
    a.norm = NormKind::layer_norm;
    const bool bias = get_bool(c, "enable_bias", "enable_bias").value_or(true);
    a.attn_bias = a.mlp_bias = bias;
    a.learned_pos = a.max_pos + 2;  // OPT's learned positions carry an offset of 2
    const auto proj = get_integer(c, "word_embed_proj_dim", "word_embed_proj_dim");
    if (proj && *proj != a.hidden)
      throw InvalidArgument("config: word_embed_proj_dim different from hidden_size (projected embeddings) is not supported");
  } else {
    a.intermediate = need("intermediate_size");
    a.kv_heads = get_integer(c, "num_key_value_heads", "num_key_value_heads") ? need("num_key_value_heads") : (known ? a.heads : need("num_key_value_heads"));
    a.attn_bias = get_bool(c, "attention_bias", "attention_bias").value_or(false);
    a.mlp_bias = get_bool(c, "mlp_bias", "mlp_bias").value_or(false);
    a.qkv_bias = a.model_type == "qwen2" || a.model_type == "qwen2_moe";
  }
  if (get_integer(c, "head_dim", "head_dim")) a.head_dim = need("head_dim");
  else if (a.heads > 0) a.head_dim = a.hidden / a.heads;
  const auto tie = get_bool(c, "tie_word_embeddings", "tie_word_embeddings");
  if (!tie && !known)
    throw InvalidArgument("config: tie_word_embeddings is required (model_type \"" + a.model_type + "\" has no known default)");
  a.tie_embeddings = tie.value_or(opt);
  const bool has_local = get_integer(c, "num_local_experts", "num_local_experts").has_value();
  const bool has_experts = get_integer(c, "num_experts", "num_experts").has_value();
  if (has_local || has_experts) {
    a.experts = has_local ? need("num_local_experts") : need("num_experts");
    if (a.experts > 0) {
      a.experts_per_token = need("num_experts_per_tok");
      a.expert_intermediate = get_integer(c, "moe_intermediate_size", "moe_intermediate_size") ? need("moe_intermediate_size") : a.intermediate;
      if (get_integer(c, "shared_expert_intermediate_size", "shared_expert_intermediate_size"))
        a.shared_expert_intermediate = need("shared_expert_intermediate_size");
    }
  }
  if (get_integer(c, "sliding_window", "sliding_window")) a.sliding_window = need("sliding_window");
  try {
    a.validate();
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(std::string("config: ") + e.what());
  }
  return a;
}

json arch_to_json(const ModelArch& a, const Counts& c) {
  return json{{"name", a.name}, {"modelType", a.model_type}, {"layers", a.layers}, {"hidden", a.hidden}, {"heads", a.heads},
              {"kvHeads", a.kv_heads}, {"headDim", a.head_dim}, {"intermediate", a.intermediate}, {"vocab", a.vocab},
              {"tieEmbeddings", a.tie_embeddings}, {"experts", a.experts}, {"expertsPerToken", a.experts_per_token},
              {"maxPositionEmbeddings", a.max_pos}, {"paramsTotal", c.p_total}, {"paramsActive", c.p_active},
              {"paramsMatmul", c.p_matmul}, {"kvElementsPerToken", c.kv_elements_per_token}};
}

// ---- requests --------------------------------------------------------------------------------

namespace {

double dtype_bytes(const std::string& dtype, const std::string& where) {
  if (dtype == "bf16" || dtype == "bfloat16" || dtype == "fp16" || dtype == "float16" || dtype == "half" || dtype == "auto") return 2;
  if (dtype == "fp8" || dtype == "int8" || dtype == "fp8_e4m3" || dtype == "fp8_e5m2") return 1;
  if (dtype == "int4") return 0.5;
  if (dtype == "fp32" || dtype == "float32" || dtype == "float") return 4;
  throw InvalidArgument(where + ": unknown dtype \"" + dtype + "\"; allowed: auto, bf16, fp16, fp32, fp8, int8, int4");
}

}  // namespace

ServingOpts serving_from_json(const json& o, const std::string& where, ServingOpts s) {
  require_object(o, where);
  check_keys(o, where, {"dtype", "computeDtype", "kvCacheDtype", "weightBytes", "quantOverhead", "kvBytes", "gpuMemoryUtilization",
                        "maxNumSeqs", "maxNumBatchedTokens", "maxModelLen", "blockSize", "tensorParallelSize"});
  if (const auto d = get_string(o, "dtype", where + ".dtype")) {
    s.weight_bytes = dtype_bytes(*d, where + ".dtype");
    if (*d == "int4") s.quant_overhead = 4.0 / 128.0;  // fp16 scale and zero per group of 128
  }
  if (const auto d = get_string(o, "computeDtype", where + ".computeDtype")) {
    if (*d == "bf16" || *d == "fp16") s.compute = ComputeDtype::bf16;
    else if (*d == "fp8") s.compute = ComputeDtype::fp8;
    else throw InvalidArgument(where + ".computeDtype: unknown \"" + *d + "\"; allowed: bf16, fp16, fp8");
  }
  if (const auto d = get_string(o, "kvCacheDtype", where + ".kvCacheDtype")) s.kv_bytes = dtype_bytes(*d, where + ".kvCacheDtype");
  s.weight_bytes = get_num(o, "weightBytes", where + ".weightBytes", s.weight_bytes);
  s.quant_overhead = get_num(o, "quantOverhead", where + ".quantOverhead", s.quant_overhead);
  s.kv_bytes = get_num(o, "kvBytes", where + ".kvBytes", s.kv_bytes);
  s.gpu_mem_util = get_num(o, "gpuMemoryUtilization", where + ".gpuMemoryUtilization", s.gpu_mem_util);
  s.max_num_seqs = get_int(o, "maxNumSeqs", where + ".maxNumSeqs", s.max_num_seqs);
  s.max_num_batched_tokens = get_int(o, "maxNumBatchedTokens", where + ".maxNumBatchedTokens", s.max_num_batched_tokens);
  s.max_model_len = get_int(o, "maxModelLen", where + ".maxModelLen", s.max_model_len);
  s.block = get_int(o, "blockSize", where + ".blockSize", s.block);
  s.tp = get_int(o, "tensorParallelSize", where + ".tensorParallelSize", s.tp);
  try {
    s.validate();
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(where + "." + e.what());
  }
  return s;
}

Efficiency efficiency_from_json(const json& o, const std::string& where, Efficiency e) {
  require_object(o, where);
  check_keys(o, where, {"etaBw", "etaFlops", "t0Ms", "reserveGiB", "memoryMode", "prefillAttention", "moeExpectedExperts", "allreduceMs"});
  e.eta_bw = get_num(o, "etaBw", where + ".etaBw", e.eta_bw);
  e.eta_flops = get_num(o, "etaFlops", where + ".etaFlops", e.eta_flops);
  e.t0_ms = get_num(o, "t0Ms", where + ".t0Ms", e.t0_ms);
  if (const auto v = get_number(o, "reserveGiB", where + ".reserveGiB")) e.reserve_bytes = *v * kGiB;
  if (const auto m = get_string(o, "memoryMode", where + ".memoryMode")) {
    if (*m == "simple") e.memory = MemoryMode::simple;
    else if (*m == "detailed") e.memory = MemoryMode::detailed;
    else throw InvalidArgument(where + ".memoryMode: unknown \"" + *m + "\"; allowed: simple, detailed");
  }
  e.prefill_attention = get_bool(o, "prefillAttention", where + ".prefillAttention").value_or(e.prefill_attention);
  e.moe_expected_experts = get_bool(o, "moeExpectedExperts", where + ".moeExpectedExperts").value_or(e.moe_expected_experts);
  e.allreduce_ms = get_num(o, "allreduceMs", where + ".allreduceMs", e.allreduce_ms);
  try {
    e.validate();
  } catch (const InvalidArgument& ex) {
    throw InvalidArgument(where + "." + ex.what());
  }
  return e;
}

RecommendRequest recommend_request_from_json(std::string_view text, ModelRegistry& registry) {
  const json doc = io::parse_json(text);
  require_object(doc, "request");
  check_keys(doc, "request", {"servers", "menu", "costs", "sliceCostRule", "capacity", "efficiency", "models", "queueToBatchRatio",
                              "serviceModel", "perSequenceMs"});
  RecommendRequest req;
  if (const json* models = child(doc, "models")) {
    require_object(*models, "models");
    for (const auto& [name, cfg] : models->items()) {
      try {
        registry[name] = arch_from_hf_config(cfg, name);
      } catch (const InvalidArgument& e) {
        throw InvalidArgument("models." + name + ": " + e.what());
      }
    }
  }
  RecommendOptions& o = req.options;
  if (const json* menu = child(doc, "menu")) {
    require_object(*menu, "menu");
    check_keys(*menu, "menu", {"gpuTypes", "includeSlices", "excludeMediaProfiles", "maxReplicas"});
    if (const json* types = child(*menu, "gpuTypes")) {
      if (!types->is_array()) throw InvalidArgument("menu.gpuTypes must be an array of GPU type names");
      for (const auto& t : *types) {
        if (!t.is_string()) throw InvalidArgument("menu.gpuTypes must be an array of GPU type names, got " + io::excerpt(t));
        o.menu.gpu_types.push_back(t.get<std::string>());
      }
    }
    o.menu.include_slices = get_bool(*menu, "includeSlices", "menu.includeSlices").value_or(true);
    o.menu.exclude_media = get_bool(*menu, "excludeMediaProfiles", "menu.excludeMediaProfiles").value_or(true);
    o.max_replicas = get_int(*menu, "maxReplicas", "menu.maxReplicas", 0);
  }
  if (const json* costs = child(doc, "costs")) {
    require_object(*costs, "costs");
    for (const auto& [k, v] : costs->items()) {
      (void)v;
      o.costs[k] = *get_number(*costs, k, "costs." + k);
    }
  }
  if (const auto rule = get_string(doc, "sliceCostRule", "sliceCostRule")) {
    if (*rule == "compute") o.cost_rule = SliceCostRule::compute;
    else if (*rule == "max") o.cost_rule = SliceCostRule::max;
    else if (*rule == "given") o.cost_rule = SliceCostRule::given;
    else throw InvalidArgument("sliceCostRule: unknown \"" + *rule + "\"; allowed: compute, max, given");
  }
  if (const json* cap = child(doc, "capacity")) {
    require_object(*cap, "capacity");
    for (const auto& [k, v] : cap->items()) {
      (void)v;
      const int n = get_int(*cap, k, "capacity." + k, 0);
      if (n < 0) throw InvalidArgument("capacity." + k + " must be an integer >= 0, got " + std::to_string(n));
      req.capacity[k] = n;
    }
    o.capacity = req.capacity;
  }
  if (const json* eff = child(doc, "efficiency")) o.efficiency = efficiency_from_json(*eff, "efficiency");
  o.queue_to_batch_ratio = get_int(doc, "queueToBatchRatio", "queueToBatchRatio", o.queue_to_batch_ratio);
  o.service_model = get_string(doc, "serviceModel", "serviceModel").value_or(o.service_model);
  o.per_sequence_ms = get_num(doc, "perSequenceMs", "perSequenceMs", o.per_sequence_ms);
  const json* servers = child(doc, "servers");
  if (!servers || !servers->is_array()) throw InvalidArgument("servers must be an array of server objects");
  for (std::size_t i = 0; i < servers->size(); ++i) {
    const json& s = (*servers)[i];
    std::string where = "servers[" + std::to_string(i) + "]";
    require_object(s, where);
    check_keys(s, where, {"name", "model", "serving", "load", "slo"});
    ServerSpec spec;
    spec.name = get_string(s, "name", where + ".name").value_or("");
    if (!spec.name.empty()) where += " (" + spec.name + ")";
    spec.model = get_string(s, "model", where + ".model").value_or("");
    if (const json* serving = child(s, "serving")) spec.serving = serving_from_json(*serving, where + ".serving");
    const json* load = child(s, "load");
    if (!load) throw InvalidArgument(where + ".load is required");
    require_object(*load, where + ".load");
    check_keys(*load, where + ".load", {"concurrency", "arrivalRateRps", "arrivalRate", "avgInTokens", "avgOutTokens"});
    if (get_integer(*load, "concurrency", where + ".load.concurrency"))
      spec.load.concurrency = get_int(*load, "concurrency", where + ".load.concurrency", 0);
    // arrivalRateRps says its unit where this document meets server-data.json, whose arrivalRate is
    // req/min; arrivalRate (req/s here) is its old name, still read (docs/sizing.md §5).
    const auto rate_rps = get_number(*load, "arrivalRateRps", where + ".load.arrivalRateRps");
    const auto rate_old = get_number(*load, "arrivalRate", where + ".load.arrivalRate");
    if (rate_rps && rate_old)
      throw InvalidArgument(where + ".load: give arrivalRateRps (req/s), not also its old name arrivalRate");
    spec.load.arrival_rate_rps = rate_rps ? rate_rps : rate_old;
    const auto n = get_number(*load, "avgInTokens", where + ".load.avgInTokens");
    const auto m = get_number(*load, "avgOutTokens", where + ".load.avgOutTokens");
    if (!n || !m) throw InvalidArgument(where + ".load: avgInTokens and avgOutTokens are required");
    spec.load.in_tokens = *n;
    spec.load.out_tokens = *m;
    if (const json* slo = child(s, "slo")) {
      require_object(*slo, where + ".slo");
      check_keys(*slo, where + ".slo", {"itl", "ttft", "itlPercentile", "ttftPercentile"});
      spec.slo.itl_ms = get_num(*slo, "itl", where + ".slo.itl", 0);
      spec.slo.ttft_ms = get_num(*slo, "ttft", where + ".slo.ttft", 0);
      spec.slo.itl_percentile = get_num(*slo, "itlPercentile", where + ".slo.itlPercentile", 0);
      spec.slo.ttft_percentile = get_num(*slo, "ttftPercentile", where + ".slo.ttftPercentile", 0);
    }
    req.servers.push_back(std::move(spec));
  }
  return req;
}

std::vector<ProfilePoint> points_from_json(std::string_view text) {
  const json doc = io::parse_json(text);
  const json* points = doc.is_array() ? &doc : child(doc, "points");
  if (!points || !points->is_array()) throw InvalidArgument("points must be an array of profiling points");
  std::vector<ProfilePoint> out;
  for (std::size_t i = 0; i < points->size(); ++i) {
    const json& p = (*points)[i];
    const std::string where = "points[" + std::to_string(i) + "]";
    require_object(p, where);
    check_keys(p, where, {"accelerator", "mode", "concurrency", "n", "m", "tpot_ms", "ttft_ms", "throughput_rps", "itl_ms"});
    const auto mode = get_string(p, "mode", where + ".mode").value_or("closed");
    if (mode != "closed")
      throw InvalidArgument(where + ".mode: only closed-loop points (mode \"closed\", from vllm bench serve --max-concurrency) "
                                    "are linear in the parameters; fit open-loop data with inferno tune");
    ProfilePoint pt;
    pt.accelerator = get_string(p, "accelerator", where + ".accelerator").value_or("");
    if (pt.accelerator.empty()) throw InvalidArgument(where + ".accelerator is required");
    pt.concurrency = get_int(p, "concurrency", where + ".concurrency", 0);
    pt.in_tokens = get_num(p, "n", where + ".n", -1);
    pt.out_tokens = get_num(p, "m", where + ".m", 0);
    pt.tpot_ms = get_number(p, "tpot_ms", where + ".tpot_ms");
    if (!pt.tpot_ms) pt.tpot_ms = get_number(p, "itl_ms", where + ".itl_ms");
    pt.ttft_ms = get_number(p, "ttft_ms", where + ".ttft_ms");
    pt.throughput_rps = get_number(p, "throughput_rps", where + ".throughput_rps");
    out.push_back(pt);
  }
  return out;
}

std::vector<SliceDemand> demand_from_text(std::string_view text) {
  std::vector<SliceDemand> out;
  std::string s(text);
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (s[first] == '{' || s[first] == '[')) {
    const json doc = io::parse_json(s);
    if (doc.is_object()) {
      for (const auto& [k, v] : doc.items()) {
        (void)v;
        out.push_back({k, get_int(doc, k, "demand." + k, 0), ""});
      }
    } else {
      for (std::size_t i = 0; i < doc.size(); ++i) {
        const json& d = doc[i];
        const std::string where = "demand[" + std::to_string(i) + "]";
        require_object(d, where);
        check_keys(d, where, {"profile", "count", "owner"});
        out.push_back({get_string(d, "profile", where + ".profile").value_or(""), get_int(d, "count", where + ".count", 1),
                       get_string(d, "owner", where + ".owner").value_or("")});
      }
    }
    return out;
  }
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    SliceDemand d;
    d.profile = item.substr(0, eq);
    d.count = 1;
    if (eq != std::string::npos) {
      const std::string count = item.substr(eq + 1);
      std::size_t used = 0;
      try {
        d.count = std::stoi(count, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != count.size() || count.empty())
        throw InvalidArgument("demand \"" + item + "\": expected PROFILE=COUNT with an integer count");
    }
    out.push_back(d);
  }
  return out;
}

std::vector<GpuLayout> layouts_from_json(std::string_view text) {
  const json doc = io::parse_json(text);
  const json* gpus = doc.is_array() ? &doc : child(doc, "gpus");
  if (!gpus || !gpus->is_array()) throw InvalidArgument("existing layouts must be an array of GPUs (or {\"gpus\": [...]})");
  std::vector<GpuLayout> out;
  for (std::size_t i = 0; i < gpus->size(); ++i) {
    const json& g = (*gpus)[i];
    const std::string where = "gpus[" + std::to_string(i) + "]";
    const json* slices = g.is_array() ? &g : child(g, "slices");
    if (!slices || !slices->is_array()) throw InvalidArgument(where + " must be an array of {profile, start} (or {\"slices\": [...]})");
    GpuLayout layout;
    layout.existing = true;
    for (std::size_t k = 0; k < slices->size(); ++k) {
      const json& s = (*slices)[k];
      const std::string sw = where + ".slices[" + std::to_string(k) + "]";
      require_object(s, sw);
      PlacedSlice p;
      p.profile = get_string(s, "profile", sw + ".profile").value_or("");
      const auto start = get_integer(s, "start", sw + ".start");
      if (p.profile.empty() || !start) throw InvalidArgument(sw + ": profile and start are required");
      p.start = static_cast<int>(*start);
      p.owner = get_string(s, "owner", sw + ".owner").value_or("");
      layout.slices.push_back(p);
    }
    out.push_back(std::move(layout));
  }
  return out;
}

// ---- results ---------------------------------------------------------------------------------

json estimate_to_json(const Estimate& e) {
  return json{{"alpha", e.alpha_ms}, {"beta", e.beta_ms}, {"gamma", e.gamma_ms}, {"epsilon", e.epsilon_ms},
              {"tflops", e.flops / 1e12},
              {"bwGBps", e.bw_Bps / 1e9}, {"memGiB", e.mem_bytes / kGiB}, {"weightsGB", e.weight_bytes / 1e9},
              {"kvBytesPerToken", e.kv_bytes_per_token}, {"reserveGiB", e.reserve_bytes / kGiB},
              {"kvBudgetGiB", e.kv_budget_bytes / kGiB}, {"kvCapacityTokens", e.kv_capacity_tokens}, {"ctxTokens", e.ctx_tokens},
              {"nMem", e.n_mem}, {"nMax", e.n_max}, {"maxModelLen", e.max_model_len}, {"feasible", e.feasible},
              {"reason", e.reason}, {"kneeBatch", e.knee_batch}, {"itl1", e.itl1_ms},
              {"intensityFlopPerByte", e.intensity_flop_per_byte}, {"bound", e.bound}};
}

json calibration_to_json(const Calibration& c) {
  json rows = json::array();
  for (const auto& r : c.rows)
    rows.push_back({{"point", r.point}, {"metric", r.metric}, {"measured", r.measured}, {"predicted", r.predicted}, {"relError", r.rel_error}});
  // With too few points nothing was fitted: no condition number, no residual (null, not 0).
  const bool fitted = c.reason != "tooFewPoints";
  json out{{"mode", c.mode == CalibrationMode::theta ? "theta" : "family"}, {"accepted", c.accepted}, {"reason", c.reason},
           {"kappa", fitted && std::isfinite(c.kappa) ? json(c.kappa) : json(nullptr)},
           {"relRms", fitted ? json(c.rel_rms) : json(nullptr)}, {"gpus", c.gpus}, {"rows", rows}};
  if (c.mode == CalibrationMode::theta) {
    out["accelerator"] = c.accelerator;
    out["perfParms"] = {{"alpha", c.theta[0]}, {"beta", c.theta[1]}, {"gamma", c.theta[2]}};
    out["prior"] = {{"alpha", c.prior_theta[0]}, {"beta", c.prior_theta[1]}, {"gamma", c.prior_theta[2]}};
    out["gammaPinned"] = c.gamma_pinned;
  } else {
    out["efficiency"] = {{"t0Ms", c.efficiency.t0_ms}, {"etaBw", c.efficiency.eta_bw}, {"etaFlops", c.efficiency.eta_flops}};
  }
  return out;
}

json recommendation_to_json(const std::vector<ServerRecommendation>& recs, const RecommendOptions& recommend_options) {
  json servers = json::array();
  for (const auto& r : recs) {
    json options = json::array();
    for (const auto& o : r.options)
      options.push_back({{"accelerator", o.accelerator}, {"gpu", o.gpu}, {"profile", o.profile}, {"feasible", o.feasible},
                         {"reason", o.reason}, {"calibrated", o.calibrated}, {"alpha", o.estimate.alpha_ms},
                         {"beta", o.estimate.beta_ms}, {"gamma", o.estimate.gamma_ms}, {"nMax", o.estimate.n_max},
                         {"kvCapacityTokens", o.estimate.kv_capacity_tokens}, {"batch", o.batch}, {"replicas", o.replicas},
                         {"ratePerReplica", o.rate_per_replica_rps},
                         {"itl", o.predicted ? json(o.itl_ms) : json(nullptr)},
                         {"ttft", o.predicted ? json(o.ttft_ms) : json(nullptr)},
                         {"itlAtPercentile", o.itl_at_percentile_ms ? json(*o.itl_at_percentile_ms) : json(nullptr)},
                         {"ttftAtPercentile", o.ttft_at_percentile_ms ? json(*o.ttft_at_percentile_ms) : json(nullptr)},
                         {"costPerReplica", o.cost_per_replica}, {"cost", o.cost}, {"units", o.units}, {"memSlices", o.mem_slices},
                         {"gpus", o.gpus()}});
    servers.push_back({{"server", r.server}, {"choice", r.choice}, {"sloUnattainable", r.slo_unattainable},
                       {"unallocated", r.unallocated}, {"options", options}});
  }
  json capacity = json::object();
  for (const auto& [type, use] : capacity_use(recs, recommend_options))
    capacity[type] = {{"neededGpus", use.needed_gpus}, {"ownedGpus", use.owned_gpus},
                      {"short", use.needed_gpus > use.owned_gpus + 1e-9}};
  return json{{"servers", servers}, {"capacity", capacity}};
}

json packing_to_json(const Packing& p) {
  json gpus = json::array();
  for (const auto& g : p.gpus) {
    json slices = json::array();
    for (const auto& s : g.slices)
      slices.push_back({{"profile", s.profile}, {"start", s.start}, {"size", s.size}, {"g", s.g}, {"owner", s.owner}});
    gpus.push_back({{"slices", slices}, {"existing", g.existing}, {"disrupted", g.disrupted}, {"freeCompute", g.free_compute},
                    {"freeMemory", g.free_memory}, {"largestPlaceable", g.largest_placeable}});
  }
  return json{{"geometry", p.geometry}, {"gpusUsed", p.gpus_used}, {"lowerBound", p.lower_bound}, {"optimal", p.optimal},
              {"method", p.method}, {"nodes", p.nodes}, {"computeUtilization", p.compute_utilization},
              {"memoryUtilization", p.memory_utilization}, {"freeComputeSlices", p.free_compute_slices},
              {"strandedComputeSlices", p.stranded_compute_slices}, {"gpus", gpus}};
}

json tuner_seed_to_json(const TunerSeed& s) {
  return json{{"init_state", s.init_state}, {"min_state", s.min_state}, {"max_state", s.max_state},
              {"percent_change", {s.percent_change, s.percent_change, s.percent_change}}};
}

namespace {

// The optimizer counts a type's capacity in one dimension. A MIG slice takes the larger of its
// compute and its memory share of the GPU, so the emitted documents count a card as G·S units and a
// slice as max(g·S, m·G): then one unit count says how many slices of a profile fit a card, the
// same "larger share" the recommendation reports (docs/sizing.md §8).
int card_units(const Accelerator& a) { return a.gpu_mem_slices > 0 ? a.gpu_units * a.gpu_mem_slices : a.gpu_units; }

int share_units(const Accelerator& a) {
  if (a.gpu_mem_slices <= 0) return a.units;
  return std::max(a.units * a.gpu_mem_slices, a.mem_slices * a.gpu_units);
}

}  // namespace

json emit_optimizer_data(const RecommendRequest& req, const Catalog& catalog, const ModelRegistry& registry,
                         const CalibrationStore& calibrations) {
  const std::vector<Accelerator> accs = catalog.candidates(req.options.menu);
  json accelerators = json::array(), models = json::array(), classes = json::array(), servers = json::array(),
       notes = json::array(), count = json::array();
  for (const Accelerator& a : accs) {
    const double share = static_cast<double>(a.units) / a.gpu_units;
    const PowerSpec& pw = a.gpu->power;
    json entry{{"name", a.name}, {"type", a.gpu->id}, {"multiplicity", share_units(a)}, {"memSize", std::floor(a.mem_bytes / 1e9)},
               {"memBW", std::floor(a.bw_Bps / 1e9)},
               {"power", {{"idle", pw.idle_w * share}, {"full", pw.full_w * share}, {"midPower", pw.mid_power_w * share}, {"midUtil", pw.mid_util}}},
               {"cost", replica_cost(a, req.options)}};  // per replica: the optimizer prices profile units, multiplicity counts cards
    if (a.profile) {
      const MigGeometry& geo = *catalog.geometry(*a.gpu);
      entry["mig"] = {{"profile", a.profile->name}, {"computeSlices", a.profile->g}, {"memorySlices", a.profile->mem_slices},
                      {"gpuComputeSlices", geo.compute_slices}, {"gpuMemorySlices", geo.memory_slices}, {"starts", a.profile->starts}};
    }
    accelerators.push_back(entry);
  }
  for (const auto& [type, gpus] : req.capacity) {
    const GpuSpec* g = catalog.find_gpu(type);
    if (!g) throw InvalidArgument("capacity: unknown GPU type \"" + type + "\"");
    // Profiles of a MIG-capable type count shares of a card: capacity says GPUs and units per GPU.
    const int units = card_units(catalog.whole(*g));
    json entry{{"type", g->id}, {"count", gpus}};
    if (units > 1) entry["unitsPerCard"] = units;
    count.push_back(entry);
  }
  // One model-data entry per (model, accelerator); the workload with the smallest m/ctx among the
  // model's servers binds, because the optimizer scales maxBatchSize·atTokens by each server's m.
  std::map<std::string, const ServerSpec*> binding;
  for (const ServerSpec& s : req.servers) {
    const auto it = binding.find(s.model);
    const auto ratio = [](const ServerSpec& x) { return x.load.out_tokens / (x.load.in_tokens + x.load.out_tokens); };
    if (it == binding.end() || ratio(s) < ratio(*it->second)) binding[s.model] = &s;
  }
  for (const auto& [model, s] : binding) {
    const auto reg = registry.find(model);
    if (reg == registry.end()) throw InvalidArgument("servers: unknown model \"" + model + "\"");
    const Workload w{s->load.in_tokens, s->load.out_tokens, 0};
    for (const Accelerator& a : accs) {
      const Estimate e = derive(reg->second, s->serving, a, req.options.efficiency, w);
      if (!e.feasible) continue;
      const auto theta = calibrated_theta_for(model, reg->second, s->serving, a, w, calibrations)
                             .value_or(std::array<double, 3>{e.alpha_ms, e.beta_ms, e.gamma_ms});
      models.push_back({{"name", model}, {"acc", a.name}, {"accCount", 1}, {"maxBatchSize", e.n_max},
                        {"atTokens", static_cast<long long>(std::ceil(s->load.out_tokens))},
                        {"perfParms", {{"alpha", theta[0]}, {"beta", theta[1]}, {"gamma", theta[2]}}}});
    }
  }
  for (const ServerSpec& s : req.servers) {
    if (!s.load.arrival_rate_rps) {
      notes.push_back(s.name + ": closed-loop load (concurrency) has no arrival rate; not emitted as an optimizer server");
      continue;
    }
    if (s.slo.itl_percentile > 0 || s.slo.ttft_percentile > 0)
      notes.push_back(s.name + ": percentile SLOs are emitted as mean targets (the optimizer sizes on means)");
    const std::string cls = s.name + "-slo";
    json target{{"model", s.model}};
    if (s.slo.itl_ms > 0) target["slo-itl"] = s.slo.itl_ms;
    if (s.slo.ttft_ms > 0) target["slo-ttft"] = s.slo.ttft_ms;
    classes.push_back({{"name", cls}, {"priority", 1}, {"modelTargets", json::array({target})}});
    servers.push_back({{"name", s.name}, {"class", cls}, {"model", s.model},
                       {"currentAlloc", {{"load", {{"arrivalRate", *s.load.arrival_rate_rps * 60.0},
                                                   {"avgInTokens", s.load.in_tokens}, {"avgOutTokens", s.load.out_tokens}}}}}});
  }
  return json{{"accelerators", accelerators}, {"count", count}, {"models", models}, {"serviceClasses", classes},
              {"servers", servers}, {"notes", notes}};
}

}  // namespace inferno::io
