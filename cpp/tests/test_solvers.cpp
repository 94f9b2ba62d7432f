// Solvers (docs/optimizer.md §4, §5): the greedy's worked example, best-effort policies, the HiGHS
// models against enumeration, the power curve and the solution JSON.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "inferno/io/solution_json.hpp"
#include "inferno/optimizer/highs_info.hpp"
#include "inferno/optimizer/solution.hpp"

using namespace inferno::optimizer;

namespace {

// docs/optimizer.md §4.3: types X and Y, profiles gX (cost 10) and gY (cost 14), three priority-1 servers.
System example(int cap_y, const std::string& options) {
  SystemBuilder b;
  b.add_document("acc", R"({"accelerators": [
      {"name": "gX", "type": "X", "multiplicity": 1, "cost": 10},
      {"name": "gY", "type": "Y", "multiplicity": 1, "cost": 14}]})");
  b.add_document("cap", R"({"count": [{"type": "X", "count": 10}, {"type": "Y", "count": )" +
                            std::to_string(cap_y) + "}]}");
  b.add_document("models", R"({"models": [
      {"name": "m", "acc": "gX", "accCount": 1, "maxBatchSize": 16, "atTokens": 64, "perfParms": {"alpha": 10, "beta": 0.1, "gamma": 0.001}},
      {"name": "m", "acc": "gY", "accCount": 1, "maxBatchSize": 16, "atTokens": 64, "perfParms": {"alpha": 8, "beta": 0.1, "gamma": 0.001}}]})");
  b.add_document("classes", R"({"serviceClasses": [{"name": "Gold", "priority": 1,
      "modelTargets": [{"model": "m", "slo-itl": 50, "slo-ttft": 1000}]}]})");
  b.add_document("servers", R"({"servers": [
      {"name": "A", "class": "Gold", "model": "m", "currentAlloc": {"load": {"arrivalRate": 600, "avgInTokens": 64, "avgOutTokens": 64}}},
      {"name": "B", "class": "Gold", "model": "m", "currentAlloc": {"load": {"arrivalRate": 600, "avgInTokens": 64, "avgOutTokens": 64}}},
      {"name": "C", "class": "Gold", "model": "m", "currentAlloc": {"load": {"arrivalRate": 600, "avgInTokens": 64, "avgOutTokens": 64}}}]})");
  b.add_document("options", options);
  return b.build();
}

// A feasible, full candidate of `replicas` replicas, each taking `cards_per_replica` capacity units,
// with a real queueing configuration (batch 16, queue 160) so that it can be re-analysed.
Candidate full_candidate(const std::string& server, std::size_t index, const std::string& acc, const std::string& type,
                         int replicas, long long cards_per_replica) {
  Candidate c;
  c.server = server;
  c.server_index = index;
  c.accelerator = acc;
  c.type = type;
  c.service_model = "iteration";
  c.feasible = true;
  c.outcome = "full";
  c.slo_met = true;
  c.batch = 16;
  c.queue = 160;
  c.replicas = c.required_replicas = replicas;
  c.units_per_replica = 1;
  c.cards_per_replica = cards_per_replica;
  c.cards = replicas * cards_per_replica;
  return c;
}

// Candidates with the replica counts of the example; each has a real queueing configuration so
// that best-effort allocations can be re-analysed.
std::vector<Candidate> example_candidates() {
  auto cand = [](const char* server, std::size_t index, const char* acc, int replicas, double unit_cost) {
    Candidate c = full_candidate(server, index, acc, acc[1] == 'X' ? "X" : "Y", replicas, 1);
    c.cost = c.objective = unit_cost * replicas;
    c.value = 1.1 * c.cost;
    c.demand_rps = 10;
    c.rate_per_replica_rps = 10.0 / replicas;
    return c;
  };
  return {cand("A", 0, "gX", 6, 10), cand("A", 0, "gY", 5, 14), cand("B", 1, "gX", 5, 10),
          cand("B", 1, "gY", 4, 14), cand("C", 2, "gX", 3, 10)};
}

const Candidate* find(const Solution& s, const std::string& server) {
  for (const auto& c : s.allocations)
    if (c.server == server) return &c;
  return nullptr;
}

}  // namespace

TEST_CASE("greedy: the worked example of docs/optimizer.md §4.3", "[greedy]") {
  const auto cands = example_candidates();
  const Solution s = optimize(example(4, R"({"optimizer": {"solver": "greedy", "greedyRefine": false}})"), cands);
  REQUIRE(s.allocations.size() == 3);
  CHECK(find(s, "A")->accelerator == "gX");
  CHECK(find(s, "B")->accelerator == "gY");  // re-inserted after failing on gX, then placed
  CHECK(find(s, "B")->replicas == 4);
  CHECK(find(s, "C")->accelerator == "gX");
  CHECK(s.total_cost == 146);
  CHECK(s.status == "ok");
  CHECK(s.by_type.at("X").units == 9);
  CHECK(s.by_type.at("Y").units == 4);
}

TEST_CASE("greedy: saturation policies on the scarce variant (cap Y = 3)", "[greedy]") {
  const auto cands = example_candidates();
  SECTION("None leaves B unallocated for capacity") {
    const Solution s = optimize(example(3, R"({"optimizer": {"solver": "greedy", "saturationPolicy": "None"}})"), cands);
    CHECK(find(s, "B") == nullptr);
    REQUIRE(s.unallocated.size() == 1);
    CHECK(s.unallocated[0].reason == "capacity");
    CHECK(s.status == "partial");
  }
  for (const char* policy : {"RoundRobin", "PriorityExhaustive", "PriorityRoundRobin"}) {
    SECTION(std::string(policy) + " gives B the last X card") {
      const Solution s = optimize(example(3, std::string(R"({"optimizer": {"solver": "greedy", "saturationPolicy": ")") +
                                                 policy + "\"}}"),
                                  cands);
      const Candidate* b = find(s, "B");
      REQUIRE(b != nullptr);
      CHECK(b->accelerator == "gX");
      CHECK(b->replicas == 1);
      CHECK(b->outcome == "bestEffort");
      CHECK_FALSE(b->slo_met);
      CHECK(b->cost == 10);  // exact, not scaled from the full candidate
      CHECK(b->saturated);
      CHECK(s.by_type.at("X").units == 10);
      CHECK(s.status == "partial");
    }
  }
}

TEST_CASE("MILP: SINGLE equals enumeration on the example, LEX when not all fit", "[milp]") {
  const auto cands = example_candidates();
  const Solution m = optimize(example(4, R"({"optimizer": {"solver": "milp"}})"), cands);
  CHECK(m.solver.algorithm == "milp-single");
  CHECK(m.solver.status == "optimal");
  CHECK(m.total_cost == 146);  // the only full assignment: A gX×6, B gY×4, C gX×3
  CHECK(*m.solver.objective == Approx(1.1 * 146).epsilon(1e-12));
  const Solution lex = optimize(example(3, R"({"optimizer": {"solver": "milp", "saturationPolicy": "None"}})"), cands);
  CHECK(lex.solver.algorithm == "milp-single-lex");
  CHECK(lex.solver.status == "optimal");
  CHECK(lex.allocations.size() == 2);  // at most two of the three can be served in full
  const Solution none = optimize(example(3, R"({"optimizer": {"solver": "milp", "milpTimeLimitSec": 0}})"), cands);
  CHECK(none.solver.status == "timeLimitNoSolution");
  CHECK(none.solver.fallback == "greedy");
}

TEST_CASE("MILP: the HiGHS library loaded is the one the headers describe", "[milp]") {
  const auto v = highs_versions();
  CHECK(v.linked == v.compiled);
  int major = 0, minor = 0, patch = 0;
  char tail = 0;
  REQUIRE(std::sscanf(v.compiled.c_str(), "%d.%d.%d%c", &major, &minor, &patch, &tail) == 3);
  // The range CMakeLists.txt accepts.
  CHECK(((major == 1 && minor >= 7) && major < 2));
}

TEST_CASE("power curve: endpoints, knee and invalid curves", "[power]") {
  const PowerCurve curve{100, 300, 0.6, 400};
  CHECK(*unit_power_w(curve, 0) == 100);
  CHECK(*unit_power_w(curve, 0.6) == Approx(300));
  CHECK(*unit_power_w(curve, 1) == 400);
  CHECK(*unit_power_w(curve, 0.3) == Approx(200));
  CHECK(*unit_power_w(curve, 0.8) == Approx(350));
  CHECK_FALSE(unit_power_w(PowerCurve{}, 0.5).has_value());               // all zero: unknown
  CHECK_FALSE(unit_power_w(PowerCurve{100, 300, 1.0, 400}, 0.5).has_value());  // midUtil must be < 1
  CHECK_FALSE(unit_power_w(PowerCurve{100, 50, 0.5, 400}, 0.5).has_value());   // not monotone
}

TEST_CASE("solution JSON: reference shape, integral numbers, sorted keys", "[json]") {
  const auto cands = example_candidates();
  const System sys = example(4, R"({"optimizer": {"solver": "greedy"}})");
  const Solution s = optimize(sys, cands);
  inferno::io::SolutionJsonOptions ref;
  ref.reference_format = true;
  ref.indent = -1;
  const std::string text = inferno::io::solution_to_json(sys, s, ref);
  CHECK(text.rfind(R"({"allocations":{"A":{"accelerator":"gX","numReplicas":6,"maxBatch":16,"cost":60,)", 0) == 0);
  CHECK(text.find("\"status\"") == std::string::npos);  // reference fields only
  const std::string ext = inferno::io::solution_to_json(sys, s);
  CHECK(ext.find("\"totalCost\": 146") != std::string::npos);
  CHECK(ext == inferno::io::solution_to_json(sys, optimize(sys, cands)));  // deterministic
}

TEST_CASE("greedy: falls back to SINGLE-LEX when repair by one ejection is not enough", "[greedy]") {
  // V and W (priority 1) take X and Y first; U (priority 2) fits only on X. Serving all three
  // needs a chain of two moves (W to Z, V to Y), beyond the one-ejection repair.
  auto build = [](const std::string& options) {
    SystemBuilder b;
    b.add_document("acc", R"({"accelerators": [{"name": "gX", "type": "X", "cost": 10},
        {"name": "gY", "type": "Y", "cost": 11}, {"name": "gZ", "type": "Z", "cost": 12}]})");
    b.add_document("cap", R"({"count": [{"type": "X", "count": 4}, {"type": "Y", "count": 4}, {"type": "Z", "count": 4}]})");
    b.add_document("classes", R"({"serviceClasses": [{"name": "P1", "priority": 1}, {"name": "P2", "priority": 2}]})");
    b.add_document("servers", R"({"servers": [{"name": "U", "class": "P2", "model": "m"},
        {"name": "V", "class": "P1", "model": "m"}, {"name": "W", "class": "P1", "model": "m"}]})");
    b.add_document("options", options);
    return b.build();
  };
  auto cand = [](const char* server, std::size_t index, const char* acc, double unit_cost) {
    Candidate c;
    c.server = server;
    c.server_index = index;
    c.accelerator = acc;
    c.type = std::string(1, acc[1]);
    c.feasible = true;
    c.outcome = "full";
    c.slo_met = true;
    c.replicas = c.required_replicas = 4;
    c.units_per_replica = 1;
    c.cards_per_replica = 1;
    c.cards = 4;
    c.cost = c.objective = 4 * unit_cost;
    c.value = 1.1 * c.cost;
    return c;
  };
  const std::vector<Candidate> cands = {cand("U", 0, "gX", 10), cand("V", 1, "gX", 10), cand("V", 1, "gY", 11),
                                        cand("W", 2, "gY", 11), cand("W", 2, "gZ", 12)};
  const Solution plain = optimize(build(R"({"optimizer": {"solver": "greedy", "greedyRefine": false}})"), cands);
  REQUIRE(plain.unallocated.size() == 1);
  CHECK(plain.unallocated[0].server == "U");
  const Solution refined = optimize(build(R"({"optimizer": {"solver": "greedy"}})"), cands);
  CHECK(refined.status == "ok");
  CHECK(refined.solver.algorithm == "greedy");
  CHECK(refined.solver.fallback == "milp-single-lex");
  CHECK(refined.total_cost == 40 + 44 + 48);
  CHECK(find(refined, "W")->accelerator == "gZ");
}

TEST_CASE("apply: re-optimising a deployed solution at the same load keeps it at value 0", "[solver]") {
  SystemBuilder b;
  b.add_directory(INFERNO_SOURCE_DIR "/samples/small");
  b.add_document("options", R"({"optimizer": {"unlimited": true}})");
  const System sys = b.build();
  const Solution first = optimize(sys);
  const System deployed = apply(sys, first);
  for (const Server& s : deployed.servers()) CHECK(s.current.num_replicas > 0);
  const Solution again = optimize(deployed);
  CHECK(again.total_value == 0);
  CHECK(again.total_cost == first.total_cost);
  REQUIRE(again.allocations.size() == first.allocations.size());
  for (std::size_t i = 0; i < again.allocations.size(); ++i) {
    CHECK(again.allocations[i].accelerator == first.allocations[i].accelerator);
    CHECK(again.allocations[i].replicas == first.allocations[i].replicas);
  }
  const System busier = deployed.with_arrival_rates({{"Premium-llama_13b", 240.0}});
  CHECK_THROWS_WITH(deployed.with_arrival_rates({{"nope", 1.0}}), Catch::Contains("unknown server 'nope'"));
  const Solution moved = optimize(busier);
  for (const Candidate& c : moved.allocations)
    if (c.server != "Premium-llama_13b") CHECK(c.value == 0);

  // The live state, typed: a load, a current allocation kept on its accelerator, a tuned record.
  Load load = deployed.servers().front().current.load;
  load.arrival_rate_rpm *= 3;
  const std::string name = deployed.servers().front().name;
  const System loaded = deployed.with_loads({{name, load}});
  CHECK(loaded.servers().front().current.load.arrival_rate_rpm == load.arrival_rate_rpm);
  CHECK(loaded.servers().front().current.num_replicas == deployed.servers().front().current.num_replicas);
  load.in_tokens = -1;
  CHECK_THROWS_WITH(deployed.with_loads({{name, load}}), Catch::Contains("in_tokens must be a finite number in [0, 1e8]"));
  AllocationData other;
  other.accelerator = "nope";
  other.num_replicas = 1;
  CHECK_THROWS_WITH(deployed.with_current({{name, other}}), Catch::Contains("unknown accelerator 'nope'"));
  AllocationData kept = deployed.servers().front().current;
  const System pinned = deployed.with_current({{name, kept}}, true);
  CHECK(pinned.servers().front().keep_accelerator);
  CHECK(pinned.servers().front().max_batch_size == deployed.servers().front().max_batch_size);
  const System batch_kept = deployed.with_current({{name, kept}}, true, true);  // sized at the running N
  CHECK(batch_kept.servers().front().max_batch_size == kept.max_batch);
  for (const Candidate& c : optimize(batch_kept).allocations)
    if (c.server == name) CHECK(c.batch == kept.max_batch);
  const Solution resized = optimize(pinned.with_loads({{name, loaded.servers().front().current.load}}));
  for (const Candidate& c : resized.allocations)
    if (c.server == name) CHECK(c.accelerator == kept.accelerator);
  PerfRecord tuned = *deployed.find_perf(deployed.servers().front().model, kept.accelerator);
  tuned.alpha *= 2;
  const System retuned = deployed.with_perf({tuned});
  CHECK(retuned.find_perf(tuned.model, tuned.accelerator)->alpha == tuned.alpha);
  CHECK(retuned.perf_records().size() == deployed.perf_records().size());
  tuned.gamma = -1;
  CHECK_THROWS_WITH(deployed.with_perf({tuned}), Catch::Contains("gamma must be a finite number in [0, 1e6] (ms)"));
}

TEST_CASE("capacity in shares of a card: cards, slices and limits reported apart", "[solution]") {
  // One type X counted in 1/56 card (docs/optimizer.md §2): a half-card profile takes 28 units.
  auto system = [](int cards, const std::string& units_per_card) {
    SystemBuilder b;
    b.add_document("acc", R"({"accelerators": [{"name": "X:half", "type": "X", "multiplicity": 28, "cost": 5}]})");
    b.add_document("cap", R"({"count": [{"type": "X", "count": )" + std::to_string(cards) +
                              R"(, "unitsPerCard": )" + units_per_card + "}]}");
    b.add_document("models", R"({"models": [{"name": "m", "acc": "X:half", "accCount": 1, "maxBatchSize": 16,
        "atTokens": 64, "perfParms": {"alpha": 10, "beta": 0.1, "gamma": 0.001}}]})");
    b.add_document("classes", R"({"serviceClasses": [{"name": "Gold", "priority": 1,
        "modelTargets": [{"model": "m", "slo-itl": 50, "slo-ttft": 1000}]}]})");
    b.add_document("servers", R"({"servers": [{"name": "A", "class": "Gold", "model": "m",
        "currentAlloc": {"load": {"arrivalRate": 600, "avgInTokens": 64, "avgOutTokens": 64}}}]})");
    b.add_document("options", R"({"optimizer": {"solver": "greedy"}})");
    return b.build();
  };
  Candidate c = full_candidate("A", 0, "X:half", "X", 3, 28);  // three half cards
  c.cost = c.objective = c.value = 15;
  c.demand_rps = 10;
  c.rate_per_replica_rps = 10.0 / 3;

  const System two = system(2, "56");
  CHECK(two.capacity().at("X") == 112);
  CHECK(two.units_per_card("X") == 56);
  const Solution s = optimize(two, {c});
  REQUIRE(s.allocations.size() == 1);
  const TypeUsage& use = s.by_type.at("X");
  CHECK(use.units == 84);
  CHECK(use.cards() == 1.5);  // three half cards
  CHECK(use.slices == 3);
  CHECK(*use.limit_cards() == 2);
  const auto doc = nlohmann::json::parse(inferno::io::solution_to_json(two, s));
  CHECK(doc.at("allocationByType").at("X") ==
        nlohmann::json::parse(R"({"cards": 1.5, "limit": 2, "cost": 15, "slices": 3, "units": 84, "unitLimit": 112, "unitsPerCard": 56})"));

  // One card holds two half-card replicas, not three: the server does not fit.
  const Solution short_of_cards = optimize(system(1, "56"), {c});
  CHECK(short_of_cards.allocations.empty());
  REQUIRE(short_of_cards.unallocated.size() == 1);
  CHECK(short_of_cards.unallocated[0].reason == "capacity");

  CHECK_THROWS_WITH(system(1, "0"), Catch::Contains("unitsPerCard must be an integer in [1, 1024], got 0"));
  CHECK_THROWS_WITH(system(1, "\"7\""), Catch::Contains("unitsPerCard"));
}
