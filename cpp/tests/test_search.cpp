// The configuration search's analytical screen (docs/search.md).
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "inferno/error.hpp"
#include "inferno/io/sizing_json.hpp"
#include "inferno/queue/analyzer.hpp"
#include "inferno/search/screen.hpp"

using namespace inferno::search;
using inferno::InvalidArgument;
namespace sz = inferno::sizing;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(std::string(INFERNO_SOURCE_DIR) + "/" + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const sz::Catalog& catalog() {
  static const sz::Catalog c = [] {
    sz::Catalog cat;
    inferno::io::merge_catalog(cat, read("python/inferno/data/catalog.json"), "catalog.json");
    return cat;
  }();
  return c;
}

const sz::ModelRegistry& registry() {
  static const sz::ModelRegistry r{
      {"llama8b", inferno::io::arch_from_hf_config(read("python/inferno/data/models/Llama-3.1-8B.json"))},
      {"llama70b", inferno::io::arch_from_hf_config(read("python/inferno/data/models/Llama-2-70b-hf.json"))}};
  return r;
}

const std::vector<inferno::queue::Constraint> kSlo{{inferno::queue::TargetMetric::ttft, 95, 1000},
                                                   {inferno::queue::TargetMetric::itl, 0, 40}};

}  // namespace

TEST_CASE("screen: one configuration's rate, replicas and cost are those of the roofline and the queueing model") {
  Space space;
  space.models = {"llama8b"};
  space.accelerators = {"H100-SXM5-80GB"};
  space.max_num_seqs = {64};
  space.max_num_batched_tokens = {2048};
  const Workload w{25.0, 512, 128};
  const Result res = screen(space, w, kSlo, catalog(), registry());
  REQUIRE(res.rows.size() == 1);
  const Row& r = res.rows[0];
  REQUIRE(r.feasible);
  CHECK(res.evaluated == 1);
  // By hand: the roofline's θ, N = min(N_max, 64), Q = 10·N, then the analyzer's λ*.
  sz::ServingOpts serving;
  serving.max_num_seqs = 64;
  serving.max_num_batched_tokens = 2048;
  const sz::Estimate e = sz::derive(registry().at("llama8b"), serving, catalog().accelerator("H100-SXM5-80GB"), {}, {512, 128, 0});
  CHECK(r.alpha_ms == e.alpha_ms);
  CHECK(r.batch == std::min(64, e.n_max));
  inferno::queue::QueueConfig q;
  q.params = {{"alpha", e.alpha_ms}, {"beta", e.beta_ms}, {"gamma", e.gamma_ms}};
  q.shape = {512, 128, 2048};
  q.max_batch = r.batch;
  q.max_queue = 10 * r.batch;
  const inferno::queue::QueueAnalyzer a(q);
  inferno::queue::SizeOptions so;
  so.per_constraint = false;
  so.rate_rel_tol = 1e-6;
  const auto sized = a.max_rate({kSlo, 0}, so);
  CHECK(r.rate_per_replica_rps == sized.rate_rps);
  CHECK(r.binding == sized.binding);
  CHECK(r.replicas == static_cast<int>(std::ceil(25.0 / sized.rate_rps)));
  CHECK(r.cost_per_replica == catalog().find_gpu("H100-SXM5-80GB")->cost);
  CHECK(r.cost == r.cost_per_replica * r.replicas);
  CHECK(r.qps_per_dollar == Approx(r.rate_per_replica_rps / r.cost_per_replica));
  CHECK(r.qps_per_gpu == r.rate_per_replica_rps);
  CHECK(r.power_w > catalog().find_gpu("H100-SXM5-80GB")->power.idle_w);
  CHECK(r.power_w <= catalog().find_gpu("H100-SXM5-80GB")->power.full_w);
  // At the operating point, the replicas share the load and meet the SLO.
  inferno::queue::Evaluation ev;
  a.evaluate(25.0 / r.replicas, ev);
  CHECK(r.ttft_pct_ms == a.ttft_quantile(ev, 0.95));
  CHECK(r.ttft_pct_ms <= 1000 * (1 + 1e-9));
  CHECK(r.itl_ms <= 40 * (1 + 1e-9));
  CHECK(r.pareto);
}

TEST_CASE("screen: a pipeline of p stages is p engines of the whole model's iteration sharing the load") {
  Space space;
  space.models = {"llama70b"};
  space.accelerators = {"A100-SXM4-80GB"};
  space.tensor_parallel = {2};
  space.pipeline_parallel = {1, 2};
  space.max_num_seqs = {32};
  const Workload w{6.0, 512, 128};
  const std::vector<inferno::queue::Constraint> slo{{inferno::queue::TargetMetric::ttft, 95, 1000},
                                                  {inferno::queue::TargetMetric::itl, 0, 80}};
  const Result res = screen(space, w, slo, catalog(), registry());
  REQUIRE(res.rows.size() == 2);
  const Row& one = res.rows[0];
  const Row& two = res.rows[1];
  CHECK(one.pp == 1);
  CHECK(two.pp == 2);
  CHECK(two.gpus_per_replica == 4);
  CHECK(two.cost_per_replica == 4 * catalog().find_gpu("A100-SXM4-80GB")->cost);
  // The same time terms plus one link latency per stage hop.
  CHECK(two.alpha_ms == Approx(one.alpha_ms + 0.01).epsilon(1e-12));
  CHECK(two.beta_ms == Approx(one.beta_ms).epsilon(1e-12));
  // Each stage holds half the layers: more KV room than the 2-GPU replica.
  CHECK(two.kv_capacity_tokens > one.kv_capacity_tokens);
  REQUIRE(two.feasible);
  CHECK(two.batch == 32);
  inferno::queue::QueueConfig q;
  q.params = {{"alpha", two.alpha_ms}, {"beta", two.beta_ms}, {"gamma", two.gamma_ms}};
  q.shape = {512, 128, 8192};
  q.max_batch = 32;
  q.max_queue = 320;
  inferno::queue::SizeOptions so;
  so.per_constraint = false;
  so.rate_rel_tol = 1e-6;
  CHECK(two.rate_per_replica_rps == 2 * inferno::queue::QueueAnalyzer(q).max_rate({slo, 0}, so).rate_rps);
}

TEST_CASE("screen: infeasible configurations are rows with their reason, in the order of the space") {
  Space space;
  space.models = {"llama70b"};
  space.accelerators = {"L4", "H100-SXM5-80GB", "A100-SXM4-80GB:3g.40gb"};
  space.tensor_parallel = {1, 3, 16};
  space.max_num_seqs = {256};
  const Result res = screen(space, Workload{5.0, 512, 128}, kSlo, catalog(), registry());
  REQUIRE(res.rows.size() == 7);  // 2 GPUs × 3 degrees + the slice at degree 1
  CHECK(space.size() == 7);
  CHECK(res.rows[0].reason == "weightsDoNotFit");  // 140 GB on one L4
  CHECK_THAT(res.rows[1].reason, Catch::Contains("does not divide the model's 64 attention heads"));
  CHECK_THAT(res.rows[2].reason, Catch::Contains("nodeGpus"));
  CHECK(res.rows[6].accelerator == "A100-SXM4-80GB:3g.40gb");
  CHECK(res.rows[6].tp == 1);
  CHECK(res.rows[6].reason == "weightsDoNotFit");
  for (const auto& r : res.rows) CHECK_FALSE(r.pareto);
  // An SLO below the fastest achievable: every row says so, with the violated target.
  Space fast;
  fast.models = {"llama8b"};
  fast.accelerators = {"H100-SXM5-80GB"};
  const std::vector<inferno::queue::Constraint> impossible{{inferno::queue::TargetMetric::itl, 0, 1.0}};
  const Result none = screen(fast, Workload{5.0, 512, 128}, impossible, catalog(), registry());
  CHECK(none.rows[0].reason == "slo");
  CHECK(none.rows[0].binding == "ITL");
}

TEST_CASE("screen: the result does not depend on the thread count") {
  Space space;
  space.models = {"llama8b", "llama70b"};
  space.accelerators = {"A100-SXM4-80GB", "H100-SXM5-80GB", "H100-SXM5-80GB:3g.40gb"};
  space.tensor_parallel = {1, 2, 4};
  space.max_num_seqs = {64, 256};
  space.max_num_batched_tokens = {1024, 8192};
  Options one, three;
  three.threads = 3;
  const Result a = screen(space, Workload{20.0, 1024, 256}, kSlo, catalog(), registry(), one);
  const Result b = screen(space, Workload{20.0, 1024, 256}, kSlo, catalog(), registry(), three);
  REQUIRE(a.rows.size() == b.rows.size());
  for (std::size_t i = 0; i < a.rows.size(); ++i) {
    CHECK(a.rows[i].rate_per_replica_rps == b.rows[i].rate_per_replica_rps);
    CHECK(a.rows[i].ttft_pct_ms == b.rows[i].ttft_pct_ms);
    CHECK(a.rows[i].pareto == b.rows[i].pareto);
    CHECK(a.rows[i].reason == b.rows[i].reason);
  }
}

TEST_CASE("mark_pareto: dominance in cost, TTFT and ITL") {
  std::vector<Row> rows(5);
  const double pts[5][3] = {{10, 100, 30}, {10, 120, 30}, {8, 200, 50}, {12, 90, 20}, {8, 200, 50}};
  for (int i = 0; i < 5; ++i) {
    rows[i].feasible = true;
    rows[i].cost = pts[i][0];
    rows[i].ttft_pct_ms = pts[i][1];
    rows[i].itl_pct_ms = pts[i][2];
  }
  rows[4].feasible = false;  // infeasible rows are never on the front, nor dominate
  mark_pareto(rows);
  CHECK(rows[0].pareto);
  CHECK_FALSE(rows[1].pareto);  // same cost and ITL as row 0, worse TTFT
  CHECK(rows[2].pareto);        // cheapest
  CHECK(rows[3].pareto);        // fastest
  CHECK_FALSE(rows[4].pareto);
}

TEST_CASE("screen: bad input names the field") {
  Space space;
  space.models = {"llama8b"};
  space.accelerators = {"H100-SXM5-80GB"};
  const Workload w{5.0, 512, 128};
  Space empty = space;
  empty.max_num_seqs.clear();
  CHECK_THROWS_WITH(screen(empty, w, kSlo, catalog(), registry()), Catch::Contains("space.maxNumSeqs is empty"));
  Space unknown = space;
  unknown.models = {"gpt-9"};
  CHECK_THROWS_WITH(screen(unknown, w, kSlo, catalog(), registry()), Catch::Contains("unknown model \"gpt-9\"; known: llama70b, llama8b"));
  Space gpu = space;
  gpu.accelerators = {"B900"};
  CHECK_THROWS_AS(screen(gpu, w, kSlo, catalog(), registry()), InvalidArgument);
  Space tp = space;
  tp.tensor_parallel = {0};
  CHECK_THROWS_WITH(screen(tp, w, kSlo, catalog(), registry()), Catch::Contains("space.tensorParallel"));
  CHECK_THROWS_WITH(screen(space, Workload{-1, 512, 128}, kSlo, catalog(), registry()), Catch::Contains("workload.rateRps"));
  CHECK_THROWS_WITH(screen(space, Workload{NAN, 512, 128}, kSlo, catalog(), registry()), Catch::Contains("workload.rateRps"));
  const std::vector<inferno::queue::Constraint> e2e_p95{{inferno::queue::TargetMetric::e2e, 95, 5000}};
  CHECK_THROWS_WITH(screen(space, w, e2e_p95, catalog(), registry()), Catch::Contains("end-to-end target is a mean"));
  const std::vector<inferno::queue::Constraint> negative{{inferno::queue::TargetMetric::ttft, 0, -5}};
  CHECK_THROWS_WITH(screen(space, w, negative, catalog(), registry()), Catch::Contains("slo.TTFT"));
  Options o;
  o.report_percentile = 100;
  CHECK_THROWS_WITH(screen(space, w, kSlo, catalog(), registry(), o), Catch::Contains("reportPercentile"));
}

TEST_CASE("screen: a mean end-to-end target bounds the response time") {
  Space space;
  space.models = {"llama8b"};
  space.accelerators = {"H100-SXM5-80GB"};
  const std::vector<inferno::queue::Constraint> e2e{{inferno::queue::TargetMetric::e2e, 0, 3000}};
  const Result r = screen(space, Workload{30.0, 512, 128}, e2e, catalog(), registry());
  REQUIRE(r.rows[0].feasible);
  CHECK(r.rows[0].binding == "E2E");
  CHECK(r.rows[0].e2e_ms <= 3000 * (1 + 1e-9));
}
