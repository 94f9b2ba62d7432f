// The format tables (io/schema.hpp): the JSON Schema generated from them, and the reader that
// takes its types and ranges from them (io/reader.hpp); documents that arrive as values.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <string>

#include "inferno/error.hpp"
#include "inferno/io/json.hpp"
#include "inferno/io/reader.hpp"
#include "inferno/io/schema.hpp"
#include "inferno/optimizer/documents.hpp"
#include "inferno/optimizer/system.hpp"

using namespace inferno::io;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

const Field& tiny_format() {
  static const Field f = object("", "a tiny format", {
      text("name", "a name").must(),
      number("rate", "arrivals, req/s").at_least(0).at_most(10, true),
      integer("replicas", "replicas", 1, 8).fallback(1),
      choice("mode", "how", {"fast", "slow"}),
      array("tags", "labels", text("", "a label"))});
  return f;
}

std::string failure(const std::function<void()>& read) {
  try {
    read();
  } catch (const inferno::InvalidArgument& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("a format gives its JSON Schema, hand-checked", "[formats]") {
  const ordered_json s = json_schema(tiny_format(), "tiny.json: a tiny format", false);
  CHECK(s["$schema"] == "https://json-schema.org/draft/2020-12/schema");
  CHECK(s["type"] == "object");
  CHECK(s["required"] == ordered_json::array({"name"}));
  CHECK(s["properties"]["rate"] == ordered_json::parse(
      R"({"description": "arrivals, req/s", "type": "number", "minimum": 0, "exclusiveMaximum": 10})"));
  CHECK(s["properties"]["replicas"] == ordered_json::parse(
      R"({"description": "replicas", "type": "integer", "default": 1, "minimum": 1, "maximum": 8})"));
  CHECK(s["properties"]["mode"]["enum"] == ordered_json::array({"fast", "slow"}));
  CHECK(s["properties"]["tags"]["items"]["type"] == "string");
  CHECK_FALSE(s.contains("patternProperties"));  // case-sensitive
  // Case-blind: each key is matched by a pattern that points at its property.
  const ordered_json blind = json_schema(tiny_format(), "tiny", true);
  CHECK(blind["patternProperties"]["^[rR][aA][tT][eE]$"]["$ref"] == "#/properties/rate");
  CHECK(case_blind_pattern("slo-itl") == "[sS][lL][oO]-[iI][tT][lL]");
}

TEST_CASE("the reader takes types, ranges, choices and defaults from the format", "[formats]") {
  const Field& f = tiny_format();
  const Reader r("tiny.json", "servers[0] (a)");
  const json ok = parse_json_folded(R"({"NAME": "a", "rate": 9.5, "mode": "slow"})");
  CHECK(r.text(ok, f.member("name")) == "a");
  CHECK(r.number(ok, f.member("rate")) == 9.5);
  CHECK(r.integer(ok, f.member("replicas")) == 1);  // the default
  CHECK(r.text(ok, f.member("mode")) == "slow");
  CHECK(failure([&] { r.number(parse_json_folded(R"({"rate": 10})"), f.member("rate")); }) ==
        "tiny.json: servers[0] (a): rate must be a finite number in [0, 10), got 10");
  CHECK(failure([&] { r.integer(parse_json_folded(R"({"replicas": 9})"), f.member("replicas")); }) ==
        "tiny.json: servers[0] (a): replicas must be an integer in [1, 8], got 9");
  CHECK(failure([&] { r.integer(parse_json_folded(R"({"replicas": 2.5})"), f.member("replicas")); }) ==
        "tiny.json: servers[0] (a): replicas must be an integer, got 2.5");
  CHECK(failure([&] { r.text(parse_json_folded(R"({"mode": "Fast"})"), f.member("mode")); }) ==
        "tiny.json: servers[0] (a): mode must be one of \"fast\", \"slow\" (case-sensitive), got \"Fast\"");
  CHECK(failure([&] { r.text(json::object(), f.member("name")); }) == "tiny.json: servers[0] (a): name is required");
  CHECK(failure([&] { r.array(parse_json_folded(R"({"tags": "x"})"), f.member("tags")); }) ==
        "tiny.json: servers[0] (a).tags: must be an array");
  CHECK_THROWS_AS(f.member("no-such-key"), std::logic_error);  // a reader asking for a key its table lacks
}

TEST_CASE("a line reader names the key alone, says what 0 means and prints integer bounds whole", "[formats]") {
  Field line = object("", "a line", {number("targetTPS", "tokens/s").at_least(0).at_most(1e12).zero_means("none"),
                                     integer("clients", "users", 1, 1000000),
                                     number("delay", "s").at_least(0, true),
                                     object("decodeParms", "nested", {number("alpha", "ms").at_least(0)})});
  const Reader r = Reader::line();
  CHECK(failure([&] { r.number(parse_json_folded(R"({"targetTPS": 1e13})"), line.member("targetTPS")); }) ==
        "targetTPS must be a finite number in [0, 1e+12] (0 = none), got 1e+13");
  CHECK(failure([&] { r.integer(parse_json_folded(R"({"clients": 0})"), line.member("clients")); }) ==
        "clients must be an integer in [1, 1000000], got 0");
  CHECK(failure([&] { r.number(parse_json_folded(R"({"delay": 0})"), line.member("delay")); }) == "delay must be > 0, got 0");
  CHECK(failure([&] { r.object(parse_json_folded(R"({"decodeParms": 3})"), line.member("decodeParms")); }) ==
        "decodeParms must be an object");
  const Field& nested = line.member("decodeParms");
  CHECK(failure([&] { r.at("decodeParms").number(parse_json_folded(R"({"alpha": -1})"), nested.member("alpha")); }) ==
        "decodeParms: alpha must be >= 0, got -1");
  CHECK(range_problem(line.member("targetTPS"), std::nan("")) ==
        "targetTPS must be a finite number in [0, 1e+12] (0 = none), got nan");
  CHECK(range_problem(line.member("targetTPS"), 0).empty());
}

TEST_CASE("a case-sensitive reader names members by path and leaves ranges to the domain", "[formats]") {
  const Field format = object("", "a request", {integer("maxNumSeqs", "requests", 1, 100),
                                                number("gpuMemoryUtilization", "share").at_least(0, true).at_most(1),
                                                text("model", "a name").must()});
  const Reader r("", "servers[0] (a).serving", ReadMode{true, false, true});
  const json doc = json::parse(R"({"maxNumSeqs": 1000, "gpuMemoryUtilization": 1.5, "MODEL": "m"})");
  CHECK(r.integer(doc, format.member("maxNumSeqs")) == 1000);            // the domain object checks the range
  CHECK(r.number(doc, format.member("gpuMemoryUtilization")) == 1.5);
  CHECK(failure([&] { r.text(doc, format.member("model")); }) ==         // MODEL is another key here
        "servers[0] (a).serving.model is required");
  CHECK(failure([&] { r.integer(json::parse(R"({"maxNumSeqs": 2.5})"), format.member("maxNumSeqs")); }) ==
        "servers[0] (a).serving.maxNumSeqs must be an integer, got 2.5");
  CHECK(failure([&] { r.int32(json::parse(R"({"maxNumSeqs": 3000000000})"), format.member("maxNumSeqs")); }) ==
        "servers[0] (a).serving.maxNumSeqs must be an integer in [-2147483648, 2147483647], got 3000000000");
  CHECK(failure([&] { r.check_keys(doc, format); }) ==
        "servers[0] (a).serving: unknown key \"MODEL\"; allowed: maxNumSeqs, gpuMemoryUtilization, model");
  CHECK(failure([&] { r.fail_member("load", "is required"); }) == "servers[0] (a).serving.load is required");
}

TEST_CASE("a document given as a value reads as its text does", "[formats]") {
  const std::string text = R"({"accelerators": [{"Name": "A100", "TYPE": "A100", "memSize": 80, "cost": 40}]})";
  inferno::optimizer::SystemBuilder from_text, from_value;
  from_text.add_document("a.json", text);
  from_value.add_value("a.json", json::parse(text));
  const auto a = from_text.build().accelerators(), b = from_value.build().accelerators();
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  CHECK(b[0].name == "A100");
  CHECK(b[0].mem_size_gb == a[0].mem_size_gb);
  CHECK(b[0].cost == 40);
  // The same limits: nesting deeper than the parsers accept is refused.
  json deep = json::array();
  for (int i = 0; i < kMaxJsonDepth + 1; ++i) deep = json::array({deep});
  CHECK(failure([&] { from_value.add_value("deep", json{{"servers", deep}}); }) ==
        "deep: malformed document: nesting deeper than 64 levels");
  CHECK(failure([&] { from_value.add_value("neg", json::parse(R"({"accelerators": [{"name": "x", "memSize": -1}]})")); }) ==
        "neg: accelerators[0] (x): memSize must be >= 0, got -1");
}

TEST_CASE("every optimizer document format is listed once and closed where the output is", "[formats]") {
  const auto& formats = inferno::optimizer::document_formats();
  REQUIRE(formats.size() == 8);
  CHECK(formats.front().file == "accelerator-data.json");
  CHECK(inferno::optimizer::solution_data_format().closed);
  CHECK_FALSE(inferno::optimizer::server_data_format().member("servers").items->closed);  // reference data carries extra keys
  CHECK(inferno::optimizer::optimizer_data_format().member("optimizer").closed);
}
