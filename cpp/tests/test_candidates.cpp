// Candidate generation (docs/optimizer.md §3) against the queueing core used directly.
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>

#include "inferno/error.hpp"
#include "inferno/optimizer/candidates.hpp"
#include "inferno/optimizer/solution.hpp"
#include "inferno/queue/analyzer.hpp"

using namespace inferno::optimizer;

namespace {
System tiny(const std::string& options) {
  SystemBuilder b;
  b.add_document("acc", R"({"accelerators": [{"name": "A100", "type": "A100", "multiplicity": 1, "cost": 40}]})");
  b.add_document("models", R"({"models": [{"name": "m", "acc": "A100", "accCount": 1, "maxBatchSize": 76,
      "atTokens": 512, "perfParms": {"alpha": 12, "beta": 0.05, "gamma": 0.0005}}]})");
  b.add_document("classes", R"({"serviceClasses": [{"name": "Gold", "priority": 1,
      "modelTargets": [{"model": "m", "slo-itl": 30, "slo-ttft": 500}]}]})");
  b.add_document("servers", R"({"servers": [
      {"name": "busy", "class": "Gold", "model": "m",
       "currentAlloc": {"load": {"arrivalRate": 600, "avgInTokens": 128, "avgOutTokens": 1024}}},
      {"name": "idle", "class": "Gold", "model": "m",
       "currentAlloc": {"accelerator": "A100", "numReplicas": 2, "cost": 80,
                        "load": {"arrivalRate": 0, "avgInTokens": 128, "avgOutTokens": 1024}}}]})");
  b.add_document("options", options);
  return b.build();
}
// The "busy" server of tiny() on the A100 record at the reference batch rule's N = 38, Q = 380.
inferno::queue::QueueConfig busy_config(const std::string& service_model, const inferno::queue::ModelParams& extra) {
  inferno::queue::QueueConfig cfg;
  cfg.service_model = service_model;
  cfg.params = {{"alpha", 12}, {"beta", 0.05}, {"gamma", 0.0005}};
  cfg.params.insert(extra.begin(), extra.end());
  cfg.shape = inferno::queue::RequestShape{128, 1024, 8192};
  cfg.max_batch = 38;
  cfg.max_queue = 380;
  return cfg;
}

// Gold's targets in tiny(): TTFT <= 500 ms, ITL <= 30 ms.
inferno::queue::Targets gold_targets() {
  inferno::queue::Targets t;
  t.constraints = {{inferno::queue::TargetMetric::ttft, 0, 500}, {inferno::queue::TargetMetric::itl, 0, 30}};
  return t;
}
}  // namespace

TEST_CASE("reference batch rule: candidate equals a direct queueing computation", "[candidates]") {
  const auto list = generate_candidates(tiny(R"({"optimizer": {"batchSizePolicy": "reference"}})"), 1);
  REQUIRE(list.size() == 2);
  const Candidate& c = list[0];
  CHECK(c.server == "busy");
  REQUIRE(c.feasible);
  CHECK(c.batch == 38);  // floor(76·512/1024)
  CHECK(c.queue == 380);
  const inferno::queue::QueueAnalyzer a(busy_config("iteration", {}));
  const inferno::queue::Targets t = gold_targets();
  const double rate = a.max_rate(t, optimizer_size_options()).metrics.throughput_rps;
  CHECK(c.rate_per_replica_rps == rate);
  CHECK(rate == Approx(a.max_rate(t).metrics.throughput_rps).epsilon(1e-9));  // same root
  CHECK(c.replicas == static_cast<int>(std::ceil(10.0 / rate)));
  CHECK(c.cost == 40.0 * c.replicas);
  CHECK(c.value == Approx(1.1 * c.cost));
  CHECK(c.itl_ms == a.analyze(10.0 / c.replicas).itl_ms);

  const Candidate& idle = list[1];
  CHECK(idle.outcome == "scaledToZero");
  CHECK(idle.accelerator == "A100");
  CHECK(idle.replicas == 0);
  CHECK(idle.value == -80.0);
}

TEST_CASE("candidates do not depend on the thread count", "[candidates]") {
  SystemBuilder b;
  b.add_directory(INFERNO_SOURCE_DIR "/samples/small");
  const System s = b.build();
  const auto one = generate_candidates(s, 1);
  const auto two = generate_candidates(s, 2);
  REQUIRE(one.size() == two.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    CHECK(one[i].server == two[i].server);
    CHECK(one[i].accelerator == two[i].accelerator);
    CHECK(one[i].batch == two[i].batch);
    CHECK(one[i].replicas == two[i].replicas);
    CHECK(one[i].value == two[i].value);
  }
}

TEST_CASE("unlimited solver: best value per server, deterministic ties, reasons", "[solver]") {
  SystemBuilder b;
  b.add_document("servers", R"({"servers": [{"name": "a", "model": "m"}, {"name": "b", "model": "m",
      "currentAlloc": {"accelerator": "X", "numReplicas": 1, "cost": 50}}, {"name": "c", "model": "m"}]})");
  b.add_document("options", R"({"optimizer": {"unlimited": true}})");
  const System sys = b.build();
  auto cand = [](const char* server, const char* acc, const char* type, double value, double cost,
                 int cards, bool feasible = true, const char* reason = "") {
    Candidate c;
    c.server = server;
    c.server_index = static_cast<std::size_t>(server[0] - 'a');
    c.accelerator = acc;
    c.type = type;
    c.value = value;
    c.cost = cost;
    c.cards = cards;
    c.replicas = cards;
    c.feasible = feasible;
    c.outcome = feasible ? "full" : "";
    c.reason = reason;
    return c;
  };
  const std::vector<Candidate> list = {
      cand("a", "Y", "T1", 110, 100, 2), cand("a", "X", "T1", 110, 100, 2),  // tie: name decides
      cand("a", "Z", "T2", 110, 100, 1),                                    // fewer cards wins
      cand("b", "X", "T1", -5, 45, 1), cand("b", "Y", "T1", 60, 40, 1),     // value, not cost
      cand("c", "X", "T1", 0, 0, 0, false, "slo"), cand("c", "Y", "T1", 0, 0, 0, false, "unconverged")};
  const Solution s = optimize(sys, list);
  REQUIRE(s.allocations.size() == 2);
  CHECK(s.allocations[0].accelerator == "Z");
  CHECK(s.allocations[1].accelerator == "X");
  CHECK(s.total_cost == 145);
  CHECK(s.total_value == 105);
  REQUIRE(s.unallocated.size() == 1);
  CHECK(s.unallocated[0].server == "c");
  CHECK(s.unallocated[0].detail == "slo on X; unconverged on Y");
  CHECK(s.status == "partial");
  CHECK(s.by_type.at("T1").units == 1);
  CHECK(s.by_type.at("T2").cost == 100);
  CHECK(s.diff.at("b").from_accelerator == "X");
  CHECK(s.diff.at("b").cost_delta == -5);
  CHECK(s.diff.at("c").to_accelerator.empty());
}

TEST_CASE("queueModel vllm: the vllm service model with the record's delta and epsilon (0 when absent)",
          "[candidates]") {
  // The record has neither: the vllm model then differs from iteration by the iteration wait only.
  const auto list = generate_candidates(tiny(R"({"optimizer": {"batchSizePolicy": "reference", "queueModel": "vllm"}})"), 1);
  REQUIRE(list.size() == 2);
  const Candidate& c = list[0];
  REQUIRE(c.feasible);
  CHECK(c.service_model == "vllm");
  const inferno::queue::QueueAnalyzer a(busy_config("vllm", {{"delta", 0}, {"epsilon", 0}}));
  const inferno::queue::Targets t = gold_targets();
  CHECK(c.rate_per_replica_rps == a.max_rate(t, optimizer_size_options()).metrics.throughput_rps);
  CHECK(c.ttft_ms == a.analyze(10.0 / c.replicas).ttft_ms);
  const auto plain = generate_candidates(tiny(R"({"optimizer": {"batchSizePolicy": "reference"}})"), 1);
  CHECK(plain[0].service_model == "iteration");
  CHECK(c.ttft_ms > plain[0].ttft_ms);  // the wait for the iteration in progress
  CHECK_THROWS_WITH(tiny(R"({"optimizer": {"queueModel": "v4"}})"), Catch::Contains("vllm"));
}

TEST_CASE("the value of an allocation: one objective and one change penalty for every solver", "[candidates]") {
  // docs/optimizer.md §3: value = objective - current objective + weighted change penalties.
  OptimizerSpec o;
  o.power_price = 0.5;
  o.change_weight = 0.25;
  o.accelerator_change_penalty = 0.1;
  o.objective = Objective::cost;
  CHECK(objective_of(o, 40, 300) == 40);
  CHECK(current_objective(o, 30) == 30);
  CHECK(change_penalty_weight(o) == 1);
  CHECK(accelerator_change_value(o, 30, 40) == Approx(0.1 * 70));
  o.objective = Objective::weighted;
  CHECK(objective_of(o, 40, 300) == 40 + 0.5 * 300);
  CHECK(current_objective(o, 30) == 30);
  o.objective = Objective::power;  // watts: the current allocation's power is unknown, penalties are weighted
  CHECK(objective_of(o, 40, 300) == 300);
  CHECK(current_objective(o, 30) == 0);
  CHECK(change_penalty_weight(o) == 0.25);
  CHECK(accelerator_change_value(o, 30, 40) == Approx(0.25 * 0.1 * 70));
}

TEST_CASE("one replica sizer: size_replicas is the candidate generator's sizing (docs/optimizer.md §3)",
          "[candidates][sizer]") {
  const System sys = tiny(R"({"optimizer": {}})");
  const auto cands = generate_candidates(sys, 1);
  const Candidate& busy = cands.front();
  REQUIRE(busy.server == "busy");
  REQUIRE(busy.feasible);
  // The same model: the record's N_hi = maxBatchSize·atTokens/m = 76·512/1024 = 38.
  inferno::queue::QueueConfig cfg = busy_config("iteration", {});
  cfg.max_queue = 0;
  const auto full = std::make_shared<const inferno::queue::QueueAnalyzer>(cfg);
  ModelTarget gold;
  gold.itl_ms = 30;
  gold.ttft_ms = 500;
  const ReplicaSizing sized = size_replicas(full, gold, 10.0, 0, 38, 38, sys.options());
  CHECK(sized.batch == busy.batch);
  CHECK(sized.queue == busy.queue);
  CHECK(sized.replicas == busy.replicas);
  CHECK(sized.rate_rps == busy.rate_per_replica_rps);  // bit for bit: one code path
  CHECK(sized.required_replicas == busy.required_replicas);
  CHECK(sized.replicas == static_cast<int>(std::ceil(10.0 / sized.rate_rps)));
}

TEST_CASE("a percentile target sizes on the tail: its rate is at most the mean target's, and it holds",
          "[candidates][sizer]") {
  inferno::queue::QueueConfig cfg = busy_config("iteration", {});
  cfg.max_queue = 0;
  const auto full = std::make_shared<const inferno::queue::QueueAnalyzer>(cfg);
  OptimizerSpec fixed;  // the reference rule takes N = n_ref: the two targets are compared at one N
  fixed.batch_size_policy = BatchSizePolicy::reference;
  ModelTarget mean, p95;
  mean.ttft_ms = p95.ttft_ms = 500;
  p95.ttft_percentile = 95;
  const ReplicaSizing at_mean = size_replicas(full, mean, 10.0, 0, 38, 38, fixed);
  const ReplicaSizing at_p95 = size_replicas(full, p95, 10.0, 0, 38, 38, fixed);
  REQUIRE(at_mean.batch == 38);
  REQUIRE(at_p95.batch == 38);
  CHECK(at_p95.rate_rps < at_mean.rate_rps);
  CHECK(at_p95.replicas >= at_mean.replicas);
  // At λ* the P95 TTFT is at its target (the search's tolerance), and above it a little further on.
  const inferno::queue::QueueAnalyzer q(*full, 38, at_p95.queue);
  inferno::queue::Evaluation ev;
  q.evaluate(at_p95.rate_rps, ev);
  CHECK(q.ttft_quantile(ev, 0.95) <= 500 * (1 + 1e-6));
  q.evaluate(at_p95.rate_rps * 1.01, ev);
  CHECK(q.ttft_quantile(ev, 0.95) > 500);
  CHECK_THROWS_AS(size_replicas(full, mean, -1, 0, 38, 38, fixed), inferno::InvalidArgument);
  CHECK_THROWS_AS(size_replicas(full, mean, 1, 0, 39, 39, fixed), inferno::InvalidArgument);
}
