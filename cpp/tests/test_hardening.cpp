// Hostile input: overflowing rates, deep nesting, invalid UTF-8, and a batch whose lines throw.
// Each case is a reproducer of a crash or a lost batch that once happened.
#include <catch2/catch.hpp>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "inferno/error.hpp"
#include "inferno/io/json.hpp"
#include "inferno/queue/analyzer.hpp"
#include "inferno/queue/chain.hpp"
#include "line_batch.hpp"

using namespace inferno;

namespace {
// The sample server of samples/queue/problem-data.json.
queue::QueueConfig sample_config(std::int64_t max_queue) {
  queue::QueueConfig config;
  config.params = {{"alpha", 12}, {"beta", 0.05}, {"gamma", 0.0005}};
  config.shape.in_tokens = 128;
  config.shape.out_tokens = 512;
  config.max_batch = 48;
  config.max_queue = max_queue;
  return config;
}
}  // namespace

TEST_CASE("chain: ratios lambda/mu that overflow a double give finite probabilities, not NaN", "[hardening]") {
  // 48 states with service times 4..200 ms; lambda = 1e97 per ms makes products of four ratios
  // overflow (1e99^4), which used to turn the occupancy into NaN and then into an index.
  std::vector<double> tau;
  for (int b = 1; b <= 48; ++b) tau.push_back(4.0 * b + 8.0);
  const auto rates = queue::completion_rates_from_service_times(tau);
  for (const double lambda : {1e30, 1e97, 1e200, 1e300}) {
    for (const std::int64_t q : {std::int64_t{0}, std::int64_t{128}}) {
      const auto s = queue::solve_chain(lambda, rates, q);
      CHECK(std::isfinite(s.num_in_service));
      CHECK(s.num_in_service == Approx(48.0));  // saturated: the batch is always full
      CHECK(s.throughput == Approx(rates.mu.back()));
      CHECK(s.prob_full == Approx(1.0));
    }
  }
}

TEST_CASE("analyzer: rates and parameters outside their ranges are named with the range", "[hardening]") {
  queue::QueueConfig config = sample_config(128);
  const queue::QueueAnalyzer analyzer(config);
  CHECK_THROWS_WITH(analyzer.analyze(1e300), "rate_rps must be a finite number in (0, 1e+09], got 1e+300");
  CHECK(std::isfinite(analyzer.analyze(1e9).ttft_ms));
  config.params["alpha"] = 1e200;
  CHECK_THROWS_WITH(queue::QueueAnalyzer(config), "alpha must be a finite number in [0, 1e+06], got 1e+200");
  config.params["alpha"] = 12;
  config.options.arrival_cov = 1e200;
  CHECK_THROWS_WITH(queue::QueueAnalyzer(config), "arrival_cov must be a finite number in [0, 100], got 1e+200");
  config.options.arrival_cov = 1;
  config.shape.in_tokens = 1e12;
  CHECK_THROWS_WITH(queue::QueueAnalyzer(config), "in_tokens must be a finite number in [0, 1e+08], got 1e+12");
}

TEST_CASE("JSON: nesting is bounded while parsing, and error text stays short and printable", "[hardening]") {
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  CHECK(io::parse_json_folded("{\"a\": " + nested(io::kMaxJsonDepth - 1) + "}").is_object());
  CHECK_THROWS_WITH(io::parse_json_folded("{\"a\": " + nested(io::kMaxJsonDepth) + "}"),
                    "malformed JSON: nesting deeper than 64 levels");
  CHECK_THROWS_WITH(io::parse_json(nested(100000)), "malformed JSON: nesting deeper than 64 levels");
  // Invalid UTF-8 and a non-ASCII byte in a malformed line: the message shows them as \xHH.
  try {
    io::parse_json_folded("{\"x\": \"\xff\"}");
    FAIL("accepted invalid UTF-8");
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    CHECK(what.find("ill-formed UTF-8") != std::string::npos);
    CHECK(what.find("\\xff") != std::string::npos);
    for (const char ch : what) CHECK((ch >= 0x20 && ch < 0x7f));
  }
  CHECK(io::excerpt(nlohmann::json(std::string(100, 'x'))) == "\"" + std::string(40, 'x') + "\"...");
  CHECK(io::excerpt(nlohmann::json::parse("[1, [2, 3], {}]")) == "an array of 3 elements");
  CHECK(io::excerpt(nlohmann::json::parse("{\"a\": 1}")) == "an object with 1 keys");
  CHECK(io::dump_response(nlohmann::json(std::string("a\xff"))) == "\"a\xef\xbf\xbd\"");
}

TEST_CASE("line batches: whatever a line throws becomes its error, every other line is answered in order",
          "[hardening]") {
  std::vector<std::string> lines;
  for (int i = 0; i < 301; ++i) lines.push_back(i == 150 ? "bad" : i == 200 ? "worse" : std::to_string(i));
  lines.push_back("   ");  // blank: no answer, not counted
  for (const unsigned threads : {1u, 4u}) {
    std::size_t failures = 0;
    const auto out = io::detail::answer_lines(lines, threads, &failures, [](const std::string& line) {
      if (line == "bad") throw std::runtime_error("formatting failed \xff");
      if (line == "worse") throw 42;  // not even a std::exception
      return std::make_pair("ok " + line, true);
    });
    REQUIRE(out.size() == lines.size());
    CHECK(failures == 2);
    for (int i = 0; i < 301; ++i)
      if (i != 150 && i != 200) CHECK(out[i] == "ok " + std::to_string(i));
    CHECK(out[150] ==
          R"({"error":"formatting failed \\xff","message":"internal error: formatting failed \\xff","status":"error"})");
    CHECK(out[200] == R"({"error":"unknown error","message":"internal error: unknown error","status":"error"})");
    CHECK(out[301].empty());
  }
}

TEST_CASE("wait survival: a time beyond 2^63 completions returns 0 at once instead of looping", "[hardening]") {
  const queue::QueueConfig config = sample_config(1'000'000'000'000);
  const queue::QueueAnalyzer analyzer(config);
  queue::Evaluation ev;
  analyzer.evaluate(3.8, ev);
  CHECK(analyzer.wait_survival(ev, 1e30) == 0.0);
  CHECK(analyzer.wait_survival(ev, 1e300) == 0.0);
  const double ordinary = analyzer.wait_survival(ev, 1e3);
  CHECK((ordinary > 0.0 && ordinary < 1.0));
}
