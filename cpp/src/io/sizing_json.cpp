#include "inferno/io/sizing_json.hpp"

#include "inferno/queue/limits.hpp"

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
void check_keys(const json& obj, const std::string& where, const Field& format) {
  for (const auto& [k, v] : obj.items()) {
    bool ok = false;
    for (const Field& m : format.members) ok = ok || k == m.key;
    if (!ok) {
      std::string list;
      for (const Field& m : format.members) list += (list.empty() ? "" : ", ") + m.key;
      throw InvalidArgument(where + ": unknown key \"" + k + "\"; allowed: " + list);
    }
  }
}

PowerSpec power_from(const json& obj, const std::string& where, PowerSpec p) {
  require_object(obj, where);
  check_keys(obj, where, catalog_format().member("gpus").items->member("power"));
  p.idle_w = get_num(obj, "idle", where + ".idle", p.idle_w);
  p.mid_power_w = get_num(obj, "midPower", where + ".midPower", p.mid_power_w);
  p.mid_util = get_num(obj, "midUtil", where + ".midUtil", p.mid_util);
  p.full_w = get_num(obj, "full", where + ".full", p.full_w);
  return p;
}

GpuSpec gpu_from(const json& obj, const std::string& where, GpuSpec g) {
  check_keys(obj, where, *catalog_format().member("gpus").items);
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
  const Field& format = *catalog_format().member("migFamilies").values;
  check_keys(obj, where, format);
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
    check_keys(p, pw, *format.member("profiles").items);
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
  merge_catalog_document(catalog, io::parse_json(text), source);
}

void merge_catalog_document(Catalog& catalog, const json& doc, const std::string& source) {
  const std::string where = source.empty() ? "catalog" : source;
  require_object(doc, where);
  check_keys(doc, where, catalog_format());
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
  check_keys(o, where, serving_format());
  if (const auto d = get_string(o, "dtype", where + ".dtype")) {
    s.weight_bytes = dtype_bytes(*d, where + ".dtype");
    if (*d == "int4") s.quant_overhead = 4.0 / 128.0;  // fp16 scale and zero per group of 128
  }
  if (const auto d = get_string(o, "computeDtype", where + ".computeDtype")) {
    const auto compute = find_enum(kComputeDtypes, *d);
    if (!compute) throw InvalidArgument(where + ".computeDtype: unknown \"" + *d + "\"; allowed: " + enum_names(kComputeDtypes, ""));
    s.compute = *compute;
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
  check_keys(o, where, efficiency_format());
  e.eta_bw = get_num(o, "etaBw", where + ".etaBw", e.eta_bw);
  e.eta_flops = get_num(o, "etaFlops", where + ".etaFlops", e.eta_flops);
  e.t0_ms = get_num(o, "t0Ms", where + ".t0Ms", e.t0_ms);
  if (const auto v = get_number(o, "reserveGiB", where + ".reserveGiB")) e.reserve_bytes = *v * kGiB;
  if (const auto m = get_string(o, "memoryMode", where + ".memoryMode")) {
    const auto memory = find_enum(kMemoryModes, *m);
    if (!memory) throw InvalidArgument(where + ".memoryMode: unknown \"" + *m + "\"; allowed: " + enum_names(kMemoryModes, ""));
    e.memory = *memory;
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

sizing::RecommendRequest recommend_request_from_json(std::string_view text, ModelRegistry& registry) {
  return recommend_request_from_document(io::parse_json(text), registry);
}

sizing::RecommendRequest recommend_request_from_document(const json& doc, ModelRegistry& registry) {
  require_object(doc, "request");
  check_keys(doc, "request", recommend_request_format());
  sizing::RecommendRequest req;
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
    check_keys(*menu, "menu", recommend_request_format().member("menu"));
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
    const auto cost_rule = find_enum(kSliceCostRules, *rule);
    if (!cost_rule) throw InvalidArgument("sliceCostRule: unknown \"" + *rule + "\"; allowed: " + enum_names(kSliceCostRules, ""));
    o.cost_rule = *cost_rule;
  }
  if (const json* cap = child(doc, "capacity")) {
    require_object(*cap, "capacity");
    for (const auto& [k, v] : cap->items()) {
      (void)v;
      const int n = get_int(*cap, k, "capacity." + k, 0);
      if (n < 0) throw InvalidArgument("capacity." + k + " must be an integer >= 0, got " + std::to_string(n));
      o.capacity[k] = n;
    }
  }
  if (const json* eff = child(doc, "efficiency")) o.efficiency = efficiency_from_json(*eff, "efficiency");
  o.queue_to_batch_ratio = get_int(doc, "queueToBatchRatio", "queueToBatchRatio", o.queue_to_batch_ratio);
  o.service_model = get_string(doc, "serviceModel", "serviceModel").value_or(o.service_model);
  o.per_sequence_ms = get_num(doc, "perSequenceMs", "perSequenceMs", o.per_sequence_ms);
  const Field& server_format = *recommend_request_format().member("servers").items;
  const json* servers = child(doc, "servers");
  if (!servers || !servers->is_array()) throw InvalidArgument("servers must be an array of server objects");
  for (std::size_t i = 0; i < servers->size(); ++i) {
    const json& s = (*servers)[i];
    std::string where = "servers[" + std::to_string(i) + "]";
    require_object(s, where);
    check_keys(s, where, server_format);
    ServerRequest spec;
    spec.name = get_string(s, "name", where + ".name").value_or("");
    if (!spec.name.empty()) where += " (" + spec.name + ")";
    spec.model = get_string(s, "model", where + ".model").value_or("");
    if (const json* serving = child(s, "serving")) spec.serving = serving_from_json(*serving, where + ".serving");
    const json* load = child(s, "load");
    if (!load) throw InvalidArgument(where + ".load is required");
    require_object(*load, where + ".load");
    check_keys(*load, where + ".load", server_format.member("load"));
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
      check_keys(*slo, where + ".slo", server_format.member("slo"));
      spec.slo.itl_ms = get_num(*slo, "itl", where + ".slo.itl", 0);
      spec.slo.ttft_ms = get_num(*slo, "ttft", where + ".slo.ttft", 0);
      spec.slo.itl_percentile = get_num(*slo, "itlPercentile", where + ".slo.itlPercentile", 0);
      spec.slo.ttft_percentile = get_num(*slo, "ttftPercentile", where + ".slo.ttftPercentile", 0);
    }
    req.servers.push_back(std::move(spec));
  }
  return req;
}

std::vector<ProfilePoint> points_from_json(std::string_view text) { return points_from_document(io::parse_json(text)); }

std::vector<ProfilePoint> points_from_document(const json& doc) {
  if (doc.is_object()) check_keys(doc, "points document", profile_points_format());
  const json* points = doc.is_array() ? &doc : child(doc, "points");
  if (!points || !points->is_array()) throw InvalidArgument("points must be an array of profiling points");
  std::vector<ProfilePoint> out;
  for (std::size_t i = 0; i < points->size(); ++i) {
    const json& p = (*points)[i];
    const std::string where = "points[" + std::to_string(i) + "]";
    require_object(p, where);
    check_keys(p, where, *profile_points_format().member("points").items);
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
    const auto itl_ms = get_number(p, "itl_ms", where + ".itl_ms");  // the same measurement, by another name
    if (pt.tpot_ms && itl_ms) throw InvalidArgument(where + ": give tpot_ms or itl_ms (the same measurement), not both");
    if (!pt.tpot_ms) pt.tpot_ms = itl_ms;
    pt.ttft_ms = get_number(p, "ttft_ms", where + ".ttft_ms");
    pt.throughput_rps = get_number(p, "throughput_rps", where + ".throughput_rps");
    out.push_back(pt);
  }
  return out;
}

std::vector<SliceDemand> demand_from_document(const json& doc) {
  std::vector<SliceDemand> out;
  if (doc.is_object()) {
    for (const auto& [k, v] : doc.items()) {
      (void)v;
      out.push_back({k, get_int(doc, k, "demand." + k, 0), ""});
    }
    return out;
  }
  if (!doc.is_array()) throw InvalidArgument("demand must be {profile: count}, a list of {profile, count, owner}, or PROFILE=COUNT,...");
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const json& d = doc[i];
    const std::string where = "demand[" + std::to_string(i) + "]";
    require_object(d, where);
    check_keys(d, where, demand_entry_format());
    out.push_back({get_string(d, "profile", where + ".profile").value_or(""), get_int(d, "count", where + ".count", 1),
                   get_string(d, "owner", where + ".owner").value_or("")});
  }
  return out;
}

std::vector<SliceDemand> demand_from_text(std::string_view text) {
  std::vector<SliceDemand> out;
  std::string s(text);
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (s[first] == '{' || s[first] == '[')) return demand_from_document(io::parse_json(s));
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

std::vector<GpuLayout> layouts_from_json(std::string_view text) { return layouts_from_document(io::parse_json(text)); }

std::vector<GpuLayout> layouts_from_document(const json& doc) {
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
      check_keys(s, sw, placed_slice_format());
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
  json out{{"mode", enum_name(kCalibrationModes, c.mode)}, {"accepted", c.accepted}, {"reason", c.reason},
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

const Field& serving_format() {
  static const Field f = [] {
    const std::vector<std::string> dtypes = {"auto", "bf16", "bfloat16", "fp16", "float16", "half", "fp32", "float32",
                                             "float", "fp8", "int8", "int4"};
    return object("serving", "how vLLM serves the model", {
        choice("dtype", "weight precision", dtypes), choice("computeDtype", "matmul precision", enum_name_list(kComputeDtypes)),
        choice("kvCacheDtype", "KV-cache precision", dtypes),
        number("weightBytes", "bytes per weight").at_least(0, true).at_most(8),
        number("quantOverhead", "quantisation scales per weight, bytes").at_least(0).at_most(8, true),
        number("kvBytes", "bytes per KV-cache element").at_least(0, true).at_most(8),
        number("gpuMemoryUtilization", "share of GPU memory vLLM may use").at_least(0, true).at_most(1),
        integer("maxNumSeqs", "vLLM max_num_seqs, requests", 1), integer("maxNumBatchedTokens", "vLLM max_num_batched_tokens, tokens", 1),
        integer("maxModelLen", "context length, tokens (0: the model's)", 0), integer("blockSize", "KV block, tokens", 1),
        integer("tensorParallelSize", "GPUs per replica", 1)}).only_known();
  }();
  return f;
}

const Field& efficiency_format() {
  static const Field f = object("efficiency", "roofline efficiencies and overheads (docs/sizing.md)", {
      number("etaBw", "achieved share of memory bandwidth").at_least(0, true).at_most(1.5),
      number("etaFlops", "achieved share of peak FLOP/s").at_least(0, true).at_most(1.5),
      number("t0Ms", "fixed time per iteration, ms").at_least(0).at_most(1e5),
      number("reserveGiB", "memory reserved outside vLLM, GiB").at_least(0).at_most(sizing::kMaxMemGiB),
      choice("memoryMode", "memory model", enum_name_list(kMemoryModes)),
      boolean("prefillAttention", "count attention FLOPs in prefill"),
      boolean("moeExpectedExperts", "expected distinct experts per batch (MoE)"),
      number("allreduceMs", "all-reduce time per layer, ms").at_least(0).at_most(1e9)}).only_known();
  return f;
}

const Field& recommend_request_format() {
  static const Field f = [] {
    Field load = object("load", "the load; give exactly one of concurrency and arrivalRateRps", {
        integer("concurrency", "clients in a closed loop", 1, kMaxConcurrency),
        number("arrivalRateRps", "open-loop arrival rate, req/s").at_least(0, true).at_most(inferno::queue::kMaxRateRps),
        number("arrivalRate", "deprecated name of arrivalRateRps (req/s)").at_least(0, true).at_most(inferno::queue::kMaxRateRps),
        number("avgInTokens", "mean prompt length, tokens").at_least(0).at_most(inferno::queue::kMaxTokens).must(),
        number("avgOutTokens", "mean output length, tokens").at_least(1).at_most(inferno::queue::kMaxTokens).must()});
    Field slo = object("slo", "latency targets", {
        number("itl", "inter-token latency target, ms (0: none)").at_least(0),
        number("ttft", "time-to-first-token target, ms (0: none)").at_least(0),
        number("itlPercentile", "the percentile the ITL target holds at (0: the mean)").at_least(0).at_most(100, true),
        number("ttftPercentile", "the percentile the TTFT target holds at (0: the mean)").at_least(0).at_most(100, true)});
    Field server = object("", "a server to size", {
        text("name", "the server's name"), text("model", "a catalog model, a Hugging Face id or a key of models").must(),
        serving_format(), load.only_known().must(), slo.only_known()});
    Field menu = object("menu", "which accelerators to consider", {
        array("gpuTypes", "GPU types (absent: all)", text("", "a GPU type of the catalog")),
        boolean("includeSlices", "consider MIG slices").fallback(true),
        boolean("excludeMediaProfiles", "skip MIG media profiles").fallback(true),
        integer("maxReplicas", "most replicas per server (0: default)", 0, kMaxReplicas)});
    Field request = object("", "a sizing request (inferno size recommend); keys are case-sensitive", {
        array("servers", "the servers to size", server.only_known()).must(), menu.only_known(),
        dictionary("costs", "price per GPU-hour by GPU type", number("", "price per GPU-hour").at_least(0).at_most(sizing::kMaxCost)),
        choice("sliceCostRule", "how a MIG slice is priced", enum_name_list(kSliceCostRules)),
        dictionary("capacity", "GPUs owned by type", integer("", "GPUs owned", 0)),
        efficiency_format(),
        dictionary("models", "Hugging Face config.json objects by model name", anything("", "a config.json object")),
        integer("queueToBatchRatio", "waiting room as a multiple of the batch cap", 0, 100000),
        choice("serviceModel", "the queueing model", {"iteration", "vllm"}),
        number("perSequenceMs", "time per sequence per iteration, ms (serviceModel vllm)").at_least(0).at_most(1e6)});
    return request.only_known();
  }();
  return f;
}

const Field& catalog_format() {
  static const Field f = [] {
    // The ranges of Catalog::validate (docs/sizing.md, "Input ranges"), in the file's units.
    const auto watts = [](std::string key, std::string doc) { return number(std::move(key), doc + ", W").at_least(0).at_most(kMaxWatts); };
    Field power = object("power", "the power curve", {
        watts("idle", "power at idle"), watts("midPower", "power at midUtil"),
        number("midUtil", "the middle point's utilisation").at_least(0).at_most(1, true), watts("full", "power at full load")});
    Field gpu = object("", "a GPU type; a GPU whose id is in the catalog already is updated, key by key", {
        text("id", "the type's name (no ':'), as menus and costs name it").must(),
        text("vendor", "the vendor"),
        number("memGiB", "memory, GiB").at_least(0, true).at_most(kMaxMemGiB),
        boolean("memObserved", "memGiB was measured (not the datasheet's)"),
        number("bwGBps", "memory bandwidth, GB/s").at_least(0, true).at_most(kMaxRateTera * 1e3),
        number("bf16TFlops", "dense BF16 peak, TFLOP/s").at_least(0, true).at_most(kMaxRateTera),
        number("fp8TFlops", "dense FP8 peak, TFLOP/s (0: none)").at_least(0).at_most(kMaxRateTera),
        number("int8TOps", "dense INT8 peak, TOP/s (0: none)").at_least(0).at_most(kMaxRateTera),
        watts("tdpW", "thermal design power"),
        integer("smCount", "streaming multiprocessors (at least 1 with a migFamily)", 0, kMaxSmCount),
        text("migFamily", "its MIG family (a key of migFamilies; empty: no MIG)"),
        text("k8sProduct", "the nvidia.com/gpu.product label"),
        number("cost", "price per GPU-hour").at_least(0).at_most(kMaxCost),
        power.only_known(), text("note", "a comment")});
    Field profile = object("", "a MIG profile", {
        text("name", "the profile's name, e.g. 3g.40gb").must(), integer("nvmlId", "NVML profile id"),
        integer("g", "compute slices (at most the family's computeSlices)", 1, kMaxSlices),
        integer("memSlices", "memory slices (at most the family's memorySlices)", 1, kMaxSlices),
        array("starts", "placement starts, memory slices, increasing", integer("", "a start", 0, kMaxSlices)),
        integer("maxCount", "most instances per GPU (default: the number of starts)", 1, kMaxSlices),
        integer("smCount", "streaming multiprocessors", 1, kMaxSmCount),
        number("memGiB", "memory, GiB").at_least(0, true).at_most(kMaxMemGiB),
        boolean("media", "a media profile (+me)"), boolean("observed", "read from nvidia-smi"), text("note", "a comment")});
    Field family = object("", "a MIG family: its slices and profiles", {
        integer("computeSlices", "compute slices of a GPU", 1, kMaxSlices).fallback(7),
        integer("memorySlices", "memory slices of a GPU", 1, kMaxSlices).fallback(8),
        array("profiles", "the profiles", profile.only_known()).must(), text("note", "a comment")});
    Field catalog = object("", "a GPU catalog (inferno size --catalog); keys are case-sensitive", {
        array("gpus", "GPU types", gpu.only_known()),
        dictionary("migFamilies", "MIG families by name", family.only_known()),
        text("note", "a comment")});
    return catalog.only_known();
  }();
  return f;
}

const Field& profile_points_format() {
  static const Field f = [] {
    // The ranges of calibrate's checks (docs/sizing.md, "Input ranges").
    const auto measured = [](std::string key, std::string doc) {
      return number(std::move(key), std::move(doc)).at_least(0, true).at_most(kMaxMeasurement);
    };
    Field point = object("", "a closed-loop measurement (vllm bench serve --max-concurrency)", {
        text("accelerator", "the accelerator measured: a catalog GPU or GPU:slice").must(),
        choice("mode", "only closed-loop points are linear in the parameters", {"closed"}).fallback("closed"),
        integer("concurrency", "clients in the closed loop", 1, kMaxConcurrency).must(),
        number("n", "mean prompt length, tokens").at_least(0).at_most(inferno::queue::kMaxTokens).must(),
        number("m", "mean output length, tokens").at_least(1).at_most(inferno::queue::kMaxTokens).must(),
        measured("tpot_ms", "time per output token, ms"), measured("itl_ms", "another name of tpot_ms, ms"),
        measured("ttft_ms", "time to first token, ms"), measured("throughput_rps", "completed requests, req/s")});
    Field doc = object("", "profiling points (inferno size calibrate); a bare list of points is read too", {
        text("model", "the model measured (a note: calibrate takes the model as an argument)"),
        array("points", "the measurements", point.only_known()).must()});
    return doc.only_known();
  }();
  return f;
}

const Field& demand_entry_format() {
  static const Field f = object("", "MIG slices wanted", {
      text("profile", "a MIG profile, e.g. 3g.40gb").must(), integer("count", "instances (0: none)", 0, kMaxDemandCount).fallback(1),
      text("owner", "who the slices are for")}).only_known();
  return f;
}

const Field& placed_slice_format() {
  static const Field f = object("", "a slice already placed on a GPU", {
      text("profile", "a MIG profile").must(), integer("start", "first memory slice", 0, kMaxSlices).must(),
      text("owner", "who holds it")}).only_known();
  return f;
}

}  // namespace inferno::io
