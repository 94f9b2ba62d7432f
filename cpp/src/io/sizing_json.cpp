#include "inferno/io/sizing_json.hpp"

#include "inferno/queue/limits.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "inferno/error.hpp"
#include "inferno/io/json.hpp"
#include "inferno/io/reader.hpp"

namespace inferno::io {

using json = nlohmann::json;
using namespace inferno::sizing;

namespace {

// Sizing documents are read with io::parse_json: case-sensitive, since their maps are keyed by
// model and GPU names; their ranges are checked by the objects they fill (io/reader.hpp, ReadMode).
constexpr ReadMode kSizingMode{true, false, true};

// A reader at `where` of a value that must be an object.
Reader object_reader(const json& v, const std::string& where) {
  const Reader rd("", where, kSizingMode);
  if (!v.is_object()) rd.fail("must be a JSON object, got " + io::excerpt(v));
  return rd;
}

// The value of one key of a map (costs, capacity), read as the map's value format says.
Field entry_of(const Field& map, const std::string& key) {
  Field f = *map.values;
  f.key = key;
  return f;
}

PowerSpec power_from(const json& obj, const std::string& where, PowerSpec p) {
  const Reader rd = object_reader(obj, where);
  const Field& f = catalog_format().member("gpus").items->member("power");
  rd.check_keys(obj, f);
  p.idle_w = rd.number(obj, f.member("idle"), p.idle_w);
  p.mid_power_w = rd.number(obj, f.member("midPower"), p.mid_power_w);
  p.mid_util = rd.number(obj, f.member("midUtil"), p.mid_util);
  p.full_w = rd.number(obj, f.member("full"), p.full_w);
  return p;
}

GpuSpec gpu_from(const json& obj, const std::string& where, GpuSpec g) {
  const Reader rd("", where, kSizingMode);
  const Field& f = *catalog_format().member("gpus").items;
  rd.check_keys(obj, f);
  g.vendor = rd.text(obj, f.member("vendor"), g.vendor);
  if (const auto v = rd.optional_number(obj, f.member("memGiB"))) g.mem_bytes = *v * kGiB;
  g.mem_observed = rd.boolean(obj, f.member("memObserved"), g.mem_observed);
  if (const auto v = rd.optional_number(obj, f.member("bwGBps"))) g.bw_Bps = *v * 1e9;
  if (const auto v = rd.optional_number(obj, f.member("bf16TFlops"))) g.flops_bf16 = *v * 1e12;
  if (const auto v = rd.optional_number(obj, f.member("fp8TFlops"))) g.flops_fp8 = *v * 1e12;
  if (const auto v = rd.optional_number(obj, f.member("int8TOps"))) g.ops_int8 = *v * 1e12;
  g.tdp_w = rd.number(obj, f.member("tdpW"), g.tdp_w);
  g.sm_count = rd.int32(obj, f.member("smCount"), g.sm_count);
  g.mig_family = rd.text(obj, f.member("migFamily"), g.mig_family);
  g.k8s_product = rd.text(obj, f.member("k8sProduct"), g.k8s_product);
  g.cost = rd.number(obj, f.member("cost"), g.cost);
  if (const json* p = rd.object(obj, f.member("power"))) g.power = power_from(*p, where + ".power", g.power);
  if (const auto v = rd.optional_number(obj, f.member("nvlinkGBps"))) g.link.nvlink_Bps = *v * 1e9;
  g.link.nvlink_gpus = rd.int32(obj, f.member("nvlinkGpus"), g.link.nvlink_gpus);
  if (const auto v = rd.optional_number(obj, f.member("pcieGBps"))) g.link.pcie_Bps = *v * 1e9;
  g.link.node_gpus = rd.int32(obj, f.member("nodeGpus"), g.link.node_gpus);
  if (const auto v = rd.optional_number(obj, f.member("allreduceLatencyUs"))) g.link.allreduce_latency_s = *v * 1e-6;
  return g;
}

MigGeometry family_from(const json& obj, const std::string& name, const std::string& where) {
  const Reader rd = object_reader(obj, where);
  const Field& format = *catalog_format().member("migFamilies").values;
  rd.check_keys(obj, format);
  MigGeometry geo;
  geo.name = name;
  geo.compute_slices = rd.int32(obj, format.member("computeSlices"));
  geo.memory_slices = rd.int32(obj, format.member("memorySlices"));
  const Field& list = format.member("profiles");
  if (!rd.has(obj, list)) rd.fail_member("profiles", "must be an array of profiles");
  const json& profiles = rd.array(obj, list);
  const Field& pf = *list.items;
  for (std::size_t i = 0; i < profiles.size(); ++i) {
    const Reader rp = rd.at("profiles").item(i, "");
    const json& p = rd.at("profiles").element(profiles, i);
    rp.check_keys(p, pf);
    MigProfile m;
    m.name = rp.text(p, pf.member("name"), "");  // the catalog's check names a missing one
    m.nvml_id = rp.int32(p, pf.member("nvmlId"), -1);
    m.g = rp.int32(p, pf.member("g"), 0);
    m.mem_slices = rp.int32(p, pf.member("memSlices"), 0);
    for (const json& v : rp.array(p, pf.member("starts"))) {
      if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > kMaxSlices)
        rp.fail_member("starts", "must be an array of integers in [0, " + std::to_string(kMaxSlices) + "], got " + io::excerpt(v));
      m.starts.push_back(v.get<int>());
    }
    m.max_count = rp.int32(p, pf.member("maxCount"), static_cast<int>(m.starts.size()));
    m.sm_count = rp.int32(p, pf.member("smCount"), 0);
    m.mem_bytes = rp.number(p, pf.member("memGiB"), 0.0) * kGiB;
    m.media = rp.boolean(p, pf.member("media"), false);
    m.observed = rp.boolean(p, pf.member("observed"), false);
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
  const Reader rd = object_reader(doc, where);
  const Field& format = catalog_format();
  rd.check_keys(doc, format);
  Catalog next = catalog;
  if (const json* fams = rd.object(doc, format.member("migFamilies")))
    for (const auto& [name, f] : fams->items()) next.upsert_family(family_from(f, name, where + ".migFamilies." + name));
  const json& gpus = rd.array(doc, format.member("gpus"));
  const Field& id_field = format.member("gpus").items->member("id");
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    const json& g = rd.at("gpus").element(gpus, i);
    const Reader rg = rd.at("gpus").item(i, "");
    const std::string id = rg.text(g, id_field, "");
    if (id.empty()) rg.fail_member("id", "is required");
    GpuSpec base;
    if (const GpuSpec* old = next.find_gpu(id)) base = *old;
    base.id = id;
    next.upsert_gpu(gpu_from(g, where + ".gpus[" + std::to_string(i) + "] (" + id + ")", base));
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
                    {"k8sProduct", g.k8s_product}, {"cost", g.cost}, {"power", power_json(g.power)},
                    {"nvlinkGBps", g.link.nvlink_Bps / 1e9}, {"nvlinkGpus", g.link.nvlink_gpus}, {"pcieGBps", g.link.pcie_Bps / 1e9},
                    {"nodeGpus", g.link.node_gpus}, {"allreduceLatencyUs", g.link.allreduce_latency_s * 1e6}});
  json fams = json::object();
  for (const auto& [name, geo] : catalog.mig_families()) fams[name] = geometry_to_json(geo);
  return json{{"gpus", gpus}, {"migFamilies", fams}};
}

// ---- model architectures -------------------------------------------------------------------

ModelArch arch_from_hf_config(std::string_view text, const std::string& name) {
  return arch_from_hf_config(io::parse_json(text), name);
}

ModelArch arch_from_hf_config(const json& c, const std::string& name) {
  object_reader(c, "config");
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

// Bytes per element of each precision name vLLM takes; serving_format lists the same names.
struct DtypeBytes {
  const char* name;
  double bytes;
};
constexpr DtypeBytes kDtypes[] = {{"auto", 2},  {"bf16", 2},    {"bfloat16", 2}, {"fp16", 2},     {"float16", 2},
                                  {"half", 2},  {"fp32", 4},    {"float32", 4},  {"float", 4},    {"fp8", 1},
                                  {"int8", 1},  {"fp8_e4m3", 1}, {"fp8_e5m2", 1}, {"int4", 0.5}};

std::vector<std::string> dtype_names() {
  std::vector<std::string> names;
  for (const auto& d : kDtypes) names.emplace_back(d.name);
  return names;
}

double dtype_bytes(const std::string& dtype, const Reader& rd, const std::string& key) {
  for (const auto& d : kDtypes)
    if (dtype == d.name) return d.bytes;
  std::string allowed;
  for (const auto& d : kDtypes) allowed += (allowed.empty() ? "" : ", ") + std::string(d.name);
  rd.at(key).fail("unknown dtype \"" + dtype + "\"; allowed: " + allowed);
}

// The value of an enum option named by `table`, or `fallback` when absent.
template <class E, std::size_t N>
E enum_option(const Reader& rd, const json& o, const Field& f, const EnumName<E> (&table)[N], E fallback) {
  const auto name = rd.optional_text(o, f);
  if (!name) return fallback;
  if (const auto v = find_enum(table, *name)) return *v;
  rd.at(f.key).fail("unknown \"" + *name + "\"; allowed: " + enum_names(table, ""));
}

// A string option that must be one of the format's choices, or `fallback` when absent.
std::string choice_of(const Reader& rd, const json& o, const Field& f, std::string fallback) {
  const auto name = rd.optional_text(o, f);
  if (!name) return fallback;
  if (std::find(f.choices.begin(), f.choices.end(), *name) != f.choices.end()) return *name;
  std::string allowed;
  for (const auto& c : f.choices) allowed += (allowed.empty() ? "" : ", ") + c;
  rd.at(f.key).fail("unknown \"" + *name + "\"; allowed: " + allowed);
}

// A domain object's own check, reported under the document path of the object.
template <class T>
void validate_at(const T& value, const std::string& where) {
  try {
    value.validate();
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(where + "." + e.what());
  }
}

}  // namespace

ServingOpts serving_from_json(const json& o, const std::string& where, ServingOpts s) {
  const Reader rd = object_reader(o, where);
  const Field& f = serving_format();
  rd.check_keys(o, f);
  if (const auto d = rd.optional_text(o, f.member("dtype"))) {
    s.weight_bytes = dtype_bytes(*d, rd, "dtype");
    if (*d == "int4") s.quant_overhead = 4.0 / 128.0;  // fp16 scale and zero per group of 128
  }
  s.compute = enum_option(rd, o, f.member("computeDtype"), kComputeDtypes, s.compute);
  if (const auto d = rd.optional_text(o, f.member("kvCacheDtype"))) s.kv_bytes = dtype_bytes(*d, rd, "kvCacheDtype");
  s.weight_bytes = rd.number(o, f.member("weightBytes"), s.weight_bytes);
  s.quant_overhead = rd.number(o, f.member("quantOverhead"), s.quant_overhead);
  s.kv_bytes = rd.number(o, f.member("kvBytes"), s.kv_bytes);
  s.gpu_mem_util = rd.number(o, f.member("gpuMemoryUtilization"), s.gpu_mem_util);
  s.max_num_seqs = rd.int32(o, f.member("maxNumSeqs"), s.max_num_seqs);
  s.max_num_batched_tokens = rd.int32(o, f.member("maxNumBatchedTokens"), s.max_num_batched_tokens);
  s.max_model_len = rd.int32(o, f.member("maxModelLen"), s.max_model_len);
  s.block = rd.int32(o, f.member("blockSize"), s.block);
  s.tp = rd.int32(o, f.member("tensorParallelSize"), s.tp);
  s.pp = rd.int32(o, f.member("pipelineParallelSize"), s.pp);
  validate_at(s, where);
  return s;
}

Efficiency efficiency_from_json(const json& o, const std::string& where, Efficiency e) {
  const Reader rd = object_reader(o, where);
  const Field& f = efficiency_format();
  rd.check_keys(o, f);
  e.eta_bw = rd.number(o, f.member("etaBw"), e.eta_bw);
  e.eta_flops = rd.number(o, f.member("etaFlops"), e.eta_flops);
  e.t0_ms = rd.number(o, f.member("t0Ms"), e.t0_ms);
  if (const auto v = rd.optional_number(o, f.member("reserveGiB"))) e.reserve_bytes = *v * kGiB;
  e.memory = enum_option(rd, o, f.member("memoryMode"), kMemoryModes, e.memory);
  e.prefill_attention = rd.boolean(o, f.member("prefillAttention"), e.prefill_attention);
  e.moe_expected_experts = rd.boolean(o, f.member("moeExpectedExperts"), e.moe_expected_experts);
  if (const auto v = rd.optional_number(o, f.member("allreduceMs"))) e.allreduce_ms = *v;
  e.eta_link = rd.number(o, f.member("etaLink"), e.eta_link);
  validate_at(e, where);
  return e;
}

sizing::RecommendRequest recommend_request_from_json(std::string_view text, ModelRegistry& registry) {
  return recommend_request_from_document(io::parse_json(text), registry);
}

sizing::RecommendRequest recommend_request_from_document(const json& doc, ModelRegistry& registry) {
  const Reader rd = object_reader(doc, "request");
  const Field& format = recommend_request_format();
  rd.check_keys(doc, format);
  const Reader top("", "", kSizingMode);  // members are named from the top: "menu", "servers[0] (a)"
  sizing::RecommendRequest req;
  if (const json* models = top.object(doc, format.member("models"))) {
    for (const auto& [name, cfg] : models->items()) {
      try {
        registry[name] = arch_from_hf_config(cfg, name);
      } catch (const InvalidArgument& e) {
        throw InvalidArgument("models." + name + ": " + e.what());
      }
    }
  }
  RecommendOptions& o = req.options;
  const Field& menu_format = format.member("menu");
  if (const json* menu = top.object(doc, menu_format)) {
    const Reader rm = top.at("menu");
    rm.check_keys(*menu, menu_format);
    const Field& types = menu_format.member("gpuTypes");
    for (const json& t : rm.array(*menu, types)) {
      if (!t.is_string()) rm.fail_member("gpuTypes", "must be an array of GPU type names, got " + io::excerpt(t));
      o.menu.gpu_types.push_back(t.get<std::string>());
    }
    o.menu.include_slices = rm.boolean(*menu, menu_format.member("includeSlices"));
    o.menu.exclude_media = rm.boolean(*menu, menu_format.member("excludeMediaProfiles"));
    o.max_replicas = rm.int32(*menu, menu_format.member("maxReplicas"), 0);
  }
  const Field& costs_format = format.member("costs");
  if (const json* costs = top.object(doc, costs_format)) {
    const Reader rc = top.at("costs");
    for (const auto& item : costs->items()) {
      const auto price = rc.optional_number(*costs, entry_of(costs_format, item.key()));
      if (!price) rc.fail_member(item.key(), "must be a number, got null");
      o.costs[item.key()] = *price;
    }
  }
  o.cost_rule = enum_option(top, doc, format.member("sliceCostRule"), kSliceCostRules, o.cost_rule);
  const Field& capacity_format = format.member("capacity");
  if (const json* cap = top.object(doc, capacity_format)) {
    const Reader rc = top.at("capacity");
    for (const auto& item : cap->items()) {
      const int n = rc.int32(*cap, entry_of(capacity_format, item.key()), 0);
      if (n < 0) rc.fail_member(item.key(), "must be an integer >= 0, got " + std::to_string(n));  // checked nowhere else
      o.capacity[item.key()] = n;
    }
  }
  if (const json* eff = top.object(doc, format.member("efficiency"))) o.efficiency = efficiency_from_json(*eff, "efficiency");
  o.queue_to_batch_ratio = top.int32(doc, format.member("queueToBatchRatio"), o.queue_to_batch_ratio);
  o.service_model = choice_of(top, doc, format.member("serviceModel"), o.service_model);
  o.per_sequence_ms = top.number(doc, format.member("perSequenceMs"), o.per_sequence_ms);
  const Field& servers_format = format.member("servers");
  const Field& server_format = *servers_format.items;
  if (!top.has(doc, servers_format)) top.fail_member("servers", "must be an array of server objects");
  const json& servers = top.array(doc, servers_format);
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const json& s = top.at("servers").element(servers, i);
    ServerRequest spec;
    spec.name = Reader("", "servers[" + std::to_string(i) + "]", kSizingMode).text(s, server_format.member("name"), "");
    const Reader rs = top.at("servers").item(i, spec.name);
    rs.check_keys(s, server_format);
    spec.model = rs.text(s, server_format.member("model"), "");
    if (const json* serving = rs.object(s, server_format.member("serving")))
      spec.serving = serving_from_json(*serving, rs.where() + ".serving");
    const Field& load_format = server_format.member("load");
    const json* load = rs.object(s, load_format);
    if (!load) rs.fail_member("load", "is required");
    const Reader rl = rs.at("load");
    rl.check_keys(*load, load_format);
    if (rl.has(*load, load_format.member("concurrency"))) spec.load.concurrency = rl.int32(*load, load_format.member("concurrency"));
    // arrivalRateRps says its unit where this document meets server-data.json, whose arrivalRate is
    // req/min; arrivalRate (req/s here) is its old name, still read (docs/sizing.md §5).
    const auto rate_rps = rl.optional_number(*load, load_format.member("arrivalRateRps"));
    const auto rate_old = rl.optional_number(*load, load_format.member("arrivalRate"));
    if (rate_rps && rate_old) rl.fail("give arrivalRateRps (req/s), not also its old name arrivalRate");
    spec.load.arrival_rate_rps = rate_rps ? rate_rps : rate_old;
    const auto n = rl.optional_number(*load, load_format.member("avgInTokens"));
    const auto m = rl.optional_number(*load, load_format.member("avgOutTokens"));
    if (!n || !m) rl.fail("avgInTokens and avgOutTokens are required");
    spec.load.in_tokens = *n;
    spec.load.out_tokens = *m;
    const Field& slo_format = server_format.member("slo");
    if (const json* slo = rs.object(s, slo_format)) {
      const Reader rt = rs.at("slo");
      rt.check_keys(*slo, slo_format);
      spec.slo.itl_ms = rt.number(*slo, slo_format.member("itl"), 0.0);
      spec.slo.ttft_ms = rt.number(*slo, slo_format.member("ttft"), 0.0);
      spec.slo.itl_percentile = rt.number(*slo, slo_format.member("itlPercentile"), 0.0);
      spec.slo.ttft_percentile = rt.number(*slo, slo_format.member("ttftPercentile"), 0.0);
    }
    req.servers.push_back(std::move(spec));
  }
  return req;
}

std::vector<ProfilePoint> points_from_json(std::string_view text) { return points_from_document(io::parse_json(text)); }

std::vector<ProfilePoint> points_from_document(const json& doc) {
  const Field& format = profile_points_format();
  const Reader top("", "", kSizingMode);
  if (doc.is_object()) Reader("", "points document", kSizingMode).check_keys(doc, format);
  const Field& list = format.member("points");
  if (!doc.is_array() && !(doc.is_object() && top.has(doc, list) && doc.at("points").is_array()))
    top.fail("points must be an array of profiling points");
  const json& points = doc.is_array() ? doc : doc.at("points");
  const Field& pf = *list.items;
  std::vector<ProfilePoint> out;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const json& p = top.at("points").element(points, i);
    const Reader rp = top.at("points").item(i, "");
    rp.check_keys(p, pf);
    if (rp.optional_text(p, pf.member("mode")).value_or("closed") != "closed")
      rp.at("mode").fail("only closed-loop points (mode \"closed\", from vllm bench serve --max-concurrency) "
              "are linear in the parameters; fit open-loop data with inferno tune");
    ProfilePoint pt;
    pt.accelerator = rp.text(p, pf.member("accelerator"), "");
    if (pt.accelerator.empty()) rp.fail_member("accelerator", "is required");
    pt.concurrency = rp.int32(p, pf.member("concurrency"), 0);
    pt.in_tokens = rp.number(p, pf.member("n"), -1.0);
    pt.out_tokens = rp.number(p, pf.member("m"), 0.0);
    pt.tpot_ms = rp.optional_number(p, pf.member("tpot_ms"));
    const auto itl_ms = rp.optional_number(p, pf.member("itl_ms"));  // the same measurement, by another name
    if (pt.tpot_ms && itl_ms) rp.fail("give tpot_ms or itl_ms (the same measurement), not both");
    if (!pt.tpot_ms) pt.tpot_ms = itl_ms;
    pt.ttft_ms = rp.optional_number(p, pf.member("ttft_ms"));
    pt.throughput_rps = rp.optional_number(p, pf.member("throughput_rps"));
    out.push_back(pt);
  }
  return out;
}

std::vector<SliceDemand> demand_from_document(const json& doc) {
  std::vector<SliceDemand> out;
  const Field& entry = demand_entry_format();
  const Reader top("", "", kSizingMode);
  if (doc.is_object()) {  // {profile: count}
    const Reader rd("", "demand", kSizingMode);
    for (const auto& item : doc.items()) {
      Field count = entry.member("count");
      count.key = item.key();
      out.push_back({item.key(), rd.int32(doc, count, 0), ""});
    }
    return out;
  }
  if (!doc.is_array()) throw InvalidArgument("demand must be {profile: count}, a list of {profile, count, owner}, or PROFILE=COUNT,...");
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const json& d = top.at("demand").element(doc, i);
    const Reader rd = top.at("demand").item(i, "");
    rd.check_keys(d, entry);
    out.push_back({rd.text(d, entry.member("profile"), ""), rd.int32(d, entry.member("count")), rd.text(d, entry.member("owner"), "")});
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
  const json* gpus = doc.is_array() ? &doc : nullptr;
  if (doc.is_object() && doc.contains("gpus")) gpus = &doc.at("gpus");
  if (!gpus || !gpus->is_array()) throw InvalidArgument("existing layouts must be an array of GPUs (or {\"gpus\": [...]})");
  const Field& slice = placed_slice_format();
  const Reader top("", "", kSizingMode);
  std::vector<GpuLayout> out;
  for (std::size_t i = 0; i < gpus->size(); ++i) {
    const json& g = (*gpus)[i];
    const Reader rg = top.at("gpus").item(i, "");
    const json* slices = g.is_array() ? &g : nullptr;
    if (g.is_object() && g.contains("slices")) slices = &g.at("slices");
    if (!slices || !slices->is_array()) rg.fail("must be an array of {profile, start} (or {\"slices\": [...]})");
    GpuLayout layout;
    layout.existing = true;
    for (std::size_t k = 0; k < slices->size(); ++k) {
      const json& s = rg.at("slices").element(*slices, k);
      const Reader rs = rg.at("slices").item(k, "");
      rs.check_keys(s, slice);
      PlacedSlice p;
      p.profile = rs.text(s, slice.member("profile"), "");
      if (p.profile.empty() || !rs.has(s, slice.member("start"))) rs.fail("profile and start are required");
      p.start = rs.int32(s, slice.member("start"));
      p.owner = rs.text(s, slice.member("owner"), "");
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
    const std::vector<std::string> dtypes = dtype_names();
    return object("serving", "how vLLM serves the model", {
        choice("dtype", "weight precision", dtypes), choice("computeDtype", "matmul precision", enum_name_list(kComputeDtypes)),
        choice("kvCacheDtype", "KV-cache precision", dtypes),
        number("weightBytes", "bytes per weight").at_least(0, true).at_most(8),
        number("quantOverhead", "quantisation scales per weight, bytes").at_least(0).at_most(8, true),
        number("kvBytes", "bytes per KV-cache element").at_least(0, true).at_most(8),
        number("gpuMemoryUtilization", "share of GPU memory vLLM may use").at_least(0, true).at_most(1),
        integer("maxNumSeqs", "vLLM max_num_seqs, requests", 1), integer("maxNumBatchedTokens", "vLLM max_num_batched_tokens, tokens", 1),
        integer("maxModelLen", "context length, tokens (0: the model's)", 0), integer("blockSize", "KV block, tokens", 1),
        integer("tensorParallelSize", "GPUs per pipeline stage", 1, kMaxNodeGpus),
        integer("pipelineParallelSize", "pipeline stages per replica (GPUs per replica: their product)", 1, 1024)}).only_known();
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
      number("allreduceMs", "fixed time of one all-reduce with tensor parallelism, ms (default: the GPU's allreduceLatencyUs)")
          .at_least(0).at_most(1e9),
      number("etaLink", "achieved fraction of the GPU-to-GPU link's bandwidth").at_least(0, true).at_most(1.5)}).only_known();
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
        power.only_known(),
        number("nvlinkGBps", "GPU-to-GPU link (NVLink or the vendor's equivalent) per direction, GB/s (0: none)")
            .at_least(0).at_most(kMaxRateTera * 1e3),
        integer("nvlinkGpus", "GPUs one NVLink domain joins (0: none)", 0, kMaxNodeGpus),
        number("pcieGBps", "host PCIe link per direction, GB/s (0: unknown)").at_least(0).at_most(kMaxRateTera * 1e3),
        integer("nodeGpus", "GPUs of one node: the largest tensor-parallel group", 1, kMaxNodeGpus),
        number("allreduceLatencyUs", "fixed time of one small all-reduce, microseconds").at_least(0).at_most(1e6),
        text("note", "a comment")});
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
