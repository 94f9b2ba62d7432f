// Sizing subsystem: catalog, exact parameter counts, roofline golden values, calibration,
// recommendation golden selections and packing (docs/sizing.md §14).
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "inferno/error.hpp"
#include "inferno/io/sizing_json.hpp"
#include "inferno/sizing/calibrate.hpp"
#include "inferno/sizing/pack.hpp"
#include "inferno/sizing/recommend.hpp"
#include "inferno/sizing/roofline.hpp"

using namespace inferno::sizing;
using inferno::InvalidArgument;

namespace {

std::string read(const std::string& relative) {
  std::ifstream in(std::string(INFERNO_SOURCE_DIR) + "/" + relative);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Catalog& builtin() {
  static const Catalog c = [] {
    Catalog cat;
    inferno::io::merge_catalog(cat, read("python/inferno/data/catalog.json"), "catalog.json");
    return cat;
  }();
  return c;
}

ModelArch model(const std::string& file) { return inferno::io::arch_from_hf_config(read("python/inferno/data/models/" + file + ".json")); }

bool rel_close(double a, double b, double tol) { return std::fabs(a - b) <= tol * std::fabs(b); }

}  // namespace

TEST_CASE("parameter counts are exact for the reference architectures (docs/sizing.md §2)") {
  struct Row { const char* file; long long p_tot, p_act, p_mm, s_kv; };
  const Row rows[] = {
      {"Llama-2-7b-hf", 6738415616, 6738415616, 6607077376, 524288},
      {"Llama-2-13b-hf", 13015864320, 13015864320, 12851609600, 819200},
      {"Llama-2-70b-hf", 68976648192, 68976648192, 68713185280, 327680},
      {"Meta-Llama-3-8B", 8030261248, 8030261248, 7504658432, 131072},
      {"Mistral-7B-v0.1", 7241732096, 7241732096, 7110393856, 131072},
      {"Mixtral-8x7B-v0.1", 46702792704, 12879925248, 12747538432, 131072},
      {"opt-1.3b", 1315758080, 1315758080, 1310916608, 196608},
      {"granite-3.1-8b-instruct", 8170848256, 8170848256, 8170516480, 163840},
      {"Qwen2.5-14B", 14770033664, 14770033664, 13990625280, 196608},
  };
  for (const auto& r : rows) {
    INFO(r.file);
    const Counts c = count_params(model(r.file));
    CHECK(c.p_total == r.p_tot);
    CHECK(c.p_active == r.p_act);
    CHECK(c.p_matmul == r.p_mm);
    CHECK(c.kv_elements_per_token * 2 == r.s_kv);  // bf16 KV
  }
}

TEST_CASE("roofline golden values for Llama-3-8B on A100 and H100 slices (docs/sizing.md §3)") {
  struct Row { const char* acc; double alpha, beta, gamma; long long k_max, n_mem; };
  const Row rows[] = {
      {"A100-SXM4-80GB", 10.346, 0.06872, 8.2754e-05, 452832, 393},
      {"A100-SXM4-80GB:1g.10gb", 79.267, 0.53016, 6.6134e-04, 0, 0},
      {"A100-SXM4-80GB:1g.20gb", 39.883, 0.53016, 3.3993e-04, 13040, 11},
      {"A100-SXM4-80GB:2g.20gb", 39.883, 0.26508, 3.3067e-04, 13040, 11},
      {"A100-SXM4-80GB:3g.40gb", 20.192, 0.17672, 1.6688e-04, 158656, 137},
      {"A100-SXM4-80GB:4g.40gb", 20.192, 0.13254, 1.6534e-04, 158656, 137},
      {"A100-SXM4-80GB:7g.80gb", 10.346, 0.07574, 8.2999e-05, 451712, 392},
      {"H100-SXM5-80GB", 6.493, 0.02167, 4.9664e-05, 453264, 393},
      {"H100-SXM5-80GB:1g.10gb", 48.442, 0.17879, 3.9751e-04, 0, 0},
      {"H100-SXM5-80GB:1g.20gb", 24.471, 0.11003, 1.9947e-04, 13920, 12},
      {"H100-SXM5-80GB:2g.20gb", 24.471, 0.08940, 1.9875e-04, 13920, 12},
      {"H100-SXM5-80GB:3g.40gb", 12.485, 0.04768, 9.9480e-05, 160496, 139},
      {"H100-SXM5-80GB:4g.40gb", 12.485, 0.04470, 9.9376e-05, 160496, 139},
      {"H100-SXM5-80GB:7g.80gb", 6.493, 0.02167, 4.9664e-05, 453568, 393},
  };
  const ModelArch llama = model("Meta-Llama-3-8B");
  for (const auto& r : rows) {
    INFO(r.acc);
    const Estimate e = derive(llama, ServingOpts{}, builtin().accelerator(r.acc));
    // The golden table prints 4-5 significant digits.
    CHECK(rel_close(e.alpha_ms, r.alpha, 1e-4));
    CHECK(rel_close(e.beta_ms, r.beta, 1e-4));
    CHECK(rel_close(e.gamma_ms, r.gamma, 1e-4));
    CHECK(e.kv_capacity_tokens == r.k_max);
    CHECK(e.n_mem == r.n_mem);
    CHECK(e.feasible == (r.n_mem > 0));
  }
}

TEST_CASE("epsilon: the attention of one token pair, the part of gamma that is not the KV read") {
  const ModelArch llama = model("Meta-Llama-3-8B");
  const Accelerator& h100 = builtin().accelerator("H100-SXM5-80GB");
  const Estimate e = derive(llama, ServingOpts{}, h100);
  const RooflineTerms t = roofline_terms(llama, ServingOpts{}, h100);
  // 4·L·n_h·d = 4·32·32·128 FLOPs per pair at η_F = 0.7 of the H100's dense BF16 rate.
  CHECK(rel_close(e.epsilon_ms, 1e3 * 4.0 * 32 * 32 * 128 / (0.7 * e.flops), 1e-12));
  CHECK(rel_close(e.epsilon_ms, t.attention_ms / 0.7, 1e-12));
  CHECK(rel_close(e.gamma_ms - e.epsilon_ms, t.kv_read_ms / 0.8, 1e-12));
  CHECK(rel_close(e.epsilon_ms, 7.5701e-07, 1e-4));
}

TEST_CASE("Qwen2.5-14B and Granite-3.1-8B memory feasibility (docs/sizing.md §3, §14)") {
  const ModelArch qwen = model("Qwen2.5-14B");
  const Estimate whole = derive(qwen, {}, builtin().accelerator("H100-SXM5-80GB"));
  CHECK(rel_close(whole.alpha_ms, 11.522, 1e-4));
  CHECK(rel_close(whole.beta_ms, 0.04040, 1e-4));
  CHECK(rel_close(whole.gamma_ms, 7.4781e-05, 1e-4));
  CHECK(whole.kv_capacity_tokens == 233616);
  const Estimate slice3 = derive(qwen, {}, builtin().accelerator("H100-SXM5-80GB:3g.40gb"));
  CHECK(rel_close(slice3.alpha_ms, 22.545, 1e-4));
  CHECK(rel_close(slice3.beta_ms, 0.08888, 1e-4));
  CHECK(rel_close(slice3.gamma_ms, 1.4985e-04, 1e-4));
  CHECK(slice3.kv_capacity_tokens == 38432);
  CHECK(slice3.n_mem == 33);
  for (const char* gpu : {"A100-SXM4-80GB", "H100-SXM5-80GB"})
    for (const char* p : {"1g.10gb", "1g.20gb", "2g.20gb"}) {
      const Estimate e = derive(qwen, {}, builtin().accelerator(std::string(gpu) + ":" + p));
      CHECK_FALSE(e.feasible);
      CHECK(e.reason == "weightsDoNotFit");
    }
  const ModelArch granite = model("granite-3.1-8b-instruct");
  for (const char* p : {"1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb"}) {
    const Estimate e = derive(granite, {}, builtin().accelerator(std::string("H100-SXM5-80GB:") + p));
    CHECK_FALSE(e.feasible);
    CHECK(e.reason == "contextDoesNotFit");
  }
  CHECK(derive(granite, {}, builtin().accelerator("H100-SXM5-80GB:3g.40gb")).kv_capacity_tokens == 126672);
  CHECK(derive(granite, {}, builtin().accelerator("H100-SXM5-80GB:7g.80gb")).feasible);
  ServingOpts short_context;
  short_context.max_model_len = 8192;
  const Estimate small = derive(granite, short_context, builtin().accelerator("H100-SXM5-80GB:1g.20gb"));
  CHECK(small.feasible);
  CHECK(small.kv_capacity_tokens == 9424);
}

TEST_CASE("memory arithmetic by hand: opt-1.3b on A100-80GB 1g.10gb") {
  // budget 0.9·9.5 GiB, weights 2·1,315,758,080 B, R = 1 GiB, S_kv = 196,608 B/token.
  const double m_kv = 0.9 * 9.5 * kGiB - 2.0 * 1315758080.0 - kGiB;
  const long long tokens = static_cast<long long>(m_kv / 196608.0);
  const Estimate e = derive(model("opt-1.3b"), {}, builtin().accelerator("A100-SXM4-80GB:1g.10gb"));
  CHECK(e.kv_capacity_tokens == tokens / 16 * 16);
  CHECK(e.n_mem == e.kv_capacity_tokens / 1152);
  CHECK(e.n_max == 24);
}

TEST_CASE("a bigger slice is never slower and holds at least as many requests") {
  const ModelArch llama = model("Meta-Llama-3-8B");
  for (const char* gpu : {"A100-SXM4-80GB", "H100-SXM5-80GB", "H100-NVL-94GB", "H200-SXM-141GB", "A100-SXM4-40GB", "A30"}) {
    const auto accs = builtin().candidates(Menu{{gpu}, true, true});
    for (const auto& a : accs)
      for (const auto& b : accs) {
        if (a.whole() || b.whole()) continue;
        if (!(b.profile->g >= a.profile->g && b.profile->mem_slices >= a.profile->mem_slices && b.profile->sm_count >= a.profile->sm_count))
          continue;
        INFO(a.name << " <= " << b.name);
        const Estimate ea = derive(llama, {}, a), eb = derive(llama, {}, b);
        CHECK(eb.alpha_ms <= ea.alpha_ms);
        CHECK(eb.beta_ms <= ea.beta_ms);
        CHECK(eb.gamma_ms <= ea.gamma_ms);
        CHECK(eb.kv_capacity_tokens >= ea.kv_capacity_tokens);
      }
  }
}

TEST_CASE("calibration mode theta recovers the golden parameters (docs/sizing.md §4)") {
  struct Pt { int c; double n, m, tpot; };
  const Pt pts[] = {{1, 1024, 128, 6.5659}, {8, 1024, 128, 8.3126}, {32, 1024, 128, 14.3015},
                    {1, 256, 512, 6.5373},  {16, 256, 512, 7.4100}, {64, 4096, 128, 64.8946}};
  std::vector<ProfilePoint> points;
  for (const auto& p : pts) points.push_back({"H100-SXM5-80GB", p.c, p.n, p.m, p.tpot, std::nullopt, std::nullopt});
  CalibrationOptions o;
  o.mode = CalibrationMode::theta;
  const Calibration cal = calibrate(model("Llama-3.1-8B"), {}, points, builtin(), o);
  CHECK(cal.accepted);
  CHECK(rel_close(cal.theta[0], 6.49, 1e-4));
  CHECK(rel_close(cal.theta[1], 0.0219, 1e-4));
  CHECK(rel_close(cal.theta[2], 4.96e-5, 1e-3));  // γ's column carries the rounding of the printed TPOTs
  CHECK(cal.rel_rms < 1e-5);
  CHECK(cal.kappa < 1000);
  // Three points with one (n, m) mix: β and γ trade off, the κ guard rejects.
  const std::vector<ProfilePoint> one_mix(points.begin(), points.begin() + 3);
  const Calibration bad = calibrate(model("Llama-3.1-8B"), {}, one_mix, builtin(), o);
  CHECK_FALSE(bad.accepted);
  CHECK(bad.reason == "illConditioned");
  o.pin_gamma = true;  // γ pinned to the roofline: α and β are identifiable from one mix
  const Calibration pinned = calibrate(model("Llama-3.1-8B"), {}, one_mix, builtin(), o);
  CHECK(pinned.accepted);
  CHECK(pinned.gamma_pinned);
}

TEST_CASE("calibration mode family recovers the efficiency factors from three slices (docs/sizing.md §4)") {
  Efficiency truth;
  truth.t0_ms = 0.5;
  truth.eta_bw = 0.8;
  truth.eta_flops = 0.7;
  // Generate with a different efficiency than the prior, so the fit has to move.
  truth.eta_bw = 1 / 1.4;
  truth.eta_flops = 1 / 1.8;
  truth.t0_ms = 0.9;
  const ModelArch llama = model("Meta-Llama-3-8B");
  std::vector<ProfilePoint> points;
  struct Pt { const char* acc; int c; double n, m; };
  const Pt plan[] = {{"H100-SXM5-80GB", 1, 1024, 128}, {"H100-SXM5-80GB", 16, 1024, 128}, {"H100-SXM5-80GB", 8, 256, 512},
                     {"H100-SXM5-80GB:1g.20gb", 4, 1024, 128}, {"H100-SXM5-80GB:2g.20gb", 4, 1024, 128}};
  for (const auto& p : plan) {
    const Estimate e = derive(llama, {}, builtin().accelerator(p.acc), truth, Workload{p.n, p.m, 0});
    const double k1 = (p.n + p.m) / (1 + p.m), k2 = (p.n + p.m * (p.n + (p.m + 1) / 2)) / (1 + p.m);
    const double tpot = e.alpha_ms + e.beta_ms * (1 + (p.c - 1) * k1) + e.gamma_ms * ((p.n + (p.m + 1) / 2) + (p.c - 1) * k2);
    points.push_back({p.acc, p.c, p.n, p.m, tpot, std::nullopt, std::nullopt});
  }
  const Calibration cal = calibrate(llama, {}, points, builtin());
  CHECK(cal.accepted);
  CHECK(rel_close(cal.efficiency.t0_ms, 0.9, 1e-6));
  CHECK(rel_close(cal.efficiency.eta_bw, 1 / 1.4, 1e-6));
  CHECK(rel_close(cal.efficiency.eta_flops, 1 / 1.8, 1e-6));
  // The calibrated efficiency gives every other slice its θ; the tuner feedback inverts it.
  const auto acc = builtin().accelerator("H100-SXM5-80GB:3g.40gb");
  const auto theta = calibrated_theta(cal, llama, {}, acc);
  const Estimate direct = derive(llama, {}, acc, truth);
  CHECK(rel_close(theta[1], direct.beta_ms, 1e-6));
  const Efficiency back = efficiency_from_theta(llama, {}, acc, theta, truth, 1.0);
  CHECK(rel_close(back.eta_bw, truth.eta_bw, 1e-9));
  CHECK(rel_close(back.eta_flops, truth.eta_flops, 1e-9));
  CHECK(rel_close(back.t0_ms, truth.t0_ms, 1e-9));
}

TEST_CASE("NNLS over supports matches a hand-solved case") {
  // min ‖[1 0; 0 1; 1 1] x − (1, −1, 0)‖ with x ≥ 0: unconstrained optimum (1, −1) is infeasible;
  // on support {x1}: x1 = 0.5 (residual 1.5) beats the origin (residual 2).
  Eigen::MatrixXd A(3, 2);
  A << 1, 0, 0, 1, 1, 1;
  const Eigen::VectorXd x = nnls_small(A, Eigen::Vector3d(1, -1, 0));
  CHECK(x[0] == Approx(0.5));
  CHECK(x[1] == 0.0);
}

namespace {

// A closed-loop server "s" of model "m": C clients, 1024 prompt and 128 output tokens.
ServerRequest closed_server(int concurrency, double itl_slo_ms) {
  ServerRequest s;
  s.name = "s";
  s.model = "m";
  s.load.concurrency = concurrency;
  s.load.in_tokens = 1024;
  s.load.out_tokens = 128;
  s.slo.itl_ms = itl_slo_ms;
  return s;
}

std::string choose(const char* arch, const char* gpu, int concurrency, bool* unattainable = nullptr) {
  ModelRegistry reg{{"m", model(arch)}};
  const ServerRequest s = closed_server(concurrency, 50);
  RecommendOptions o;
  o.menu.gpu_types = {gpu};
  const auto rec = recommend({s}, builtin(), reg, o);
  if (unattainable) *unattainable = rec[0].slo_unattainable;
  return rec[0].choice;
}

}  // namespace

TEST_CASE("golden selections, closed loop TPOT 50 ms (docs/sizing.md §5, the talk's example)") {
  bool flagged = false;
  CHECK(choose("Meta-Llama-3-8B", "A100-SXM4-80GB", 1) == "A100-SXM4-80GB:1g.20gb");
  CHECK(choose("Meta-Llama-3-8B", "A100-SXM4-80GB", 8) == "A100-SXM4-80GB:3g.40gb");
  CHECK(choose("Meta-Llama-3-8B", "A100-SXM4-80GB", 16) == "A100-SXM4-80GB:3g.40gb");
  CHECK(choose("Meta-Llama-3-8B", "A100-SXM4-80GB", 64, &flagged) == "A100-SXM4-80GB");
  CHECK(flagged);
  CHECK(choose("Meta-Llama-3-8B", "H100-SXM5-80GB", 8) == "H100-SXM5-80GB:1g.20gb");
  CHECK(choose("Meta-Llama-3-8B", "H100-SXM5-80GB", 64) == "H100-SXM5-80GB:3g.40gb");
  CHECK(choose("Meta-Llama-3-8B", "H100-SXM5-80GB", 128, &flagged) == "H100-SXM5-80GB");
  CHECK_FALSE(flagged);  // the whole H100 meets 50 ms (38.01 ms) and beats 7g.80gb on the tie-break
  CHECK(choose("opt-1.3b", "A100-SXM4-80GB", 8) == "A100-SXM4-80GB:1g.10gb");
  CHECK(choose("opt-1.3b", "A100-SXM4-80GB", 64) == "A100-SXM4-80GB:3g.40gb");
  CHECK(choose("opt-1.3b", "A100-SXM4-80GB", 128) == "A100-SXM4-80GB");
}

TEST_CASE("closed-loop fallback: only a whole GPU that holds the model, and at most C replicas are tried") {
  ModelRegistry reg{{"m", model("Meta-Llama-3-8B")}};
  ServerRequest s = closed_server(64, 5);  // 5 ms: below α on every option, nothing qualifies
  RecommendOptions o;
  o.menu.gpu_types = {"A100-SXM4-80GB"};
  o.max_replicas = 1000000;  // used to loop a million times; beyond C = 64 nothing changes
  auto rec = recommend({s}, builtin(), reg, o);
  REQUIRE(rec[0].slo_unattainable);
  CHECK_FALSE(rec[0].unallocated);
  const Option& whole = rec[0].options[static_cast<std::size_t>(rec[0].choice_index)];
  CHECK(whole.profile.empty());
  CHECK(whole.replicas == 64);  // every option tried r = 1 … C, one request each at r = C
  CHECK(whole.batch == 1);
  CHECK(whole.predicted);
  CHECK(whole.itl_ms > 5);
  // A context no whole GPU can hold: the model cannot run anywhere, so it is unallocated, not a
  // whole GPU with 0 replicas and a zero latency.
  s.serving.max_model_len = 2000000000;
  rec = recommend({s}, builtin(), reg, o);
  CHECK(rec[0].unallocated);
  CHECK_FALSE(rec[0].slo_unattainable);
  CHECK(rec[0].choice.empty());
  for (const auto& opt : rec[0].options) {
    CHECK((opt.reason == "contextDoesNotFit" || opt.reason == "weightsDoNotFit"));  // small slices: weights first
    CHECK_FALSE(opt.predicted);
  }
}

namespace {
// Model "m" at 20 req/s of 512 + 256 tokens, ITL <= 40 ms and TTFT <= 1 s.
ServerRequest open_server() {
  ServerRequest s;
  s.name = "open";
  s.model = "m";
  s.load.arrival_rate_rps = 20.0;
  s.load.in_tokens = 512;
  s.load.out_tokens = 256;
  s.slo.itl_ms = 40;
  s.slo.ttft_ms = 1000;
  return s;
}
}  // namespace

TEST_CASE("open loop: replicas from the queue model's rate, and bad servers are named") {
  ModelRegistry reg{{"m", model("Meta-Llama-3-8B")}};
  ServerRequest s = open_server();
  RecommendOptions o;
  o.menu.gpu_types = {"H100-SXM5-80GB"};
  const auto rec = recommend({s}, builtin(), reg, o);
  REQUIRE_FALSE(rec[0].choice.empty());
  for (const auto& opt : rec[0].options) {
    if (!opt.feasible) continue;
    INFO(opt.accelerator);
    CHECK(opt.replicas == static_cast<int>(std::ceil(20.0 / opt.rate_per_replica_rps - 1e-9)));
    CHECK(opt.itl_ms <= 40 * (1 + 1e-9));
    CHECK(opt.ttft_ms <= 1000 * (1 + 1e-9));
    CHECK(opt.batch <= opt.estimate.n_max);
  }
  s.model = "nope";
  CHECK_THROWS_WITH(recommend({s}, builtin(), reg, o), Catch::Contains("unknown model \"nope\""));
}

TEST_CASE("open loop with the vllm service model: its wait and per-sequence cost lower the rate") {
  ModelRegistry reg{{"m", model("Meta-Llama-3-8B")}};
  ServerRequest s = open_server();
  RecommendOptions o;
  o.menu.gpu_types = {"H100-SXM5-80GB"};
  o.menu.include_slices = false;
  const auto rate = [&](const RecommendOptions& opts) {
    const auto rec = recommend({s}, builtin(), reg, opts);
    REQUIRE(rec[0].options.size() == 1);
    REQUIRE(rec[0].options[0].feasible);
    return rec[0].options[0].rate_per_replica_rps;
  };
  const double plain = rate(o);
  o.service_model = "vllm";
  const double waited = rate(o);
  o.per_sequence_ms = 0.001;
  const double loaded = rate(o);
  CHECK(waited < plain);
  CHECK(loaded < waited);
  o.service_model = "token";
  CHECK_THROWS_WITH(recommend({s}, builtin(), reg, o), Catch::Contains("allowed: iteration, vllm"));
  o.service_model = "vllm";
  o.per_sequence_ms = -1;
  CHECK_THROWS_WITH(recommend({s}, builtin(), reg, o), Catch::Contains("perSequenceMs"));
}

TEST_CASE("MIG geometry facts (docs/sizing.md §7)") {
  const GeometryFacts f = geometry_facts(*builtin().geometry("A100-SXM4-80GB"));
  CHECK(f.placed_layouts == 722);
  CHECK(f.multisets.size() == 77);
  CHECK(f.maximal.size() == 28);
  // Profiles: 1g.10gb, 1g.20gb (1g·2m), 2g, 3g, 4g, 7g.
  std::size_t without_2m = 0;
  for (const auto& v : f.maximal) without_2m += v[1] == 0 ? 1 : 0;
  CHECK(without_2m == 12);
  for (const auto& v : f.multisets) {
    int g = 0, mem = 0;
    const auto& geo = *builtin().geometry("A100-SXM4-80GB");
    std::vector<const MigProfile*> ps;
    for (const auto& p : geo.profiles)
      if (!p.media) ps.push_back(&p);
    for (std::size_t i = 0; i < v.size(); ++i) {
      g += v[i] * ps[i]->g;
      mem += v[i] * ps[i]->mem_slices;
    }
    CHECK(g <= 7);
    CHECK(mem <= 8);
  }
  // On an empty GPU, a multiset fits iff Σg <= 7 and Σmem <= 8: every vector of up to 8 instances.
  const auto& geo = *builtin().geometry("A100-SXM4-80GB");
  const int g_of[] = {1, 1, 2, 3, 4, 7}, mem_of[] = {1, 2, 2, 4, 4, 8};
  std::vector<int> c(6, 0);
  long long checked = 0;
  auto visit = [&](auto&& self, std::size_t i, int total) -> void {
    if (i == c.size()) {
      int g = 0, mem = 0;
      for (std::size_t k = 0; k < 6; ++k) {
        g += c[k] * g_of[k];
        mem += c[k] * mem_of[k];
      }
      CHECK(fits_on_empty_gpu(geo, c) == (g <= 7 && mem <= 8));
      ++checked;
      return;
    }
    for (int k = 0; total + k <= 8; ++k) {
      c[i] = k;
      self(self, i + 1, total + k);
    }
    c[i] = 0;
  };
  visit(visit, 0, 0);
  CHECK(checked == 3003);  // count vectors of 6 profiles with at most 8 instances: C(8 + 6, 6)
  const GeometryFacts a30 = geometry_facts(*builtin().geometry("A30"));
  CHECK(a30.multisets.size() == 9);
  CHECK(a30.maximal.size() == 4);
}

namespace {

int gpus_for(const std::vector<SliceDemand>& demand, bool* optimal = nullptr) {
  const auto& geo = *builtin().geometry("A100-SXM4-80GB");
  const Packing p = pack(geo, demand);
  for (const auto& g : p.gpus) CHECK(check_layout(geo, g).empty());
  if (optimal) *optimal = p.optimal;
  return p.gpus_used;
}

}  // namespace

TEST_CASE("packing golden optima (docs/sizing.md §7)") {
  bool optimal = false;
  CHECK(gpus_for({{"3g.40gb", 3, ""}, {"2g.20gb", 2, ""}, {"1g.10gb", 5, ""}}, &optimal) == 3);
  CHECK(optimal);
  CHECK(gpus_for({{"4g.40gb", 2, ""}, {"3g.40gb", 2, ""}, {"2g.20gb", 1, ""}}) == 3);
  CHECK(gpus_for({{"1g.20gb", 5, ""}}) == 2);
  CHECK(gpus_for({{"2g.20gb", 4, ""}, {"1g.20gb", 3, ""}}) == 2);
  CHECK(gpus_for({{"3g.40gb", 1, ""}, {"2g.20gb", 3, ""}, {"1g.10gb", 2, ""}}) == 2);
  CHECK(packing_lower_bound(*builtin().geometry("A100-SXM4-80GB"), {5, 0, 2, 3, 0, 0}) == 3);
}

TEST_CASE("incremental packing searches starts: 1g@0 and 1g@4 leave no room for a 3g") {
  const auto& geo = *builtin().geometry("A100-SXM4-80GB");
  GpuLayout existing;
  existing.slices = {{"1g.10gb", 0, 1, 1, "a"}, {"1g.10gb", 4, 1, 1, "b"}};
  const Packing p = pack(geo, {{"3g.40gb", 1, "new"}}, {existing});
  REQUIRE(p.gpus.size() == 2);
  CHECK(p.gpus[0].slices.size() == 2);  // unchanged
  CHECK(p.gpus[1].slices.size() == 1);
  CHECK(p.gpus[1].slices[0].owner == "new");
  // With repartitioning allowed, everything fits on the one GPU, which is then disrupted.
  PackOptions o;
  o.allow_repartition = true;
  const Packing q = pack(geo, {{"3g.40gb", 1, "new"}}, {existing}, o);
  CHECK(q.gpus_used == 1);
  CHECK(q.gpus[0].disrupted);
  GpuLayout bad;
  bad.slices = {{"3g.40gb", 2, 4, 3, ""}};
  CHECK_THROWS_WITH(pack(geo, {}, {bad}), Catch::Contains("cannot start at memory slice 2"));
}

TEST_CASE("nvidia-smi -lgip / -lgipp text parses into the catalog's geometry") {
  const std::string lgip = R"(
+-----------------------------------------------------------------------------+
| GPU instance profiles:                                                      |
| GPU   Name             ID    Instances   Memory     P2P    SM    DEC   ENC  |
|                              Free/Total   GiB              CE    JPEG  OFA  |
|=============================================================================|
|   0  MIG 1g.5gb        19     7/7        4.75       No     14     0     0   |
|                                                             1     0     0   |
+-----------------------------------------------------------------------------+
|   0  MIG 1g.5gb+me     20     1/1        4.75       No     14     1     0   |
|                                                             1     1     1   |
+-----------------------------------------------------------------------------+
|   0  MIG 1g.10gb       15     4/4        9.62       No     14     1     0   |
|   0  MIG 2g.10gb       14     3/3        9.62       No     28     1     0   |
|   0  MIG 3g.20gb        9     2/2        19.50      No     42     2     0   |
|   0  MIG 4g.20gb        5     1/1        19.50      No     56     2     0   |
|   0  MIG 7g.40gb        0     1/1        39.25      No     98     5     0   |
+-----------------------------------------------------------------------------+
)";
  const std::string lgipp = R"(GPU  0 Profile ID 19 Placements: {0,1,2,3,4,5,6}:1
GPU  0 Profile ID 20 Placements: {0,1,2,3,4,5,6}:1
GPU  0 Profile ID 15 Placements: {0,2,4,6}:2
GPU  0 Profile ID 14 Placements: {0,2,4}:2
GPU  0 Profile ID  9 Placements: {0,4}:4
GPU  0 Profile ID  5 Placement : {0}:4
GPU  0 Profile ID  0 Placement : {0}:8
)";
  const MigGeometry geo = parse_nvidia_smi(lgip, lgipp, "captured", 7, 8);
  const MigGeometry& ref = *builtin().geometry("A100-SXM4-40GB");
  REQUIRE(geo.profiles.size() == ref.profiles.size());
  for (const auto& p : geo.profiles) {
    INFO(p.name);
    const MigProfile* r = ref.find(p.name);
    REQUIRE(r);
    CHECK(p.nvml_id == r->nvml_id);
    CHECK(p.starts == r->starts);
    CHECK(p.mem_slices == r->mem_slices);
    CHECK(p.sm_count == r->sm_count);
    CHECK(p.media == r->media);
  }
  CHECK_THROWS_AS(parse_nvidia_smi("nothing", lgipp, "x", 7, 8), InvalidArgument);
}

TEST_CASE("bad catalog and config input is named") {
  Catalog c = builtin();
  CHECK_THROWS_WITH(inferno::io::merge_catalog(c, R"({"gpus": [{"id": "X", "memGiB": 10, "bwGBps": -1}]})", "user.json"),
                    Catch::Contains("gpus.X.bwGBps must be a finite number in (0, 1e+09], got -1"));
  CHECK_THROWS_WITH(inferno::io::merge_catalog(c, R"({"gpus": [{"id": "A100-SXM4-80GB", "bwGBPS": 1}]})", "user.json"),
                    Catch::Contains("unknown key \"bwGBPS\""));
  inferno::io::merge_catalog(c, R"({"gpus": [{"id": "A100-SXM4-80GB", "cost": 33}]})", "user.json");
  CHECK(c.find_gpu("A100-SXM4-80GB")->cost == 33);
  CHECK(c.find_gpu("A100-SXM4-80GB")->bw_Bps == 2039e9);  // other fields kept
  CHECK_THROWS_WITH(inferno::io::arch_from_hf_config(R"({"model_type": "llama", "hidden_size": 4096})"),
                    Catch::Contains("num_hidden_layers is required"));
  CHECK_THROWS_WITH(inferno::io::arch_from_hf_config(R"({"model_type": "exotic", "num_hidden_layers": 2, "hidden_size": 8,
      "num_attention_heads": 2, "intermediate_size": 8, "vocab_size": 10, "max_position_embeddings": 16})"),
                    Catch::Contains("no known defaults"));
  CHECK_THROWS_WITH(builtin().accelerator("A100-SXM4-80GB:9g.99gb"), Catch::Contains("unknown MIG profile"));
  ServingOpts tp2;
  tp2.tp = 2;
  CHECK_THROWS_WITH(derive(model("Meta-Llama-3-8B"), tp2, builtin().accelerator("A100-SXM4-80GB:3g.40gb")),
                    Catch::Contains("no peer-to-peer"));
}

TEST_CASE("capacity: an option that alone needs more GPUs than owned is not feasible, and the choices' sum is reported") {
  ModelRegistry reg{{"m", model("Meta-Llama-3-8B")}};
  ServerRequest s = open_server();
  RecommendOptions o;
  o.menu.gpu_types = {"A100-SXM4-80GB"};
  o.menu.include_slices = false;
  const auto free = recommend({s}, builtin(), reg, o);
  REQUIRE(free[0].choice_index >= 0);
  const Option& whole = free[0].options[static_cast<std::size_t>(free[0].choice_index)];
  REQUIRE(whole.replicas >= 2);
  CHECK(whole.gpus() == whole.replicas);  // whole GPUs, no tensor parallelism
  // One GPU fewer than the choice needs: no A100 option qualifies.
  o.capacity = {{"A100-SXM4-80GB", whole.replicas - 1}};
  const auto short_of = recommend({s}, builtin(), reg, o);
  CHECK(short_of[0].unallocated);
  for (const auto& opt : short_of[0].options)
    if (opt.estimate.feasible && opt.predicted) CHECK(opt.reason == "capacity");
  // Exactly enough: the same choice, and capacity_use sums what the choices need.
  o.capacity = {{"A100-SXM4-80GB", whole.replicas}};
  const auto enough = recommend({s, s}, builtin(), reg, o);
  CHECK(enough[0].choice == whole.accelerator);
  const auto use = capacity_use(enough, o);
  CHECK(use.at("A100-SXM4-80GB").needed_gpus == 2.0 * whole.replicas);  // two servers, each alone fits
  CHECK(use.at("A100-SXM4-80GB").owned_gpus == whole.replicas);
  o.capacity = {{"B200-none", 3}};
  CHECK_THROWS_WITH(recommend({s}, builtin(), reg, o), Catch::Contains("capacity: unknown GPU type \"B200-none\""));
}

TEST_CASE("capacity: slices count their larger share of a GPU's compute and memory") {
  ModelRegistry reg{{"m", model("Meta-Llama-3-8B")}};
  ServerRequest s = open_server();
  s.load.arrival_rate_rps = 1.0;
  RecommendOptions o;
  o.menu.gpu_types = {"A100-SXM4-80GB"};
  const auto rec = recommend({s}, builtin(), reg, o);
  for (const auto& opt : rec[0].options) {
    if (opt.profile != "3g.40gb" || !opt.predicted) continue;
    // 3 of 7 compute slices and 4 of 8 memory slices per replica
    CHECK(opt.gpu_compute == Approx(opt.replicas * 3.0 / 7.0));
    CHECK(opt.gpu_memory == Approx(opt.replicas * 4.0 / 8.0));
    CHECK(opt.gpus() == Approx(opt.replicas * 0.5));
  }
}

TEST_CASE("open loop: a percentile target reports the percentile it was checked against") {
  ModelRegistry reg{{"m", model("Meta-Llama-3-8B")}};
  ServerRequest s = open_server();
  RecommendOptions o;
  o.menu.gpu_types = {"H100-SXM5-80GB"};
  const auto means = recommend({s}, builtin(), reg, o);  // kept: a loop over a temporary's member dangles
  for (const auto& opt : means[0].options) {
    CHECK_FALSE(opt.itl_at_percentile_ms.has_value());  // mean targets: no percentile to report
    CHECK_FALSE(opt.ttft_at_percentile_ms.has_value());
  }
  s.slo.itl_percentile = s.slo.ttft_percentile = 95;
  int feasible = 0;
  const auto percentiles = recommend({s}, builtin(), reg, o);
  for (const auto& opt : percentiles[0].options) {
    if (!opt.feasible) continue;
    INFO(opt.accelerator);
    ++feasible;
    REQUIRE(opt.itl_at_percentile_ms.has_value());
    REQUIRE(opt.ttft_at_percentile_ms.has_value());
    CHECK(*opt.itl_at_percentile_ms <= 40 * (1 + 1e-9));
    CHECK(*opt.ttft_at_percentile_ms <= 1000 * (1 + 1e-9));
    CHECK(*opt.itl_at_percentile_ms >= opt.itl_ms);
  }
  CHECK(feasible > 0);
}

TEST_CASE("sizing documents take their keys from their formats", "[sizing][formats]") {
  using nlohmann::json;
  namespace io = inferno::io;
  const json point = {{"accelerator", "A100-SXM4-80GB"}, {"concurrency", 4}, {"n", 512}, {"m", 128}, {"tpot_ms", 9.0}};
  const auto points = io::points_from_document(json{{"model", "m"}, {"points", json::array({point})}});
  REQUIRE(points.size() == 1);
  CHECK(*points[0].tpot_ms == 9.0);
  json both = point;
  both["itl_ms"] = 9.0;  // one measurement under two names
  CHECK_THROWS_WITH(io::points_from_document(json::array({both})),
                    "points[0]: give tpot_ms or itl_ms (the same measurement), not both");
  CHECK_THROWS_WITH(io::points_from_document(json{{"pionts", json::array()}}),
                    Catch::StartsWith("points document: unknown key \"pionts\"; allowed: model, points"));
  json itl_only = point;
  itl_only.erase("tpot_ms");
  itl_only["itl_ms"] = 7.5;
  CHECK(*io::points_from_document(json::array({itl_only}))[0].tpot_ms == 7.5);
  // a placed slice with a misspelt key is refused instead of read as start 0
  CHECK_THROWS_WITH(io::layouts_from_document(json::parse(R"([[{"profile": "1g.10gb", "strat": 2}]])")),
                    Catch::StartsWith("gpus[0].slices[0]: unknown key \"strat\"; allowed: profile, start, owner"));
  CHECK_THROWS_WITH(io::demand_from_document(json::parse(R"([{"profile": "1g.10gb", "cnt": 2}])")),
                    Catch::StartsWith("demand[0]: unknown key \"cnt\""));
  // the catalog's keys, at every level, from its format
  Catalog catalog;
  CHECK_THROWS_WITH(io::merge_catalog_document(catalog, json::parse(R"({"migFamilies": {"F": {"computeSlices": 7, "profile": []}}})"), "c.json"),
                    Catch::StartsWith("c.json.migFamilies.F: unknown key \"profile\"; allowed: computeSlices, memorySlices, profiles, note"));
  CHECK_THROWS_WITH(io::merge_catalog_document(catalog, json::parse(R"({"gpus": [{"id": "X", "power": {"idle": 1, "peak": 2}}]})"), "c.json"),
                    Catch::StartsWith("c.json.gpus[0] (X).power: unknown key \"peak\"; allowed: idle, midPower, midUtil, full"));
}

TEST_CASE("tensor parallelism: the link, the all-reduce time and its place in alpha and beta") {
  const Catalog& c = builtin();
  const GpuSpec& sxm = *c.find_gpu("H100-SXM5-80GB");
  const GpuSpec& pcie = *c.find_gpu("H100-PCIE-80GB");
  CHECK(tensor_parallel_link(sxm, 1).empty());
  CHECK(tensor_parallel_link(sxm, 8) == "nvlink");
  CHECK(tensor_parallel_link(pcie, 2) == "nvlink");  // the bridged pair
  CHECK(tensor_parallel_link(pcie, 4) == "pcie");
  CHECK(tensor_parallel_link(*c.find_gpu("L4"), 2) == "pcie");
  CHECK_THROWS_WITH(tensor_parallel_link(sxm, 16), Catch::Contains("at most 8"));
  // Ring all-reduce of 16 KiB over 8 GPUs on 450 GB/s at η_link 0.8: 10 µs + 2·7/8·16384 B / 360 GB/s.
  CHECK(allreduce_time_ms(sxm, 8, 16384) == Approx(0.01 + 1e3 * 2.0 * 7.0 / 8.0 * 16384 / (0.8 * 450e9)).epsilon(1e-12));
  Efficiency fixed;
  fixed.allreduce_ms = 0.002;
  CHECK(allreduce_time_ms(sxm, 2, 0, fixed) == Approx(0.002));
  CHECK(allreduce_time_ms(sxm, 1, 1e9) == 0.0);

  // Llama-2-70B (L = 80, h = 8192) at TP 4 on the SXM board: per computed token, 2·L all-reduces
  // of h·2 bytes; per iteration, 2·L fixed latencies.
  const ModelArch arch = model("Llama-2-70b-hf");
  ServingOpts one, four;
  four.tp = 4;
  const Accelerator acc = c.accelerator("H100-SXM5-80GB");
  const RooflineTerms t4 = roofline_terms(arch, four, acc);
  const double token_ms = 2.0 * 80 * 1e3 * 2.0 * 3.0 / 4.0 * (8192 * 2.0) / (0.8 * 450e9);
  CHECK(t4.comm_ms == Approx(2.0 * 80 * 0.01));
  CHECK(t4.comm_token_ms == Approx(token_ms).epsilon(1e-12));
  const Estimate e1 = derive(model("Llama-3.1-8B"), one, acc);
  ServingOpts two;
  two.tp = 2;
  const Estimate e2 = derive(model("Llama-3.1-8B"), two, acc);
  const RooflineTerms t2 = roofline_terms(model("Llama-3.1-8B"), two, acc);
  // Compute halves, the all-reduce's bandwidth part is added to β; weights per device halve.
  CHECK(e2.beta_ms == Approx(e1.beta_ms / 2 + t2.comm_token_ms).epsilon(1e-12));
  CHECK(e2.weight_bytes == Approx(e1.weight_bytes / 2));
  CHECK(e2.alpha_ms == Approx(0.5 + (e1.alpha_ms - 0.5) / 2 + 2.0 * 32 * 0.01).epsilon(1e-12));
  // Over PCIe the same group pays 450/64 times the bandwidth part of the bridged or NVLink link.
  const RooflineTerms p4 = roofline_terms(arch, four, c.accelerator("H100-PCIE-80GB"));
  CHECK(p4.comm_token_ms == Approx(t4.comm_token_ms * 450.0 / 64.0).epsilon(1e-12));

  ServingOpts three;
  three.tp = 3;
  CHECK_THROWS_WITH(derive(model("Llama-3.1-8B"), three, acc), Catch::Contains("does not divide the model's 32 attention heads"));
  ServingOpts sixteen;
  sixteen.tp = 16;
  CHECK_THROWS_WITH(derive(model("Llama-3.1-8B"), sixteen, acc), Catch::Contains("nodeGpus"));
  Catalog no_link = c;
  inferno::io::merge_catalog(no_link, R"({"gpus": [{"id": "L4", "pcieGBps": 0}]})", "user.json");
  CHECK_THROWS_WITH(derive(model("Llama-3.1-8B"), two, no_link.accelerator("L4")), Catch::Contains("gives no link for 2 GPUs"));
  CHECK_THROWS_WITH(inferno::io::merge_catalog(no_link, R"({"gpus": [{"id": "L4", "nvlinkGpus": 65}]})", "user.json"),
                    Catch::Contains("nvlinkGpus"));
}
