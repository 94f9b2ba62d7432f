// Loading and validating the optimizer's input documents (docs/optimizer.md §2).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "inferno/error.hpp"
#include "inferno/io/json.hpp"
#include "inferno/optimizer/system.hpp"

using namespace inferno::optimizer;

namespace {
const std::string kSamples = INFERNO_SOURCE_DIR "/samples";

System load_dir(const std::string& dir) {
  SystemBuilder b;
  b.add_directory(dir);
  return b.build();
}

std::string error_of(const std::string& doc) {
  SystemBuilder b;
  try {
    b.add_document("doc.json", doc);
  } catch (const inferno::InvalidArgument& e) {
    return e.what();
  }
  return "no error";
}

bool has_diagnostic(const System& s, const std::string& text) {
  for (const auto& d : s.diagnostics())
    if (d.message.find(text) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST_CASE("the small sample set loads with every field", "[system]") {
  const System s = load_dir(kSamples + "/small");
  CHECK(s.accelerators().size() == 6);
  CHECK(s.capacity().size() == 4);
  CHECK(s.capacity().at("A100") == 768);
  CHECK(s.perf_records().size() == 30);
  CHECK(s.service_classes().size() == 3);
  CHECK(s.servers().size() == 15);

  const AcceleratorProfile* l4 = s.find_accelerator("L4");
  REQUIRE(l4 != nullptr);
  CHECK(l4->type == "L4");
  CHECK(l4->multiplicity == 1);
  CHECK(l4->cost == 6.0);
  CHECK(l4->power.idle_w == 25);
  CHECK(l4->power.mid_power_w == 65);
  CHECK(l4->power.mid_util == 0.6);
  CHECK(l4->power.full_w == 75);

  const PerfRecord* p = s.find_perf("granite_13b", "A100");
  REQUIRE(p != nullptr);
  CHECK(p->format == PerfFormat::perf_parms);
  CHECK(p->acc_count == 1);
  CHECK(p->max_batch_size == 64);
  CHECK(p->at_tokens == 512);
  CHECK(p->alpha == 20.58);
  CHECK(p->beta == 0.041);
  CHECK(p->gamma == 0.00128125);

  const ServiceClass* premium = s.find_class("Premium");
  REQUIRE(premium != nullptr);
  CHECK(premium->priority == 1);

  // "AvgInTokens"/"AvgOutTokens" in the sample data: keys are case-insensitive.
  const Server& first = s.servers().front();
  CHECK(first.name == "Premium-llama_13b");
  CHECK(first.service_class == "Premium");
  CHECK(first.current.load.arrival_rate_rpm == 60);
  CHECK(first.current.load.in_tokens == 128);
  CHECK(first.current.load.out_tokens == 1024);
  CHECK_FALSE(first.max_queue.has_value());
  CHECK(s.options().saturation_policy == SaturationPolicy::round_robin);
  CHECK_FALSE(s.options().unlimited);
}

TEST_CASE("system-data.json holds the same system as the separate files", "[system]") {
  SystemBuilder b;
  b.add_document("system-data.json",
                 R"({"system": {"optimizerData": {"optimizer": {"unlimited": true}}}})");
  CHECK(b.build().options().unlimited);

  const System files = load_dir(kSamples + "/small");
  SystemBuilder whole;
  std::ifstream in(kSamples + "/small/system-data.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  whole.add_document("system-data.json", text);
  const System one = whole.build();
  REQUIRE(one.servers().size() == files.servers().size());
  for (std::size_t i = 0; i < one.servers().size(); ++i) CHECK(one.servers()[i].name == files.servers()[i].name);
  CHECK(one.perf_records().size() == files.perf_records().size());
  CHECK(one.accelerators().size() == files.accelerators().size());
}

TEST_CASE("the large set and the decodeParms/prefillParms format load", "[system]") {
  const System large = load_dir(kSamples + "/large");
  CHECK(large.accelerators().size() == 21);
  CHECK(large.perf_records().size() == 189);
  CHECK(large.servers().size() == 27);
  CHECK(large.find_class("Batch2K") != nullptr);

  // The record format of sample-data 849e1e8 (first record of its small set).
  SystemBuilder b;
  b.add_document("model-data.json", R"({"models": [{"name": "granite_13b", "acc": "AIU2",
      "accCount": 1, "maxBatchSize": 51, "atTokens": 512, "decodeParms": {"alpha": 205.8,
      "beta": 4.1}, "prefillParms": {"gamma": 1646.4, "delta": 0.128125}}]})");
  const System v1 = b.build();
  const PerfRecord* p = v1.find_perf("granite_13b", "AIU2");
  REQUIRE(p != nullptr);
  CHECK(p->format == PerfFormat::decode_prefill);
  CHECK(p->decode_alpha == 205.8);
  CHECK(p->decode_beta == 4.1);
  CHECK(p->prefill_gamma == 1646.4);
  CHECK(p->prefill_delta == 0.128125);
}

TEST_CASE("a later entry replaces an earlier one in place, across and within documents", "[system]") {
  SystemBuilder b;
  b.add_document("a.json", R"({"servers": [{"name": "s1", "model": "m", "minNumReplicas": 1},
                                           {"name": "s2", "model": "m"}, {"name": "s3", "model": "m"}]})");
  b.add_document("b.json", R"({"servers": [{"name": "s2", "model": "m", "minNumReplicas": 2},
                                           {"name": "s4", "model": "m"}, {"name": "s1", "model": "m", "minNumReplicas": 3},
                                           {"name": "s4", "model": "m", "minNumReplicas": 4}]})");
  const System s = b.build();
  REQUIRE(s.servers().size() == 4);
  const std::vector<std::pair<std::string, int>> expected = {{"s1", 3}, {"s2", 2}, {"s3", 0}, {"s4", 4}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(s.servers()[i].name == expected[i].first);  // first-seen order
    CHECK(s.servers()[i].min_replicas == expected[i].second);  // the last definition
  }
  int replaced = 0;
  for (const auto& d : s.diagnostics()) replaced += d.message.find("duplicate server") != std::string::npos;
  CHECK(replaced == 3);

  const System rated = s.with_arrival_rates({{"s3", 12.0}, {"s1", 6.0}});
  CHECK(rated.servers()[0].current.load.arrival_rate_rpm == 6.0);
  CHECK(rated.servers()[2].current.load.arrival_rate_rpm == 12.0);
  CHECK(rated.servers()[1].current.load.arrival_rate_rpm == s.servers()[1].current.load.arrival_rate_rpm);
  CHECK_THROWS_WITH(s.with_arrival_rates({{"s9", 1.0}}), Catch::Contains("with_arrival_rates: unknown server 's9'"));
}

TEST_CASE("a fleet or a file beyond the limits is refused with the limit named", "[system]") {
  std::string doc = R"({"servers": [)";
  for (std::size_t i = 0; i <= kMaxServers; ++i) doc += (i ? ",{\"name\":\"s" : "{\"name\":\"s") + std::to_string(i) + "\",\"model\":\"m\"}";
  doc += "]}";
  SystemBuilder b;
  CHECK_THROWS_WITH(b.add_document("srv.json", doc),
                    Catch::Contains("srv.json: servers[50000] (s50000): one server more than the 50000 one system holds"));
  // A runaway file is refused by its size, before it is read (a sparse file: no disk is used).
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "inferno-test-oversized";
  fs::create_directories(dir);
  { std::ofstream(dir / "server-data.json") << "{}"; }
  fs::resize_file(dir / "server-data.json", inferno::io::kMaxJsonBytes + 1);
  CHECK_THROWS_WITH(SystemBuilder().add_directory(dir.string()),
                    Catch::Contains("server-data.json: 67108865 bytes, more than the 67108864 of the longest document accepted"));
  fs::remove_all(dir);
}

TEST_CASE("bad input is an error naming file, path and entity", "[system]") {
  CHECK_THAT(error_of("{bad"), Catch::StartsWith("doc.json: malformed JSON"));
  CHECK_THAT(error_of(R"({"servers": [{"name": "a", "model": "m", "currentAlloc": {"load": {"arrivalRate": -5}}}]})"),
             Catch::Equals("doc.json: servers[0] (a).currentAlloc.load: arrivalRate must be >= 0, got -5"));
  CHECK_THAT(error_of(R"({"servers": [{"name": "a", "model": "m", "minNumReplicas": 1.5}]})"),
             Catch::Contains("servers[0] (a)") && Catch::Contains("minNumReplicas must be an integer, got 1.5"));
  CHECK_THAT(error_of(R"({"optimizer": {"saturationPolicy": "roundrobin"}})"),
             Catch::Contains("saturationPolicy must be one of \"None\", \"PriorityExhaustive\"") &&
                 Catch::Contains("got \"roundrobin\""));
  CHECK_THAT(error_of(R"({"serviceClasses": [{"name": "c", "modelTargets": [{"model": "m", "slo-itl": -1}]}]})"),
             Catch::Contains("serviceClasses[0] (c).modelTargets[0] (m): slo-itl must be >= 0, got -1") && Catch::Contains("slo-itl must be >= 0"));
  CHECK_THAT(error_of(R"({"accelerators": [{"name": "x", "multiplicity": -2}]})"),
             Catch::Contains("accelerators[0] (x)") && Catch::Contains("multiplicity"));
  CHECK_THAT(error_of(R"({"models": [{"name": "m", "acc": "A", "perfParms": {"alpha": 1}, "decodeParms": {"alpha": 1}}]})"),
             Catch::Contains("either perfParms or decodeParms/prefillParms"));
  CHECK_THAT(error_of(R"({"hello": 1})"), Catch::Contains("not an inferno system document"));
  CHECK_THAT(error_of(R"([1, 2])"), Catch::Contains("must be a JSON object"));

  // A failing document leaves the builder as it was.
  SystemBuilder b;
  b.add_document("ok.json", R"({"servers": [{"name": "a", "model": "m"}]})");
  CHECK_THROWS_AS(b.add_document("bad.json", R"({"servers": [{"name": "b", "model": "m"}, {"name": "c"}]})"),
                  inferno::InvalidArgument);
  CHECK(b.build().servers().size() == 1);
}

TEST_CASE("lenient cases become warnings, never silent", "[system]") {
  SystemBuilder b;
  b.add_document("acc.json", R"({"accelerators": [{"name": "A", "type": "A", "cost": 5},
                                                  {"name": "A", "type": "A", "cost": 7}]})");
  b.add_document("cap.json", R"({"count": [{"type": "A", "count": 4}, {"type": "Z", "count": 1}]})");
  b.add_document("cls.json", R"({"serviceClasses": [{"name": "Gold", "priority": 300,
                                  "modelTargets": [{"model": "m", "slo-itl": 20}]}]})");
  b.add_document("models.json", R"({"models": [{"name": "m", "acc": "A", "accCount": 0, "perfParms": {"alpha": 1}},
                                               {"name": "m", "acc": "Ghost", "perfParms": {"alpha": 1}},
                                               {"name": "z", "acc": "A"}]})");
  b.add_document("srv.json", R"({"servers": [{"name": "s1", "class": "Gold", "model": "m"},
                                             {"name": "s2", "class": "Silver", "model": "m"},
                                             {"name": "s3", "model": "q"},
                                             {"name": "s4", "class": "Gold", "model": "m", "keepAccelerator": true,
                                              "currentAlloc": {"accelerator": "Nope", "cost": 0}}]})");
  const System s = b.build();
  CHECK(s.accelerators().size() == 1);
  CHECK(s.find_accelerator("A")->cost == 7);  // the later definition wins
  CHECK(s.find_accelerator("A")->multiplicity == 1);
  CHECK(s.find_class("Gold")->priority == 100);
  CHECK(s.find_perf("m", "A")->acc_count == 1);
  CHECK(s.find_perf("z", "A")->unconverged());
  CHECK(s.servers()[2].service_class == "Free");
  REQUIRE(s.servers()[3].current.cost.has_value());  // cost 0 given, not absent
  CHECK(*s.servers()[3].current.cost == 0);
  CHECK_FALSE(s.servers()[0].current.cost.has_value());
  CHECK(has_diagnostic(s, "duplicate accelerator 'A'"));
  CHECK(has_diagnostic(s, "multiplicity missing or 0: taken as 1"));
  CHECK(has_diagnostic(s, "accCount missing or 0: taken as 1"));
  CHECK(has_diagnostic(s, "priority 300 is outside [1, 100]: taken as 100"));
  CHECK(has_diagnostic(s, "type 'Z' has capacity but no accelerator profile"));
  CHECK(has_diagnostic(s, "unknown accelerator 'Ghost' is ignored"));
  CHECK(has_diagnostic(s, "unconverged"));
  CHECK(has_diagnostic(s, "unknownClass: service class 'Silver'"));
  CHECK(has_diagnostic(s, "noPerfData: model 'q'"));
  CHECK(has_diagnostic(s, "unknownClass: service class 'Free'"));
  CHECK(has_diagnostic(s, "keepAcceleratorUnknown: current accelerator 'Nope'"));
}
