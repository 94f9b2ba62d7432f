// Simulator: hand-computed engine timelines, textbook queues (M/M/1, M/M/1/K), the Markov mode
// against the analytical chain, conservation, determinism, workloads and fleets.
#include <catch2/catch.hpp>
#include <cmath>

#include "inferno/error.hpp"
#include "inferno/queue/analyzer.hpp"
#include "inferno/sim/simulator.hpp"

using namespace inferno::sim;
using inferno::InvalidArgument;

namespace {

SimulatedReplica server(double alpha, double beta, double gamma, double n, double m, int max_batch, long long max_queue,
                  int budget = 8192) {
  SimulatedReplica s;
  s.queue.params = {{"alpha", alpha}, {"beta", beta}, {"gamma", gamma}};
  s.queue.shape = inferno::queue::RequestShape{n, m, budget};
  s.queue.max_batch = max_batch;
  s.queue.max_queue = max_queue;
  return s;
}

WorkloadSpec trace(std::vector<TraceEntry> entries) {
  WorkloadSpec w;
  w.arrivals = WorkloadSpec::Arrivals::trace;
  w.trace = std::move(entries);
  return w;
}

WorkloadSpec poisson(double rate_rps, double n, double m) {
  WorkloadSpec w;
  w.rate_rps = rate_rps;
  w.in_tokens = TokenDist::constant(n);
  w.out_tokens = TokenDist::constant(m);
  return w;
}

SimOptions opts(double duration_s, double warmup_s = 0, std::uint64_t seed = 1, Mode mode = Mode::iteration) {
  SimOptions o;
  o.duration_s = duration_s;
  o.warmup_s = warmup_s;
  o.seed = seed;
  o.mode = mode;
  o.sample_interval_s = 0;
  return o;
}

// |value - truth| within the 95 % half-width times `k`, within rel of the truth, or below abs.
bool agrees(double value, double half_width, double truth, double k = 3, double rel = 0.0, double abs = 0.0) {
  const double d = std::fabs(value - truth);
  return d <= k * half_width || d <= rel * std::fabs(truth) || d <= abs;
}

}  // namespace

TEST_CASE("one request alone: the engine timeline equals the hand computation", "[sim]") {
  // α = 10, β = 0.1, γ = 0.001; n = 100, m = 10. Prefill: 10 + 0.1·100 + 0.001·100 = 20.1 ms.
  // Decode step k: 10 + 0.1 + 0.001·(100 + k). TTFT = 20.1 + 10.201; E2E = 20.1 + 101 + 1.055.
  const SimResult r = simulate(server(10, 0.1, 0.001, 100, 10, 8, 0), trace({{1.0, 100, 10}}), FleetSpec{}, opts(10));
  REQUIRE(r.requests.size() == 1);
  const RequestRecord& q = r.requests[0];
  CHECK(q.arrival_ms == 1000);
  CHECK(q.start_ms == 1000);
  CHECK(q.first_token_ms - q.arrival_ms == Approx(30.301).epsilon(1e-12));
  CHECK(q.finish_ms - q.arrival_ms == Approx(122.155).epsilon(1e-12));
  CHECK(r.summary.ttft_ms.mean == Approx(30.301).epsilon(1e-12));
  // The light-load closed forms of the queue model: ITL₁ = α + β + γ(n + (m+1)/2).
  CHECK(r.summary.itl_ms.mean == Approx(10 + 0.1 + 0.001 * (100 + 5.5)).epsilon(1e-12));
  CHECK(r.summary.iterations == 11);
  // Per output token: the ten decode intervals 10.1 + 0.001·(100 + k), k = 1..10.
  CHECK(r.summary.token_itl_ms.count == 10);
  CHECK(r.summary.token_itl_ms.mean == Approx(10 + 0.1 + 0.001 * (100 + 5.5)).epsilon(1e-12));
  CHECK(r.summary.token_itl_ms.p50 == Approx(10.1 + 0.001 * 105).epsilon(1e-12));
  CHECK(r.summary.token_itl_ms.p99 == Approx(10.1 + 0.001 * 110).epsilon(1e-12));
}

TEST_CASE("per-token ITL weights each interval by the tokens it delayed", "[sim]") {
  // α = 10, β = 1, γ = 0, n = 0 (an empty prefill iteration each). A (3 tokens) starts alone at
  // 0; B (6 tokens), arriving at the same instant, joins at the boundary at 10 ms. Decode
  // intervals: A alone-with-B's-prefill 11 ms (1 token), both 12 ms twice (2 tokens each), then
  // B alone 11 ms four times: 9 tokens, 103 ms in total.
  const SimResult r = simulate(server(10, 1, 0.0, 0, 3, 8, 0), trace({{0.0, 0, 3}, {0.0, 0, 6}}), FleetSpec{}, opts(5));
  CHECK(r.summary.token_itl_ms.count == 9);
  CHECK(r.summary.token_itl_ms.mean == Approx(103.0 / 9).epsilon(1e-12));
  CHECK(r.summary.token_itl_ms.p50 == Approx(11.0));
  CHECK(r.summary.token_itl_ms.p90 == Approx(12.0));
  // Per request: A (11 + 12 + 12)/3, B (12 + 12 + 4·11)/6.
  CHECK(r.summary.itl_ms.mean == Approx((35.0 / 3 + 68.0 / 6) / 2).epsilon(1e-12));
}

TEST_CASE("chunked prefill under the token budget", "[sim]") {
  // n = 10000 with a 4096-token budget: chunks 4096, 4096, 1808 read 4096, 8192, 10000 tokens.
  const double a = 5, b = 0.01, g = 0.0001;
  const SimResult r = simulate(server(a, b, g, 10000, 2, 4, 0, 4096), trace({{0.5, 10000, 2}}), FleetSpec{}, opts(5));
  const double prefill = 3 * a + b * 10000 + g * (4096 + 8192 + 10000);
  const double decode1 = a + b + g * 10001, decode2 = a + b + g * 10002;
  const RequestRecord& q = r.requests[0];
  CHECK(q.first_token_ms - q.arrival_ms == Approx(prefill + decode1).epsilon(1e-12));
  CHECK(q.finish_ms - q.arrival_ms == Approx(prefill + decode1 + decode2).epsilon(1e-12));
  CHECK(r.summary.max_tokens_in_iteration == 4096);
}

TEST_CASE("two overlapping requests share iterations", "[sim]") {
  // The second arrives while the first decodes: it joins at the next iteration boundary and its
  // prefill is computed alongside the first's decode step.
  const SimResult r = simulate(server(10, 0.1, 0.0, 50, 3, 8, 0), trace({{0.0, 50, 3}, {0.012, 50, 3}}), FleetSpec{}, opts(5));
  const RequestRecord &p = r.requests[0], &q = r.requests[1];
  // First: prefill [0, 15]; the second arrives at 12 and waits for the boundary at 15.
  CHECK(q.start_ms == Approx(15.0));
  // Iteration [15, 30.1]: decode of p (1 token) + prefill of q (50 tokens) = 10 + 0.1·51.
  CHECK(p.first_token_ms == Approx(30.1));
  CHECK(r.summary.max_batch_seen == 2);
}

TEST_CASE("M/M/1/K: the Markov mode at N = 1 matches the closed form", "[sim][markov]") {
  // μ = 1/τ(1) from the model; K = 1 + Q; p_k ∝ ρ^k.
  const SimulatedReplica s = server(20, 0.02, 0.0, 100, 20, 1, 4);
  const double mu_rps = 1000 * inferno::queue::QueueAnalyzer(s.queue).rates().mu[0];
  const double rho = 0.8, lambda = rho * mu_rps;
  const int K = 5;
  double norm = 0, L = 0;
  for (int k = 0; k <= K; ++k) norm += std::pow(rho, k);
  for (int k = 0; k <= K; ++k) L += k * std::pow(rho, k) / norm;
  const double p_block = std::pow(rho, K) / norm;
  const double throughput = lambda * (1 - p_block);
  const SimResult r = simulate(s, poisson(lambda, 100, 20), FleetSpec{}, opts(40000, 100, 7, Mode::markov));
  const Summary& m = r.summary;
  INFO("L " << m.mean_num_in_system << " ± " << m.num_in_system_half_width << " vs " << L);
  CHECK(agrees(m.mean_num_in_system, m.num_in_system_half_width, L));
  CHECK(agrees(m.throughput_rps, m.throughput_half_width, throughput));
  CHECK(m.blocking_prob == Approx(p_block).epsilon(0.05));
  CHECK(agrees(m.e2e_ms.mean, m.e2e_ms.half_width, 1000 * L / throughput));
}

TEST_CASE("M/M/1: mean wait and response at N = 1 with a deep queue", "[sim][markov]") {
  const SimulatedReplica s = server(20, 0.02, 0.0, 100, 20, 1, 100000);
  const double mu_rps = 1000 * inferno::queue::QueueAnalyzer(s.queue).rates().mu[0];
  const double rho = 0.6, lambda = rho * mu_rps;
  const SimResult r = simulate(s, poisson(lambda, 100, 20), FleetSpec{}, opts(40000, 100, 3, Mode::markov));
  const Summary& m = r.summary;
  CHECK(agrees(m.wait_ms.mean, m.wait_ms.half_width, 1000 * rho / (mu_rps - lambda)));
  CHECK(agrees(m.e2e_ms.mean, m.e2e_ms.half_width, 1000 / (mu_rps - lambda)));
  CHECK(agrees(m.mean_num_in_system, m.num_in_system_half_width, rho / (1 - rho)));
  CHECK(m.blocked == 0);
}

TEST_CASE("Markov mode agrees with the analytical chain across loads and batch sizes", "[sim][markov]") {
  for (int n_cap : {8, 32}) {
    for (double load : {0.5, 0.9}) {
      const SimulatedReplica s = server(12, 0.05, 0.0005, 256, 128, n_cap, 2 * n_cap);
      const inferno::queue::QueueAnalyzer a(s.queue);
      const double lambda = load * a.max_rate_rps();
      const inferno::queue::Metrics model = a.analyze(lambda);
      const SimResult r = simulate(s, poisson(lambda, 256, 128), FleetSpec{}, opts(20000, 200, 11, Mode::markov));
      const Summary& m = r.summary;
      INFO("N " << n_cap << ", load " << load << ": L " << m.mean_num_in_system << " ± " << m.num_in_system_half_width
                << " vs " << model.num_in_system << "; W " << m.wait_ms.mean << " ± " << m.wait_ms.half_width << " vs "
                << model.wait_time_ms);
      CHECK(agrees(m.throughput_rps, m.throughput_half_width, model.throughput_rps));
      CHECK(agrees(m.mean_num_in_system, m.num_in_system_half_width, model.num_in_system));
      // At half load the mean wait is microseconds: an absolute margin of 0.05 ms.
      CHECK(agrees(m.wait_ms.mean, m.wait_ms.half_width, model.wait_time_ms, 3, 0.02, 0.05));
      CHECK(agrees(m.e2e_ms.mean, m.e2e_ms.half_width, model.resp_time_ms));
    }
  }
}

TEST_CASE("conservation and limits in the iteration mode", "[sim]") {
  const SimulatedReplica s = server(8, 0.03, 0.0003, 512, 256, 16, 8);
  const inferno::queue::QueueAnalyzer a(s.queue);
  WorkloadSpec w = poisson(1.1 * a.max_rate_rps(), 512, 256);  // overloaded: blocking occurs
  w.in_tokens.kind = TokenDist::Kind::geometric;
  w.in_tokens.value = 512;
  w.out_tokens.kind = TokenDist::Kind::uniform;
  w.out_tokens.low = 1;
  w.out_tokens.high = 511;
  const SimResult r = simulate(s, w, FleetSpec{}, opts(300, 10, 5));
  const Summary& m = r.summary;
  CHECK(m.total_arrivals == m.total_completed + m.total_blocked + m.unfinished);
  CHECK(m.unfinished == 0);  // arrivals stop at the duration, then the engine drains
  CHECK(m.total_blocked > 0);
  CHECK(m.max_batch_seen <= 16);
  CHECK(m.max_tokens_in_iteration <= 8192);
  CHECK(static_cast<long>(r.requests.size()) == m.total_arrivals);
  for (const RequestRecord& q : r.requests) {
    if (q.blocked) {
      CHECK(q.finish_ms < 0);
      continue;
    }
    CHECK(q.start_ms >= q.arrival_ms);
    CHECK(q.first_token_ms > q.start_ms);
    CHECK(q.finish_ms >= q.first_token_ms);
  }
  CHECK(m.utilisation > 0.95);
}

TEST_CASE("same seed, same result, another seed, another sample", "[sim]") {
  const SimulatedReplica s = server(8, 0.03, 0.0003, 512, 256, 32, 64);
  WorkloadSpec w = poisson(5, 512, 256);
  w.out_tokens.kind = TokenDist::Kind::geometric;
  w.out_tokens.value = 256;
  const SimResult a = simulate(s, w, FleetSpec{}, opts(60, 5, 42)), b = simulate(s, w, FleetSpec{}, opts(60, 5, 42));
  const SimResult c = simulate(s, w, FleetSpec{}, opts(60, 5, 43));
  REQUIRE(a.requests.size() == b.requests.size());
  for (std::size_t i = 0; i < a.requests.size(); ++i) {
    CHECK(a.requests[i].arrival_ms == b.requests[i].arrival_ms);
    CHECK(a.requests[i].finish_ms == b.requests[i].finish_ms);
  }
  CHECK(a.summary.ttft_ms.p99 == b.summary.ttft_ms.p99);
  CHECK(a.summary.e2e_ms.mean != c.summary.e2e_ms.mean);
}

TEST_CASE("workloads: gamma renewal CV, rate schedules, token distributions", "[sim][workload]") {
  const SimulatedReplica s = server(1, 0.0001, 0.0, 10, 1, 256, 1000);
  SECTION("gamma inter-arrival times have the requested mean and CV") {
    WorkloadSpec w = poisson(50, 10, 1);
    w.arrivals = WorkloadSpec::Arrivals::gamma;
    w.cv = 2.0;
    const SimResult r = simulate(s, w, FleetSpec{}, opts(2000));
    std::vector<double> gaps;
    for (std::size_t i = 1; i < r.requests.size(); ++i) gaps.push_back(r.requests[i].arrival_ms - r.requests[i - 1].arrival_ms);
    double mean = 0, var = 0;
    for (double g : gaps) mean += g;
    mean /= static_cast<double>(gaps.size());
    for (double g : gaps) var += (g - mean) * (g - mean);
    var /= static_cast<double>(gaps.size() - 1);
    CHECK(mean == Approx(20.0).epsilon(0.02));
    CHECK(std::sqrt(var) / mean == Approx(2.0).epsilon(0.05));
  }
  SECTION("a step schedule and a ramp deliver their integrated rate") {
    WorkloadSpec w = poisson(1, 10, 1);
    w.schedule.times_s = {0, 100, 200};
    w.schedule.rates_rps = {10, 40, 40};
    const SimResult step = simulate(s, w, FleetSpec{}, opts(300));
    long first = 0, second = 0;
    for (const auto& q : step.requests) (q.arrival_ms < 100000 ? first : second) += 1;
    CHECK(first == Approx(1000).margin(4 * std::sqrt(1000)));
    CHECK(second == Approx(8000).margin(4 * std::sqrt(8000)));
    w.schedule.linear = true;  // 10 → 40 over [0, 100], then 40: Λ = 2500 + 8000
    const SimResult ramp = simulate(s, w, FleetSpec{}, opts(300));
    long early = 0;
    for (const auto& q : ramp.requests) early += q.arrival_ms < 100000;
    CHECK(early == Approx(2500).margin(4 * std::sqrt(2500)));
    CHECK(static_cast<double>(ramp.requests.size()) == Approx(10500).margin(4 * std::sqrt(10500)));
  }
  SECTION("token distributions have their means") {
    WorkloadSpec w = poisson(200, 10, 1);
    w.in_tokens.kind = TokenDist::Kind::geometric;
    w.in_tokens.value = 300;
    w.out_tokens.kind = TokenDist::Kind::empirical;
    w.out_tokens.values = {1, 2, 3, 10};
    const SimResult r = simulate(s, w, FleetSpec{}, opts(200));
    double in = 0, out = 0;
    for (const auto& q : r.requests) in += q.in_tokens, out += q.out_tokens;
    const auto n = static_cast<double>(r.requests.size());
    CHECK(in / n == Approx(300).epsilon(0.03));
    CHECK(out / n == Approx(4).epsilon(0.03));
  }
}

TEST_CASE("fleets: routers, scale-out with a start-up delay, scale-in drains", "[sim][fleet]") {
  const SimulatedReplica s = server(8, 0.03, 0.0003, 256, 64, 16, 32);
  FleetSpec f;
  f.replicas = 4;
  SECTION("round robin spreads requests evenly") {
    const SimResult r = simulate(s, poisson(8, 256, 64), f, opts(100));
    std::vector<long> per(4, 0);
    for (const auto& q : r.requests) per[static_cast<std::size_t>(q.replica)] += 1;
    for (long c : per) CHECK(std::abs(c - per[0]) <= 1);
  }
  SECTION("join-shortest-queue and least-tokens keep replicas balanced under load") {
    for (Router router : {Router::join_shortest_queue, Router::least_outstanding_tokens}) {
      f.router = router;
      const SimResult r = simulate(s, poisson(12, 256, 64), f, opts(100));
      CHECK(r.summary.total_completed == r.summary.total_arrivals - r.summary.total_blocked);
      std::vector<long> per(4, 0);
      for (const auto& q : r.requests) per[static_cast<std::size_t>(q.replica)] += 1;
      for (long c : per) CHECK(static_cast<double>(c) > 0.15 * static_cast<double>(r.requests.size()));
    }
  }
  SECTION("a replica added at 50 s with a 10 s start-up serves from 60 s; one removed at 80 s drains") {
    f.replicas = 1;
    f.startup_delay_s = 10;
    f.scale_events = {{50, 1}, {80, -1}};
    SimOptions o = opts(100);
    o.sample_interval_s = 1;
    const SimResult r = simulate(s, poisson(4, 256, 64), f, o);
    for (const auto& q : r.requests) {
      if (q.replica == 1) {
        CHECK(q.arrival_ms >= 60000);
        CHECK(q.arrival_ms < 80000);
      }
    }
    long on_second = 0;
    for (const auto& q : r.requests) on_second += q.replica == 1;
    CHECK(on_second > 0);
    CHECK(r.series.at(55).replicas == 1);
    CHECK(r.series.at(65).replicas == 2);
    CHECK(r.series.at(85).replicas == 1);
    CHECK(r.summary.unfinished == 0);
  }
}

TEST_CASE("KV-cache capacity limits the batch", "[sim]") {
  SimulatedReplica s = server(8, 0.03, 0.0003, 1000, 1000, 64, 1000);
  s.kv_capacity_tokens = 8000;  // four requests of 2000 tokens
  const SimResult r = simulate(s, poisson(20, 1000, 1000), FleetSpec{}, opts(60));
  CHECK(r.summary.max_batch_seen == 4);
  SimulatedReplica tiny = s;
  tiny.kv_capacity_tokens = 1500;  // a request can never fit: blocked, not stuck
  const SimResult b = simulate(tiny, poisson(2, 1000, 1000), FleetSpec{}, opts(10));
  CHECK(b.summary.total_blocked == b.summary.total_arrivals);
}

TEST_CASE("on-demand KV: pages as produced, preemption by recompute (hand timeline)", "[sim][kv]") {
  // α = 10, β = 1, γ = 0; two requests of n = 4, m = 4 at t = 0; a cache of 15 tokens. The second
  // arrives while the first's prefill runs and is admitted at 14 ms.
  //   reserve:   r2 needs 8 of the 7 left until r1 ends at 58; prefill [58, 72], four decode steps
  //              of 11 ms: first token 83, finish 116.
  //   on-demand: r2's prompt fits at 14; the caches grow (r1: 5 + k, r2: 4 + k after iteration k)
  //              until the decoders' growth needs 17 > 15 at the start of iteration 4 (53 ms): r2,
  //              the later admission, is preempted after two decode steps, and later recomputes
  //              4 + 2 = 6 tokens [64, 80] before its last two steps: finish 102.
  SimulatedReplica s = server(10, 1, 0, 4, 4, 8, 8);
  s.kv_capacity_tokens = 15;
  const WorkloadSpec w = trace({{0.0, 4, 4}, {0.0, 4, 4}});
  const SimResult reserve = simulate(s, w, FleetSpec{}, opts(1));
  REQUIRE(reserve.requests.size() == 2);
  CHECK(reserve.requests[0].finish_ms == Approx(58));
  CHECK(reserve.requests[1].start_ms == Approx(58));
  CHECK(reserve.requests[1].first_token_ms == Approx(83));
  CHECK(reserve.requests[1].finish_ms == Approx(116));
  CHECK(reserve.summary.preemptions == 0);

  s.kv_policy = KvPolicy::on_demand;
  const SimResult paged = simulate(s, w, FleetSpec{}, opts(1));
  REQUIRE(paged.requests.size() == 2);
  CHECK(paged.requests[0].first_token_ms == Approx(29));
  CHECK(paged.requests[0].finish_ms == Approx(64));
  CHECK(paged.requests[1].start_ms == Approx(14));
  CHECK(paged.requests[1].first_token_ms == Approx(41));  // the first token stays where it was
  CHECK(paged.requests[1].finish_ms == Approx(102));
  CHECK(paged.summary.preemptions == 1);
  CHECK(paged.summary.iterations == 8);
  // ITL counts from the first prefill (29 ms), so the stall is in it: (102 - 29) / 4.
  CHECK(paged.summary.itl_ms.mean == Approx(((64.0 - 14) / 4 + (102.0 - 29) / 4) / 2));

  // A request alone that fills the cache exactly (4 + 4 = 8) runs to the end: never preempted.
  SimulatedReplica exact = s;
  exact.kv_capacity_tokens = 8;
  const SimResult lone = simulate(exact, trace({{0.0, 4, 4}}), FleetSpec{}, opts(1));
  CHECK(lone.summary.total_completed == 1);
  CHECK(lone.summary.preemptions == 0);
  CHECK(lone.requests[0].finish_ms == Approx(58));

  // A cache of 17 holds both to the end: no preemption, r2 done at 14 + 15 + 12 + 12 + 12 + 11.
  s.kv_capacity_tokens = 17;
  const SimResult roomy = simulate(s, w, FleetSpec{}, opts(1));
  CHECK(roomy.summary.preemptions == 0);
  CHECK(roomy.requests[1].finish_ms == Approx(76));
}

TEST_CASE("on-demand KV under load: conservation, the cap, and more admitted than reserve", "[sim][kv]") {
  SimulatedReplica s = server(8, 0.03, 0.0003, 200, 2000, 256, 4096);
  s.kv_capacity_tokens = 40000;
  const WorkloadSpec w = poisson(3, 200, 2000);
  const SimResult reserve = simulate(s, w, FleetSpec{}, opts(300));
  s.kv_policy = KvPolicy::on_demand;
  const SimResult paged = simulate(s, w, FleetSpec{}, opts(300));
  // Reserve fits 40000 / 2200 = 18 requests; on demand admits more while caches are short.
  CHECK(reserve.summary.max_batch_seen == 18);
  CHECK(paged.summary.max_batch_seen > 18);
  CHECK(paged.summary.preemptions > 0);
  // Every request that arrived is completed or still in the system: none lost to a preemption.
  CHECK(paged.summary.total_completed + paged.summary.unfinished + paged.summary.total_blocked ==
        paged.summary.total_arrivals);
  const SimResult again = simulate(s, w, FleetSpec{}, opts(300));
  CHECK(again.summary.ttft_ms.mean == paged.summary.ttft_ms.mean);
  CHECK(again.summary.preemptions == paged.summary.preemptions);
  CHECK(parse_kv_policy("on-demand") == KvPolicy::on_demand);
  CHECK_THROWS_WITH(parse_kv_policy("lazy"), Catch::Contains("'reserve', 'on-demand'"));
}

TEST_CASE("constant arrivals are evenly spaced at the rate", "[sim][workload]") {
  WorkloadSpec w = poisson(2, 10, 5);
  w.arrivals = WorkloadSpec::Arrivals::constant;
  const SimResult r = simulate(server(5, 0.01, 0, 10, 5, 8, 8), w, FleetSpec{}, opts(10));
  REQUIRE(r.summary.total_arrivals == 19);  // 0.5, 1.0, ..., 9.5 s
  for (std::size_t i = 0; i < r.requests.size(); ++i) CHECK(r.requests[i].arrival_ms == Approx(500.0 * double(i + 1)));
  // Through a schedule: one arrival per unit of the cumulative rate, 1/s then 4/s from 5 s.
  w.schedule.times_s = {0, 5};
  w.schedule.rates_rps = {1, 4};
  const SimResult step = simulate(server(5, 0.01, 0, 10, 5, 8, 8), w, FleetSpec{}, opts(10));
  CHECK(step.summary.total_arrivals == 4 + 1 + 19);  // 1..4 s, 5 s, then every 0.25 s to 9.75 s
  CHECK(step.requests[5].arrival_ms == Approx(5250));
}

TEST_CASE("closed-loop clients: one user sends back to back, several keep the system full", "[sim][workload]") {
  // One user and the lone-request timeline of the first test case: each request takes 122.155 ms,
  // so requests start at k·122.155 ms, nine of them before the 1 s mark.
  WorkloadSpec w = poisson(1, 100, 10);
  w.arrivals = WorkloadSpec::Arrivals::closed;
  w.clients = 1;
  const SimulatedReplica s = server(10, 0.1, 0.001, 100, 10, 8, 8);
  const SimResult one = simulate(s, w, FleetSpec{}, opts(1));
  REQUIRE(one.requests.size() == 9);
  for (std::size_t i = 0; i < one.requests.size(); ++i) {
    CHECK(one.requests[i].arrival_ms == Approx(122.155 * double(i)).epsilon(1e-12));
    CHECK(one.requests[i].finish_ms - one.requests[i].arrival_ms == Approx(122.155).epsilon(1e-12));
  }
  w.think_time_s = 0.1;  // 222.155 ms apart: five requests
  CHECK(simulate(s, w, FleetSpec{}, opts(1)).summary.total_arrivals == 5);
  // Four users, room for four: always four present (time average exactly 4), none blocked, and
  // Little's law links the throughput and the response time.
  w.clients = 4;
  w.think_time_s = 0;
  const SimResult four = simulate(server(10, 0.1, 0.001, 100, 10, 2, 2), w, FleetSpec{}, opts(120, 10));
  CHECK(four.summary.mean_num_in_system == Approx(4).epsilon(1e-9));
  CHECK(four.summary.total_blocked == 0);
  CHECK(four.summary.throughput_rps * four.summary.e2e_ms.mean / 1000 == Approx(4).epsilon(0.01));
  // Three users, room for two: the third is blocked and retries 1 ms later; never more than two in.
  w.clients = 3;
  const SimResult tight = simulate(server(10, 0.1, 0.001, 100, 10, 1, 1), w, FleetSpec{}, opts(10));
  CHECK(tight.summary.total_blocked > 0);
  CHECK(tight.summary.mean_num_in_system <= 2.0 + 1e-12);
  w.clients = 0;
  CHECK_THROWS_WITH(simulate(s, w, FleetSpec{}, opts(1)), Catch::Contains("clients"));
}

TEST_CASE("the vllm service model's loop adds delta per sequence squared", "[sim]") {
  // The one-request timeline of the first test case with δ = 0.5: each of the 11 iterations has
  // one sequence, so 0.5 ms more each.
  SimulatedReplica s = server(10, 0.1, 0.001, 100, 10, 8, 0);
  s.queue.service_model = "vllm";
  s.queue.params["delta"] = 0.5;
  s.queue.params["epsilon"] = 0;
  const SimResult r = simulate(s, trace({{1.0, 100, 10}}), FleetSpec{}, opts(10));
  REQUIRE(r.requests.size() == 1);
  CHECK(r.requests[0].first_token_ms - 1000 == Approx(30.301 + 2 * 0.5).epsilon(1e-12));
  CHECK(r.requests[0].finish_ms - 1000 == Approx(122.155 + 11 * 0.5).epsilon(1e-12));
  // Two requests decoding together: 2² δ per iteration (the two-request case of the docs, δ = 1).
  SimulatedReplica two = server(10, 0.1, 0, 50, 3, 8, 8);
  two.queue.service_model = "vllm";
  two.queue.params["delta"] = 1;
  two.queue.params["epsilon"] = 0;
  const SimResult t = simulate(two, trace({{0.0, 50, 3}, {0.012, 50, 3}}), FleetSpec{}, opts(1));
  // [0, 16], [16, 35.1] (51 tokens, 2 sequences), [35.1, 49.3], [49.3, 63.5] (r1 done), [63.5, 74.6]
  CHECK(t.requests[0].finish_ms == Approx(63.5));
  CHECK(t.requests[1].finish_ms == Approx(74.6));
}

TEST_CASE("the vllm service model's loop adds epsilon per pair of prompt tokens, however chunked", "[sim]") {
  // n = 100: ε·100²/2 = 5000ε more to the first token, and nothing to decoding. With a budget of
  // 40 tokens the prompt goes in chunks of 40, 40 and 20: 40·20 + 40·(40 + 20) + 20·(80 + 10) pairs,
  // the same 5000.
  for (const int budget : {8192, 40}) {
    CAPTURE(budget);
    SimulatedReplica s = server(10, 0.1, 0.001, 100, 10, 8, 0, budget);
    s.queue.service_model = "vllm";
    s.queue.params["delta"] = 0;
    s.queue.params["epsilon"] = 0;
    const SimResult plain = simulate(s, trace({{1.0, 100, 10}}), FleetSpec{}, opts(10));
    s.queue.params["epsilon"] = 2e-3;
    const SimResult attention = simulate(s, trace({{1.0, 100, 10}}), FleetSpec{}, opts(10));
    const RequestRecord& a = attention.requests.at(0);
    const RequestRecord& p = plain.requests.at(0);
    CHECK(a.first_token_ms - p.first_token_ms == Approx(5000 * 2e-3).epsilon(1e-12));
    CHECK(a.finish_ms - p.finish_ms == Approx(5000 * 2e-3).epsilon(1e-12));
    // The model's prefill of one request alone carries the same term.
    const inferno::queue::QueueAnalyzer with(s.queue);
    s.queue.params["epsilon"] = 0;
    const inferno::queue::QueueAnalyzer without(s.queue);
    CHECK(with.model().prefill_ms(1, 8) - without.model().prefill_ms(1, 8) == Approx(5000 * 2e-3).epsilon(1e-12));
  }
}

TEST_CASE("bad input names the field", "[sim]") {
  const SimulatedReplica s = server(8, 0.03, 0.0003, 256, 64, 16, 32);
  CHECK_THROWS_WITH(simulate(s, poisson(-1, 256, 64), FleetSpec{}, opts(10)), Catch::Contains("rate_rps"));
  CHECK_THROWS_WITH(simulate(s, poisson(1, 256, 0), FleetSpec{}, opts(10)), Catch::Contains("out_tokens"));
  CHECK_THROWS_WITH(simulate(s, poisson(1, 256, 64), FleetSpec{}, opts(10, 20)), Catch::Contains("warmup_s"));
  CHECK_THROWS_WITH(parse_mode("fluid"), Catch::Contains("'iteration', 'markov'"));
  CHECK_THROWS_WITH(parse_router("random"), Catch::Contains("'round-robin', 'jsq', 'least-tokens'"));
  SimulatedReplica token = s;
  token.queue.service_model = "token";
  token.queue.params = {{"alpha", 19}, {"beta", 1}, {"tokens_per_request", 1024}};
  CHECK_THROWS_WITH(simulate(token, poisson(1, 256, 64), FleetSpec{}, opts(10)), Catch::Contains("markov"));
  CHECK_NOTHROW(simulate(token, poisson(1, 256, 64), FleetSpec{}, opts(10, 0, 1, Mode::markov)));
}

TEST_CASE("vllm model: TTFT and ITL for random and evenly spaced arrivals agree with its engine loop",
          "[sim][vllm]") {
  // The analytic split of docs/queueing-model.md §3.6 (prefill collisions, the phase of the
  // arrival, and for evenly spaced arrivals the prefills that land in a decode window) against
  // the simulated engine loop, Poisson (cov 1) and evenly spaced (cov 0) arrivals, fixed token
  // counts: TTFT within 8 % over light to heavy load (most within 2 %), ITL within 5 %.
  struct Case {
    double n, m, rate_rps;
  };
  for (const Case& k : {Case{1024, 64, 6}, Case{1024, 64, 21}, Case{256, 64, 52}, Case{64, 64, 150},
                        Case{4096, 256, 2.5}, Case{1024, 1024, 3}}) {
    for (const double cov : {1.0, 0.0}) {
      SimulatedReplica s = server(6.64, 0.0215, 4.0e-5, k.n, k.m, 512, 512);
      s.queue.service_model = "vllm";
      s.queue.params["delta"] = 3.2e-5;
    s.queue.params["epsilon"] = 1.0e-6;
      s.queue.params["epsilon"] = 1.0e-6;
      s.queue.options.arrival_cov = cov;
      WorkloadSpec w = poisson(k.rate_rps, k.n, k.m);
      if (cov == 0.0) w.arrivals = WorkloadSpec::Arrivals::constant;
      SimOptions o = opts(600, 60);
      o.keep_requests = false;
      const SimResult r = simulate(s, w, FleetSpec{}, o);
      const inferno::queue::QueueAnalyzer a(s.queue);
      const inferno::queue::Metrics model = a.analyze(k.rate_rps);
      INFO("n " << k.n << " m " << k.m << " rate " << k.rate_rps << " cov " << cov << ": model TTFT " << model.ttft_ms
                << " ITL " << model.itl_ms << ", sim TTFT " << r.summary.ttft_ms.mean << " ITL "
                << r.summary.itl_ms.mean);
      CHECK(model.ttft_ms == Approx(r.summary.ttft_ms.mean).epsilon(0.08));
      CHECK(model.itl_ms == Approx(r.summary.itl_ms.mean).epsilon(0.05));
    }
  }
  // The iteration model ignores the arrival pattern apart from the queueing wait (none here).
  SimulatedReplica plain = server(6.64, 0.0215, 4.0e-5, 1024, 64, 512, 512);
  const double random = inferno::queue::QueueAnalyzer(plain.queue).analyze(21).ttft_ms;
  plain.queue.options.arrival_cov = 0;
  CHECK(inferno::queue::QueueAnalyzer(plain.queue).analyze(21).ttft_ms == random);
}

TEST_CASE("TPOT percentiles: each request's mean ITL, against the simulated requests", "[sim][tpot]") {
  // The model's per-request ITL distribution (docs/queueing-model.md §6.6) against the per-request
  // ITL of the engine loop, and narrower than the per-token distribution.
  const SimulatedReplica s = server(12, 0.05, 0.0005, 128, 512, 48, 128);
  const inferno::queue::QueueAnalyzer a(s.queue);
  for (const double rate : {1.0, 2.0, 3.0, 3.4}) {
    const SimResult r = simulate(s, poisson(rate, 128, 512), FleetSpec{}, opts(3000, 300));
    inferno::queue::Evaluation ev;
    a.evaluate(rate, ev);
    INFO("rate " << rate);
    CHECK(a.tpot_quantile(ev, 0.95) == Approx(r.summary.itl_ms.p95).epsilon(0.04));
    CHECK(a.tpot_quantile(ev, 0.50) == Approx(r.summary.itl_ms.p50).epsilon(0.02));
    CHECK(a.tpot_quantile(ev, 0.95) < a.itl_quantile(ev, 0.95));
    CHECK(a.tpot_quantile(ev, 0.05) > a.itl_quantile(ev, 0.05));
  }
}

TEST_CASE("prompt-length spread: TTFT percentiles of the model against the engine loop", "[sim][spread]") {
  // Prompts uniform within ±50 %: the request's own prefill varies by ±50 %, so TTFT spreads even
  // below the batch cap (docs/queueing-model.md §6.4). Evenly spaced arrivals, as a benchmark's.
  struct Case {
    double n, m, rate_rps;
  };
  for (const Case& k : {Case{4096, 256, 0.54}, Case{4096, 256, 2.46}, Case{1024, 64, 13.57}}) {
    SimulatedReplica s = server(6.64, 0.0215, 4.0e-5, k.n, k.m, 512, 0);
    s.queue.service_model = "vllm";
    s.queue.params["delta"] = 3.2e-5;
    s.queue.params["epsilon"] = 1.0e-6;
    s.queue.options.arrival_cov = 0;
    s.queue.options.in_tokens_spread = 0.5;
    WorkloadSpec w = poisson(k.rate_rps, k.n, k.m);
    w.arrivals = WorkloadSpec::Arrivals::constant;
    w.in_tokens.kind = TokenDist::Kind::uniform;
    w.in_tokens.low = std::round(0.5 * k.n);
    w.in_tokens.high = std::round(1.5 * k.n);
    SimOptions o = opts(1500, 150);
    o.keep_requests = false;
    const SimResult r = simulate(s, w, FleetSpec{}, o);
    const inferno::queue::QueueAnalyzer a(s.queue);
    inferno::queue::Evaluation ev;
    a.evaluate(k.rate_rps, ev);
    INFO("n " << k.n << " m " << k.m << " rate " << k.rate_rps);
    CHECK(a.ttft_quantile(ev, 0.95) == Approx(r.summary.ttft_ms.p95).epsilon(0.04));
    CHECK(a.ttft_quantile(ev, 0.99) == Approx(r.summary.ttft_ms.p99).epsilon(0.04));
  }
  // Without the admission wait (iteration model) and without queueing, TTFT is the post-queue
  // time plus a uniform on [-b, b]: its quantile is exact, linear in p.
  SimulatedReplica plain = server(6.64, 0.0215, 4.0e-5, 1024, 64, 512, 0);
  plain.queue.options.in_tokens_spread = 0.5;
  const inferno::queue::QueueAnalyzer a(plain.queue);
  inferno::queue::Evaluation ev;
  a.evaluate(1.0, ev);
  const double b = ev.post_queue_jitter_ms;
  REQUIRE(b == Approx(0.5 * (0.0215 + 4.0e-5) * 1024));
  for (const double p : {0.1, 0.5, 0.9, 0.99})
    CHECK(a.ttft_quantile(ev, p) == Approx(ev.post_queue_ms - b + 2 * b * p).epsilon(1e-9));
}

TEST_CASE("a stepped run counts as a metrics endpoint would: one request by hand", "[sim][stepping]") {
  // The request of the hand-computed timeline above: TTFT 30.301 ms, E2E 122.155 ms, ten decode
  // intervals 10.1 + 0.001·(100 + k) ms, k = 1..10 (sum 102.055 ms).
  Simulator s(server(10, 0.1, 0.001, 100, 10, 8, 0), trace({{1.0, 100, 10}}), FleetSpec{}, opts(10));
  s.advance_to(1.05);  // prefill done, first token not yet
  ServerCounters c = s.counters();
  CHECK(c.time_s == 1.05);
  CHECK(c.arrivals == 1);
  CHECK(c.running == 1);
  CHECK(c.prompt_tokens == 100);
  CHECK(c.ttft_count == 1);  // the first token came at 1030.301 ms
  CHECK(c.request_success == 0);
  s.advance_to(5);
  c = s.counters();
  CHECK(c.request_success == 1);
  CHECK(c.generation_tokens == 10);
  CHECK(c.ttft_sum_s == Approx(0.030301).epsilon(1e-12));
  CHECK(c.e2e_sum_s == Approx(0.122155).epsilon(1e-12));
  CHECK(c.itl_count == 10);
  CHECK(c.itl_sum_s == Approx(0.102055).epsilon(1e-12));
  CHECK(c.running_seconds == Approx(0.122155).epsilon(1e-12));  // one request in the batch that long
  CHECK(c.replica_seconds == Approx(5).epsilon(1e-15));
  CHECK(c.running == 0);
  CHECK(c.replicas_serving == 1);
  CHECK_THROWS_WITH(s.advance_to(4), Catch::Contains("time_s must be a finite number in [now_s, 1e8]"));
  const SimResult r = s.finish();
  CHECK(r.summary.ttft_ms.mean == Approx(30.301).epsilon(1e-12));
  CHECK_THROWS_AS(s.advance_to(20), InvalidArgument);
}

TEST_CASE("stepping changes nothing: a run in pieces is the run in one go, number for number", "[sim][stepping]") {
  SimulatedReplica srv = server(8, 0.02, 0.0005, 512, 128, 32, 64);
  srv.iteration_noise_cv = 0.1;
  WorkloadSpec w = poisson(4, 512, 128);
  w.out_tokens.kind = TokenDist::Kind::geometric;
  FleetSpec fleet;
  fleet.replicas = 2;
  fleet.router = Router::join_shortest_queue;
  fleet.startup_delay_s = 20;
  fleet.scale_events = {{100, 1}, {200, -2}};
  SimOptions o = opts(300, 30, 7);
  o.sample_interval_s = 5;
  const SimResult whole = simulate(srv, w, fleet, o);
  Simulator stepped(srv, w, fleet, o);
  for (double t : {0.0, 0.5, 13.25, 99.999, 100.0, 180.0, 250.0, 300.0}) stepped.advance_to(t);
  const SimResult pieces = stepped.finish();
  CHECK(pieces.summary.total_completed == whole.summary.total_completed);
  CHECK(pieces.summary.iterations == whole.summary.iterations);
  CHECK(pieces.summary.ttft_ms.mean == whole.summary.ttft_ms.mean);  // exactly: the same events in the same order
  CHECK(pieces.summary.ttft_ms.p99 == whole.summary.ttft_ms.p99);
  CHECK(pieces.summary.token_itl_ms.mean == whole.summary.token_itl_ms.mean);
  CHECK(pieces.summary.mean_num_in_system == whole.summary.mean_num_in_system);
  CHECK(pieces.summary.mean_replicas == whole.summary.mean_replicas);
  REQUIRE(pieces.requests.size() == whole.requests.size());
  for (std::size_t i = 0; i < whole.requests.size(); ++i) CHECK(pieces.requests[i].finish_ms == whole.requests[i].finish_ms);
  REQUIRE(pieces.series.size() == whole.series.size());
}

TEST_CASE("scale_to: replicas start after their delay, drain without losing a request, and are paid for throughout",
          "[sim][stepping]") {
  SimulatedReplica srv = server(8, 0.02, 0.0005, 256, 64, 16, 1000);
  Simulator s(srv, poisson(6, 256, 64), FleetSpec{}, opts(200));
  s.advance_to(10);
  s.scale_to(3, 30);  // two more, serving from t = 40
  s.advance_to(20);
  ServerCounters c = s.counters();
  CHECK(c.replicas_serving == 1);
  CHECK(c.replicas_starting == 2);
  s.advance_to(45);
  c = s.counters();
  CHECK(c.replicas_serving == 3);
  CHECK(c.replicas_starting == 0);
  CHECK(c.replica_seconds == Approx(1 * 45 + 2 * 35).epsilon(1e-12));  // starting replicas cost too
  s.scale_to(3, 30);  // already there: nothing changes
  CHECK(s.counters().replicas_serving == 3);
  s.scale_to(1, 0);  // two drain: no new requests, the ones they hold finish
  c = s.counters();
  CHECK(c.replicas_serving == 1);
  CHECK(c.replicas_serving + c.replicas_draining <= 3);
  s.advance_to(100);
  c = s.counters();
  CHECK(c.replicas_draining == 0);
  CHECK_THROWS_WITH(s.scale_to(1001, 0), Catch::Contains("replicas must be an integer in [0, 1000]"));
  CHECK_THROWS_WITH(s.scale_to(2, -1), Catch::Contains("startup_delay_s"));
  const SimResult r = s.finish();
  const Summary& m = r.summary;
  CHECK(m.unfinished == 0);
  CHECK(m.total_completed + m.total_blocked == m.total_arrivals);  // nothing lost on the way down
  CHECK(m.total_blocked == 0);
}

TEST_CASE("stop_arrivals_at: a run hands its later arrivals to a successor and finishes what it holds",
          "[sim][stepping]") {
  // Make-before-break by hand: requests at 1, 2, ..., 9 s. The old run takes those before 5 s; the
  // new one (a faster engine, started at 3 s with a 2 s start-up) those from 5 s. Each request is
  // served exactly once, and nothing is lost at the hand-over.
  std::vector<TraceEntry> early, late;
  for (int k = 1; k <= 9; ++k) (k < 5 ? early : late).push_back({static_cast<double>(k), 100, 10});
  std::vector<TraceEntry> all = early;
  all.insert(all.end(), late.begin(), late.end());
  Simulator before(server(10, 0.1, 0.001, 100, 10, 8, 0), trace(all), FleetSpec{}, opts(20));
  FleetSpec none;
  none.replicas = 0;
  Simulator after(server(5, 0.05, 0.0005, 100, 10, 8, 0), trace(late), none, opts(20));
  before.advance_to(3);
  after.advance_to(3);
  before.stop_arrivals_at(5);
  after.scale_to(1, 2);  // ready at 5 s, before the arrival at 5 s (replica events go first)
  CHECK_THROWS_WITH(before.stop_arrivals_at(2), Catch::Contains("time_s must be a finite number >= now_s"));
  before.advance_to(5);
  before.scale_to(0, 0);  // the old replica drains once the new one serves
  const SimResult a = before.finish(), b = after.finish();
  CHECK(a.summary.total_arrivals == 4);  // 1, 2, 3, 4 s
  CHECK(a.summary.total_completed == 4);
  CHECK(b.summary.total_arrivals == 5);  // 5 .. 9 s
  CHECK(b.summary.total_completed == 5);
  CHECK(b.summary.total_blocked == 0);
  // the new engine's TTFT, no wait: the prefill iteration 5 + 0.05 * 100 + 0.0005 * 100 = 10.05 ms,
  // then the first decode step 5 + 0.05 + 0.0005 * 101 = 5.1005 ms
  CHECK(b.summary.ttft_ms.mean == Approx(15.1505).epsilon(1e-9));
}

TEST_CASE("the counters agree with the summary of the same run", "[sim][stepping]") {
  Simulator s(server(8, 0.02, 0.0005, 512, 128, 32, 256), poisson(3, 512, 128), FleetSpec{}, opts(400));
  s.advance_to(400);
  const ServerCounters c = s.counters();
  const SimResult r = s.finish();
  CHECK(c.arrivals == r.summary.total_arrivals);
  CHECK(c.request_success <= r.summary.total_completed);  // the last ones finish after t = 400
  CHECK(c.request_success >= r.summary.total_completed - c.running - c.waiting);
  // With no warm-up, the measured window is the whole run: the window means are the integrals' means.
  CHECK(c.running_seconds / 400 == Approx(r.summary.mean_num_in_service).epsilon(1e-9));
  CHECK(c.waiting_seconds / 400 == Approx(r.summary.mean_queue_length).margin(1e-12));
  CHECK(c.replica_seconds == Approx(400).epsilon(1e-12));
  CHECK(c.generation_tokens == 128.0 * static_cast<double>(c.request_success));
}
