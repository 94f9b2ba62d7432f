// Service-model primitives against the reference's published numbers (docs/queueing-model.md §9.3)
// and identities.
#include <catch2/catch.hpp>

#include <algorithm>

#include "inferno/error.hpp"
#include "inferno/queue/models/iteration.hpp"
#include "inferno/queue/service_model.hpp"

using namespace inferno::queue;

namespace {
IterationModel iteration(double a, double b, double g, double n, double m, int max_batch,
                         int max_num_tokens = 8192) {
  return IterationModel(a, b, g, RequestShape{n, m, max_num_tokens}, max_batch);
}
}  // namespace

TEST_CASE("iteration model reproduces the golden primitives (docs/queueing-model.md §9.3)", "[models]") {
  struct Row { int B; double a, b, g, n, m; long nc; double t_iter, prefill, itl, tau; };
  const Row rows[] = {
      {1, 8, 0.033, 0.000333, 256, 1024, 1, 8.296954, 16.533249, 8.288911, 8504.378},
      {40, 8, 0.033, 0.000333, 256, 1024, 1, 19.878149, 28.114445, 19.870108, 20375.104},
      {80, 8, 0.033, 0.000333, 256, 1024, 1, 31.756298, 39.99259, 31.748257, 32550.205},
      {128, 16, 0.067, 0.000667, 256, 1024, 1, 92.278305, 109.005135, 92.26197, 94585.266},
      {200, 4, 0.017, 0.000167, 64, 128, 1, 13.335666, 14.387675, 13.327447, 1720.3009},
      {50, 8, 0.033, 0.000333, 1024, 256, 1, 35.3987, 68.98372, 35.26751, 9097.466},
      {128, 8, 0.033, 0.000333, 4096, 64, 7, 423.95038, 3085.5293, 422.10855, 30100.477},
      {200, 8, 0.033, 0.000333, 4096, 64, 39, 498.38052, 19503.664, 497.3364, 51333.195},
  };
  for (const Row& r : rows) {
    CAPTURE(r.B, r.n, r.m);
    const auto model = iteration(r.a, r.b, r.g, r.n, r.m, r.B);
    const auto c = model.chunk_count(r.B);
    CHECK(c == r.nc);
    const double cd = static_cast<double>(c);
    CHECK(model.iteration_ms(r.B, cd) == Approx(r.t_iter).epsilon(1e-6));
    CHECK(model.prefill_ms(r.B, r.B) == Approx(r.prefill).epsilon(1e-6));
    CHECK(model.itl_ms(r.B, r.B) == Approx(r.itl).epsilon(1e-6));
    CHECK(model.service_times_ms()[r.B - 1] == Approx(r.tau).epsilon(1e-6));
  }
}

TEST_CASE("worked example of examples/problem-data.json (docs/queueing-model.md §9.3)", "[models]") {
  const auto model = iteration(12, 0.05, 0.0005, 128, 512, 48);
  CHECK(model.prefill_work(1) == Approx(6.464).epsilon(1e-12));
  CHECK(model.decode_work() == Approx(124.032).epsilon(1e-12));
  CHECK(model.work_per_iteration(1) == Approx(0.2543782).epsilon(1e-6));
  CHECK(model.service_times_ms()[0] == Approx(6286.496).epsilon(1e-9));
  CHECK(model.service_times_ms()[47] == Approx(12419.81).epsilon(1e-6));
  for (int b = 1; b <= 48; ++b) CHECK(model.chunk_count(b) == 1);
  CHECK(1000.0 * 48 / model.service_times_ms()[47] == Approx(3.864794).epsilon(1e-6));
}

TEST_CASE("chunk tables (docs/queueing-model.md §9.3)", "[models]") {
  SECTION("n=4096, m=64, M_tok=8192") {
    const auto model = iteration(8, 0.033, 0.000333, 4096, 64, 200);
    CHECK(model.batch_limit_for_chunks(1) == 64);
    CHECK(model.batch_limit_for_chunks(2) == 97);
    CHECK(model.batch_limit_for_chunks(3) == 109);
    CHECK(model.batch_limit_for_chunks(4) == 117);
    CHECK(model.batch_limit_for_chunks(5) == 122);
    CHECK(model.batch_limit_for_chunks(38) == 198);
    CHECK(model.batch_limit_for_chunks(39) == 200);
    CHECK(model.chunk_count(64) == 1);
    CHECK(model.chunk_count(65) == 2);
    CHECK(model.chunk_count(100) == 3);
    CHECK(model.chunk_count(128) == 7);
    CHECK(model.chunk_count(150) == 15);
    CHECK(model.chunk_count(200) == 39);
  }
  SECTION("n=4096, m=512, M_tok=4200") {
    const auto model = iteration(8, 0.033, 0.000333, 4096, 512, 256, 4200);
    CHECK(model.batch_limit_for_chunks(1) == 11);
    CHECK(model.batch_limit_for_chunks(2) == 240);
    CHECK(model.batch_limit_for_chunks(3) == 316);
    for (int b = 1; b <= 256; ++b) {
      CAPTURE(b);
      CHECK(model.chunk_count(b) == (b <= 11 ? 1 : b <= 240 ? 2 : 3));
    }
  }
  SECTION("a prompt far beyond the budget terminates quickly with a huge chunk count") {
    const auto model = iteration(8, 0.033, 0.000333, 1e9, 16, 4);
    CHECK(model.chunk_count(1) > 100000);
    CHECK(model.chunk_count(4) >= model.chunk_count(1));
  }
}

TEST_CASE("service time identities of each model", "[models]") {
  SECTION("iteration: tau(B) = (c+m)·T_iter(B, c) and T_iter affine in B without chunking") {
    const auto model = iteration(12, 0.05, 0.0005, 128, 512, 48);
    const double d = model.work_per_iteration(1);
    for (int b = 1; b <= 48; ++b)
      CHECK(model.service_times_ms()[b - 1] == Approx((1 + 512) * (12 + b * d)).epsilon(1e-13));
  }
  SECTION("prefill-decode: tau(b) = prefill(b) + (m-1)·decode(b)") {
    const ModelParams p{{"decode_alpha", 10}, {"decode_beta", 0.5}, {"prefill_gamma", 20},
                        {"prefill_delta", 0.01}};
    const auto model = make_service_model("prefill-decode", p, RequestShape{100, 50, 8192}, 8);
    for (int b = 1; b <= 8; ++b)
      CHECK(model->service_times_ms()[b - 1] ==
            Approx((20 + 0.01 * 100 * b) + 49 * (10 + 0.5 * b)).epsilon(1e-14));
    // No prompt and a single output token: one decode step, no prefill.
    const auto bare = make_service_model("prefill-decode", p, RequestShape{0, 1, 8192}, 2);
    CHECK(bare->service_times_ms()[1] == Approx(10 + 0.5 * 2).epsilon(1e-14));
  }
  SECTION("token: tau(b) = K·(alpha + beta·b)") {
    const ModelParams p{{"alpha", 19}, {"beta", 1}, {"tokens_per_request", 1024}};
    const auto model = make_service_model("token", p, RequestShape{}, 48);
    CHECK(model->service_times_ms()[47] == Approx(1024.0 * (19 + 48)).epsilon(1e-15));
    CHECK(model->itl_ms(10, 48) == Approx(29.0));
  }
}

TEST_CASE("vllm: the iteration loop plus the wait for the iteration in progress, delta*b^2 and epsilon*n^2/2",
          "[models]") {
  // Hand values for α = 12, β = 0.05, γ = 0.0005, n = 128, m = 512 (one prefill chunk at every
  // batch up to 48): w = ((β + γ)·n + β·m + γ·m·(n + (m+1)/2)) / (1 + m).
  const double a = 12, b = 0.05, g = 0.0005, n = 128, m = 512;
  const double w = ((b + g) * n + b * m + g * m * (n + (m + 1) / 2)) / (1 + m);
  const ModelParams flat{{"alpha", a}, {"beta", b}, {"gamma", g}, {"delta", 0.0}, {"epsilon", 0.0}};
  const auto plain = make_service_model("iteration", {{"alpha", a}, {"beta", b}, {"gamma", g}}, RequestShape{n, m, 8192}, 48);
  const auto vllm = make_service_model("vllm", flat, RequestShape{n, m, 8192}, 48);
  CHECK(vllm->kind() == "vllm");
  SECTION("delta = 0: alone no wait; with others, half an iteration of theirs") {
    CHECK(vllm->service_times_ms()[0] == Approx(plain->service_times_ms()[0]).epsilon(1e-15));
    for (int batch : {2, 3, 48}) {
      CAPTURE(batch);
      const double others = batch - 1;
      CHECK(vllm->service_times_ms()[batch - 1] - plain->service_times_ms()[batch - 1] ==
            Approx(0.5 * (a + others * w)).epsilon(1e-12));
      CHECK(vllm->prefill_ms(batch, 48) - plain->prefill_ms(batch, 48) == Approx(0.5 * (a + others * w)).epsilon(1e-12));
      CHECK(vllm->itl_ms(batch, 48) == Approx(plain->itl_ms(batch, 48)).epsilon(1e-15));
    }
    // Between 1 and 2 in service the engine idles part of the time: the wait grows from 0.
    CHECK(vllm->prefill_ms(1.5, 48) - plain->prefill_ms(1.5, 48) == Approx(0.5 * 0.5 * (a + 0.5 * w)).epsilon(1e-12));
  }
  SECTION("delta > 0: every iteration of b sequences is delta*b^2 longer") {
    const double delta = 2e-3;
    const auto slow = make_service_model(
        "vllm", {{"alpha", a}, {"beta", b}, {"gamma", g}, {"delta", delta}, {"epsilon", 0.0}}, RequestShape{n, m, 8192}, 48);
    for (int batch : {1, 10, 48}) {
      CAPTURE(batch);
      const double others = batch - 1;
      const double extra = (1 + m) * delta * batch * batch + 0.5 * std::min(1.0, others) * delta * others * others;
      CHECK(slow->service_times_ms()[batch - 1] - vllm->service_times_ms()[batch - 1] == Approx(extra).epsilon(1e-10));
      CHECK(slow->itl_ms(batch, 48) - vllm->itl_ms(batch, 48) == Approx(delta * batch * batch).epsilon(1e-10));
    }
  }
  SECTION("epsilon > 0: a prompt of n tokens takes epsilon*n^2/2 more to prefill") {
    const double eps = 1e-5, attention = eps * n * n / 2;  // 0.08192 ms
    const auto slow = make_service_model(
        "vllm", {{"alpha", a}, {"beta", b}, {"gamma", g}, {"delta", 0.0}, {"epsilon", eps}}, RequestShape{n, m, 8192}, 48);
    // Alone: the request's own prefill, and its time in service, by exactly that much.
    CHECK(slow->prefill_ms(1, 48) - vllm->prefill_ms(1, 48) == Approx(attention).epsilon(1e-10));
    CHECK(slow->service_times_ms()[0] - vllm->service_times_ms()[0] == Approx(attention).epsilon(1e-10));
    // With others, each of their iterations carries their share of it: attention / (1 + m) each.
    for (int batch : {2, 10, 48}) {
      CAPTURE(batch);
      const double others = batch - 1, share = attention / (1 + m);
      CHECK(slow->itl_ms(batch, 48) - vllm->itl_ms(batch, 48) == Approx(others * share).epsilon(1e-10));
      CHECK(slow->service_times_ms()[batch - 1] - vllm->service_times_ms()[batch - 1] ==
            Approx(batch * attention + 0.5 * std::min(1.0, others) * others * share).epsilon(1e-10));
    }
  }
  SECTION("the mean split keeps T = TTFT + (m - 1)·ITL") {
    const auto slow = make_service_model(
        "vllm", {{"alpha", a}, {"beta", b}, {"gamma", g}, {"delta", 1e-3}, {"epsilon", 1e-5}}, RequestShape{n, m, 8192}, 48);
    for (double occupancy : {1.0, 7.3, 48.0}) {
      const double service = slow->service_times_ms()[static_cast<std::size_t>(occupancy) - 1];
      const MeanSplit split = slow->mean_split(service, occupancy, 48);
      CHECK(split.post_queue_ms + (m - 1) * split.itl_ms == Approx(service).epsilon(1e-12));
    }
  }
}

TEST_CASE("service-model validation names the field and the allowed values", "[models]") {
  const RequestShape shape{128, 512, 8192};
  auto message_of = [](auto&& make) {
    try {
      make();
    } catch (const inferno::InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message_of([&] { make_service_model("fancy", {}, shape, 4); }),
             Catch::Contains("unknown service model 'fancy'") && Catch::Contains("'iteration'"));
  CHECK_THAT(message_of([&] { make_service_model("iteration", {{"alpha", 1}, {"beta", 1}}, shape, 4); }),
             Catch::Contains("missing parameter 'gamma'"));
  CHECK_THAT(message_of([&] {
               make_service_model("iteration", {{"alpha", 1}, {"beta", 1}, {"gamma", 1}, {"delta", 1}},
                                  shape, 4);
             }),
             Catch::Contains("unknown parameter 'delta'") && Catch::Contains("alpha, beta, gamma"));
  CHECK_THAT(message_of([&] {
               make_service_model("iteration", {{"alpha", -1}, {"beta", 1}, {"gamma", 1}}, shape, 4);
             }),
             Catch::Contains("alpha must be a finite number in [0, 1e+06], got -1"));
  CHECK_THAT(message_of([&] {
               make_service_model("iteration", {{"alpha", 0}, {"beta", 0}, {"gamma", 0}}, shape, 4);
             }),
             Catch::Contains("must not all be 0"));
  CHECK_THAT(message_of([&] {
               make_service_model("iteration", {{"alpha", 1}, {"beta", 1}, {"gamma", 1}},
                                  RequestShape{128, 0, 8192}, 4);
             }),
             Catch::Contains("out_tokens must be a finite number in [1, 1e+08], got 0"));
  CHECK_THAT(message_of([&] {
               make_service_model("iteration", {{"alpha", 1}, {"beta", 1}, {"gamma", 1}}, shape, 0);
             }),
             Catch::Contains("max_batch must be an integer in [1, 10000000], got 0"));
}
