#include "inferno/optimizer/system.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <variant>

#include "inferno/error.hpp"
#include "inferno/io/json.hpp"
#include "inferno/io/reader.hpp"
#include "inferno/optimizer/documents.hpp"
#include "inferno/optimizer/options.hpp"
#include "inferno/queue/limits.hpp"

namespace inferno::optimizer {

using nlohmann::json;

bool PerfRecord::unconverged() const {
  return alpha == 0 && beta == 0 && gamma == 0 && decode_alpha == 0 && decode_beta == 0 &&
         prefill_gamma == 0 && prefill_delta == 0;
}

int System::units_per_card(const std::string& type) const {
  const auto it = units_per_card_.find(type);
  return it == units_per_card_.end() ? 1 : it->second;
}

const AcceleratorProfile* System::find_accelerator(const std::string& name) const {
  if (indexed_) {
    const auto it = accelerator_index_.find(name);
    return it == accelerator_index_.end() ? nullptr : &accelerators_[it->second];
  }
  for (const auto& a : accelerators_)
    if (a.name == name) return &a;
  return nullptr;
}

const ServiceClass* System::find_class(const std::string& name) const {
  if (indexed_) {
    const auto it = class_index_.find(name);
    return it == class_index_.end() ? nullptr : &classes_[it->second];
  }
  for (const auto& c : classes_)
    if (c.name == name) return &c;
  return nullptr;
}

const PerfRecord* System::find_perf(const std::string& model, const std::string& accelerator) const {
  if (indexed_) {
    const auto by_model = perf_index_.find(model);
    if (by_model == perf_index_.end()) return nullptr;
    const auto it = by_model->second.find(accelerator);
    return it == by_model->second.end() ? nullptr : &perf_[it->second];
  }
  for (const auto& p : perf_)
    if (p.model == model && p.accelerator == accelerator) return &p;
  return nullptr;
}

void System::build_index() {
  accelerator_index_.clear();
  class_index_.clear();
  perf_index_.clear();
  // emplace keeps the first occurrence, as the linear scans do (names are unique anyway).
  for (std::size_t i = 0; i < accelerators_.size(); ++i) accelerator_index_.emplace(accelerators_[i].name, i);
  for (std::size_t i = 0; i < classes_.size(); ++i) class_index_.emplace(classes_[i].name, i);
  for (std::size_t i = 0; i < perf_.size(); ++i) perf_index_[perf_[i].model].emplace(perf_[i].accelerator, i);
  indexed_ = true;
}

namespace {

// The servers of a copy by name, indexed once per call, so that updating every server of a fleet
// (the control loop does each cycle) is O(n log n), not a scan per server.
class ServersByName {
 public:
  ServersByName(std::vector<Server>& servers, const char* what) : servers_(servers), what_(what) {
    for (std::size_t i = 0; i < servers_.size(); ++i) index_.emplace(servers_[i].name, i);
  }
  Server& operator[](const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) throw InvalidArgument(std::string(what_) + ": unknown server '" + name + "'");
    return servers_[it->second];
  }

 private:
  std::vector<Server>& servers_;
  const char* what_;
  std::map<std::string_view, std::size_t> index_;
};

}  // namespace

System System::with_arrival_rates(const std::map<std::string, double>& rates_rpm) const {
  System out = *this;
  const ServersByName servers(out.servers_, "with_arrival_rates");
  for (const auto& [name, rate] : rates_rpm) {
    if (!(std::isfinite(rate) && rate >= 0))
      throw InvalidArgument("arrival rate of server '" + name + "' must be a finite number >= 0 (req/min), got " +
                            format_number(rate));
    servers[name].current.load.arrival_rate_rpm = rate;
  }
  return out;
}


System System::with_loads(const std::map<std::string, Load>& loads) const {
  System out = *this;
  const ServersByName servers(out.servers_, "with_loads");
  for (const auto& entry : loads) {
    const Load& l = entry.second;
    const std::string where = "with_loads: server '" + entry.first + "': ";
    require(std::isfinite(l.arrival_rate_rpm) && l.arrival_rate_rpm >= 0 && l.arrival_rate_rpm <= 60 * queue::kMaxRateRps,
            where + "arrival_rate_rpm", "a finite number in [0, 6e10] (req/min)", l.arrival_rate_rpm);
    require(std::isfinite(l.in_tokens) && l.in_tokens >= 0 && l.in_tokens <= queue::kMaxTokens, where + "in_tokens",
            "a finite number in [0, 1e8]", l.in_tokens);
    require(std::isfinite(l.out_tokens) && l.out_tokens >= 0 && l.out_tokens <= queue::kMaxTokens, where + "out_tokens",
            "a finite number in [0, 1e8]", l.out_tokens);
    require(std::isfinite(l.throughput_rpm) && l.throughput_rpm >= 0, where + "throughput_rpm", "a finite number >= 0",
            l.throughput_rpm);
    servers[entry.first].current.load = l;
  }
  return out;
}

System System::with_current(const std::map<std::string, AllocationData>& allocations, bool keep_accelerator,
                            bool keep_batch) const {
  System out = *this;
  const ServersByName servers(out.servers_, "with_current");
  for (const auto& entry : allocations) {
    const AllocationData& a = entry.second;
    const std::string where = "with_current: server '" + entry.first + "': ";
    if (!a.accelerator.empty() && !find_accelerator(a.accelerator))
      throw InvalidArgument(where + "unknown accelerator '" + a.accelerator + "'");
    require(a.num_replicas >= 0 && a.num_replicas <= 1000000, where + "replicas", "an integer in [0, 1000000]", a.num_replicas);
    require(a.max_batch >= 0 && a.max_batch <= kMaxBatchLimit, where + "max_batch", "an integer in [0, 10000000]", a.max_batch);
    if (a.accelerator.empty() && a.num_replicas > 0)
      throw InvalidArgument(where + "replicas without an accelerator: give the accelerator they run on");
    Server& s = servers[entry.first];
    const Load load = s.current.load;
    s.current = a;
    s.current.load = load;
    s.current.cost.reset();  // recomputed from the profile (current_cost)
    s.keep_accelerator = keep_accelerator && !a.accelerator.empty();
    if (keep_batch && a.max_batch > 0) s.max_batch_size = a.max_batch;
  }
  return out;
}

System System::with_perf(const std::vector<PerfRecord>& records) const {
  System out = *this;
  for (const PerfRecord& r : records) {
    const std::string where = "with_perf: " + r.model + " on " + r.accelerator + ": ";
    if (!find_accelerator(r.accelerator)) throw InvalidArgument(where + "unknown accelerator '" + r.accelerator + "'");
    for (const auto& [name, v] : {std::pair<const char*, double>{"alpha", r.alpha}, {"beta", r.beta}, {"gamma", r.gamma},
                                  {"delta", r.delta}, {"epsilon", r.epsilon}})
      require(std::isfinite(v) && v >= 0 && v <= 1e6, where + name, "a finite number in [0, 1e6] (ms)", v);
    require(r.acc_count >= 1 && r.acc_count <= 1024, where + "acc_count", "an integer in [1, 1024]", r.acc_count);
    require(r.max_batch_size >= 0 && r.max_batch_size <= kMaxBatchLimit, where + "max_batch_size", "an integer in [0, 10000000]",
            r.max_batch_size);
    auto it = std::find_if(out.perf_.begin(), out.perf_.end(),
                           [&](const PerfRecord& p) { return p.model == r.model && p.accelerator == r.accelerator; });
    if (it != out.perf_.end()) *it = r;
    else out.perf_.push_back(r);
  }
  out.indexed_ = false;
  out.build_index();
  return out;
}

double System::current_cost(const Server& s) const {
  if (s.current.cost) return *s.current.cost;
  const AcceleratorProfile* a = find_accelerator(s.current.accelerator);
  const PerfRecord* p = find_perf(s.model, s.current.accelerator);
  return a && p ? a->cost * p->acc_count * s.current.num_replicas : 0.0;
}

namespace {

// Reproduction presets (docs/optimizer.md §6): the reference's queue model, sizing and batch rule with the
// greedy solver. Saturation policy and delayedBestEffort stay as given.
void apply_preset(OptimizerSpec& p) {
  if (p.preset == Preset::none) return;
  p.size_semantics = SizeSemantics::reference;
  p.batch_size_policy = BatchSizePolicy::reference;
  p.solver = Solver::greedy;
  p.objective = Objective::cost;
  p.accelerator_change_penalty = 0.1;
  p.replica_change_penalty = 0;
  p.greedy_refine = false;
  if (p.preset == Preset::reference_v1) {
    p.queue_model = QueueModel::v1;
    p.queue_size_policy = QueueSizePolicy::ratio;
    p.queue_to_batch_ratio = 10;
  } else if (p.preset == Preset::reference_v2) {
    p.queue_model = QueueModel::v2;
    p.queue_size_policy = QueueSizePolicy::ratio;
    p.queue_to_batch_ratio = 10;
  } else {  // reference-v3
    p.queue_model = QueueModel::v3;
    p.queue_size_policy = QueueSizePolicy::zero;
  }
}

using io::Field;
using io::Reader;

// One option of the registry (inferno/optimizer/options.hpp) read into `p` as its format says;
// absent keeps the value `p` has.
void read_option(const Reader& r, const json& o, const OptionInfo& option, const Field& format, OptimizerSpec& p) {
  std::visit(
      [&](auto field) {
        if constexpr (std::is_same_v<decltype(field), ChoiceField>) {
          field.set(p, r.text(o, format, std::string(field.get(p))));  // the reader checked the choices
          return;
        } else {
        using T = std::decay_t<decltype(p.*field)>;
        if constexpr (std::is_same_v<T, bool>) {
          p.*field = r.boolean(o, format, p.*field);
        } else if constexpr (std::is_same_v<T, int>) {
          p.*field = static_cast<int>(r.integer(o, format, p.*field));
        } else if constexpr (std::is_same_v<T, double>) {
          p.*field = r.number(o, format, p.*field);
        } else if constexpr (std::is_same_v<T, std::optional<std::int64_t>>) {
          if (auto v = r.optional_integer(o, format)) p.*field = v;
        } else {
          if (auto v = r.optional_number(o, format)) p.*field = v;
        }
        }
      },
      option.field);
}

// A list that a document's entries are inserted into or replace by key, in first-seen order, with
// a note on each replacement. The key index is built once per document, so reading n entries takes
// O(n log n), not the O(n²) of a scan per entry (docs/optimizer.md, "Limits and speed of loading").
template <class T, class KeyOf>
class KeyedList {
 public:
  KeyedList(std::vector<T>& items, KeyOf key_of) : items_(items), key_of_(key_of) {
    for (std::size_t i = 0; i < items_.size(); ++i) index_.emplace(key_of_(items_[i]), i);
  }
  void upsert(T item, std::vector<Diagnostic>& diagnostics, const std::string& where, const std::string& what) {
    auto [it, inserted] = index_.try_emplace(key_of_(item), items_.size());
    if (inserted) {
      items_.push_back(std::move(item));
    } else {
      diagnostics.push_back({where, "duplicate " + what + ": this definition replaces the earlier one"});
      items_[it->second] = std::move(item);
    }
  }

 private:
  std::vector<T>& items_;
  KeyOf key_of_;
  std::map<std::decay_t<std::invoke_result_t<KeyOf, const T&>>, std::size_t> index_;
};
template <class T, class KeyOf>
KeyedList(std::vector<T>&, KeyOf) -> KeyedList<T, KeyOf>;

// The element format of a document's list.
const Field& element_of(const Field& document, const char* list) { return *document.member(list).items; }

Load read_load(const Reader& r, const json& o, const Field& f) {
  Load load;
  load.arrival_rate_rpm = r.number(o, f.member("arrivalRate"));
  load.throughput_rpm = r.number(o, f.member("throughput"));
  load.in_tokens = static_cast<double>(r.integer(o, f.member("avgInTokens")));
  load.out_tokens = static_cast<double>(r.integer(o, f.member("avgOutTokens")));
  return load;
}

AllocationData read_allocation(const Reader& r, const json& o, const Field& f) {
  AllocationData a;
  a.accelerator = r.text(o, f.member("accelerator"));
  a.num_replicas = static_cast<int>(r.integer(o, f.member("numReplicas")));
  a.max_batch = static_cast<int>(r.integer(o, f.member("maxBatch")));
  a.cost = r.optional_number(o, f.member("cost"));
  a.itl_ms = r.number(o, f.member("itlAverage"));
  a.ttft_ms = r.number(o, f.member("ttftAverage"));
  const Field& load_format = f.member("load");
  if (const json* load = r.object(o, load_format)) a.load = read_load(r.at("load"), *load, load_format);
  return a;
}

}  // namespace

/// The readers of the optimizer's documents, one per kind (wrapper key); each validates its
/// document into `next` as its format (documents.cpp) says, naming the JSON path of any problem.
struct DocumentReaders {
  static void accelerators(const std::string& source, const json& doc, System& next) {
    auto& diag = next.diagnostics_;
    const Field& document = accelerator_data_format();
    const Field& f = element_of(document, "accelerators");
    const Reader r(source, "accelerators");
    const json& list = r.array(doc, document.member("accelerators"));
    KeyedList accelerators(next.accelerators_, [](const AcceleratorProfile& x) { return x.name; });
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& o = r.element(list, i);
      AcceleratorProfile a;
      a.name = r.item(i, "").text(o, f.member("name"));
      const Reader ri = r.item(i, a.name);
      if (a.name.empty()) ri.fail("name must not be empty");
      a.type = ri.text(o, f.member("type"));
      // Bounded like accCount, so that replicas × accCount × multiplicity (up to 2^31 · 2^20)
      // stays exact in 64-bit integers and in the MILP's doubles.
      const auto mult = ri.integer(o, f.member("multiplicity"));
      if (mult == 0) diag.push_back({ri.where(), "multiplicity missing or 0: taken as 1"});
      a.multiplicity = mult == 0 ? 1 : static_cast<int>(mult);
      a.mem_size_gb = ri.number(o, f.member("memSize"));
      a.mem_bw_gbps = ri.number(o, f.member("memBW"));
      a.cost = ri.number(o, f.member("cost"));
      const Field& power = f.member("power");
      if (const json* p = ri.object(o, power)) {
        const Reader rp = ri.at("power");
        a.power.idle_w = rp.number(*p, power.member("idle"));
        a.power.mid_power_w = rp.number(*p, power.member("midPower"));
        a.power.mid_util = rp.number(*p, power.member("midUtil"));
        a.power.full_w = rp.number(*p, power.member("full"));
      }
      accelerators.upsert(std::move(a), diag, ri.where(), "accelerator '" + list[i].value("name", "") + "'");
    }
  }

  static void capacity(const std::string& source, const json& doc, System& next) {
    auto& diag = next.diagnostics_;
    const Field& document = capacity_data_format();
    const Field& f = element_of(document, "count");
    const Reader r(source, "count");
    const json& list = r.array(doc, document.member("count"));
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string type = r.text(r.element(list, i), f.member("type"));
      const Reader ri = r.item(i, type);
      if (type.empty()) ri.fail("type must not be empty");
      const auto count = ri.integer(list[i], f.member("count"));
      // A MIG-capable type's profiles count shares of a card; its capacity says cards and units
      // per card, so reports give physical cards and slices apart (docs/optimizer.md §2).
      const auto units = ri.integer(list[i], f.member("unitsPerCard"));
      if (count * units > std::numeric_limits<int>::max())
        ri.fail("count x unitsPerCard must be at most " + std::to_string(std::numeric_limits<int>::max()));
      if (next.capacity_.count(type)) diag.push_back({ri.where(), "duplicate capacity for type '" + type + "': this entry replaces the earlier one"});
      next.capacity_[type] = static_cast<int>(count * units);
      if (units > 1) next.units_per_card_[type] = static_cast<int>(units);
      else next.units_per_card_.erase(type);
    }
  }

  static void models(const std::string& source, const json& doc, System& next) {
    auto& diag = next.diagnostics_;
    const Field& document = model_data_format();
    const Field& f = element_of(document, "models");
    const Reader r(source, "models");
    const json& list = r.array(doc, document.member("models"));
    KeyedList records(next.perf_, [](const PerfRecord& x) { return std::make_pair(x.model, x.accelerator); });
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& o = r.element(list, i);
      PerfRecord p;
      p.model = r.item(i, "").text(o, f.member("name"));
      p.accelerator = r.item(i, p.model).text(o, f.member("acc"));
      const Reader ri = r.item(i, p.model + " on " + p.accelerator);
      if (p.model.empty()) ri.fail("name must not be empty");
      if (p.accelerator.empty()) ri.fail("acc must not be empty");
      // As for multiplicity: absent or 0 is taken as 1, with a warning; negative is an error.
      const auto count = ri.integer(o, f.member("accCount"));
      if (count == 0) diag.push_back({ri.where(), "accCount missing or 0: taken as 1"});
      p.acc_count = count == 0 ? 1 : static_cast<int>(count);
      p.max_batch_size = static_cast<int>(ri.integer(o, f.member("maxBatchSize")));
      p.at_tokens = static_cast<int>(ri.integer(o, f.member("atTokens")));
      const Field& perf_format = f.member("perfParms");
      const Field& decode_format = f.member("decodeParms");
      const Field& prefill_format = f.member("prefillParms");
      const json* perf = ri.object(o, perf_format);
      const json* decode = ri.object(o, decode_format);
      const json* prefill = ri.object(o, prefill_format);
      if (perf && (decode || prefill))
        ri.fail("give either perfParms or decodeParms/prefillParms, not both");
      if (perf) {
        const Reader rp = ri.at("perfParms");
        p.alpha = rp.number(*perf, perf_format.member("alpha"));
        p.beta = rp.number(*perf, perf_format.member("beta"));
        p.gamma = rp.number(*perf, perf_format.member("gamma"));
        p.delta = rp.number(*perf, perf_format.member("delta"));
        p.epsilon = rp.number(*perf, perf_format.member("epsilon"));
      } else if (decode || prefill) {
        p.format = PerfFormat::decode_prefill;
        if (decode) {
          p.decode_alpha = ri.at("decodeParms").number(*decode, decode_format.member("alpha"));
          p.decode_beta = ri.at("decodeParms").number(*decode, decode_format.member("beta"));
        }
        if (prefill) {
          p.prefill_gamma = ri.at("prefillParms").number(*prefill, prefill_format.member("gamma"));
          p.prefill_delta = ri.at("prefillParms").number(*prefill, prefill_format.member("delta"));
        }
      }
      if (p.unconverged()) diag.push_back({ri.where(), "all performance parameters are 0 (unconverged): no candidate on this accelerator"});
      records.upsert(std::move(p), diag, ri.where(), "performance record");
    }
  }

  static void service_classes(const std::string& source, const json& doc, System& next) {
    auto& diag = next.diagnostics_;
    const Field& document = serviceclass_data_format();
    const Field& f = element_of(document, "serviceClasses");
    const Field& target_format = *f.member("modelTargets").items;
    const Reader r(source, "serviceClasses");
    const json& list = r.array(doc, document.member("serviceClasses"));
    KeyedList classes(next.classes_, [](const ServiceClass& x) { return x.name; });
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& o = r.element(list, i);
      ServiceClass c;
      c.name = r.item(i, "").text(o, f.member("name"));
      const Reader ri = r.item(i, c.name);
      if (c.name.empty()) ri.fail("name must not be empty");
      const auto priority = ri.integer(o, f.member("priority"));
      if (priority < 1 || priority > 100) {
        diag.push_back({ri.where(), "priority " + std::to_string(priority) + (o.contains("priority") ? " is outside [1, 100]" : " (missing)") + ": taken as 100 (lowest)"});
        c.priority = 100;
      } else {
        c.priority = static_cast<int>(priority);
      }
      const json& targets = ri.array(o, f.member("modelTargets"));
      for (std::size_t k = 0; k < targets.size(); ++k) {
        const Reader rt = ri.at("modelTargets").item(k, "");
        if (!targets[k].is_object()) rt.fail("must be an object");
        const std::string model = rt.text(targets[k], target_format.member("model"));
        const Reader rm = ri.at("modelTargets").item(k, model);
        if (model.empty()) rm.fail("model must not be empty");
        ModelTarget t;
        t.itl_ms = rm.number(targets[k], target_format.member("slo-itl"));
        t.ttft_ms = rm.number(targets[k], target_format.member("slo-ttft"));
        t.tps = rm.number(targets[k], target_format.member("slo-tps"));
        t.itl_percentile = rm.number(targets[k], target_format.member("slo-itl-percentile"));
        t.ttft_percentile = rm.number(targets[k], target_format.member("slo-ttft-percentile"));
        if (c.targets.count(model)) diag.push_back({rm.where(), "duplicate target for model '" + model + "': this entry replaces the earlier one"});
        c.targets[model] = t;
      }
      classes.upsert(std::move(c), diag, ri.where(), "service class");
    }
  }

  static void servers(const std::string& source, const json& doc, System& next) {
    auto& diag = next.diagnostics_;
    const Field& document = server_data_format();
    const Field& f = element_of(document, "servers");
    const Reader r(source, "servers");
    const json& list = r.array(doc, document.member("servers"));
    KeyedList servers(next.servers_, [](const Server& x) { return x.name; });
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& o = r.element(list, i);
      Server s;
      s.name = r.item(i, "").text(o, f.member("name"));
      const Reader ri = r.item(i, s.name);
      if (s.name.empty()) ri.fail("name must not be empty");
      s.service_class = ri.text(o, f.member("class"));
      if (s.service_class.empty()) s.service_class = "Free";
      s.model = ri.text(o, f.member("model"));
      if (s.model.empty()) ri.fail("model must not be empty");
      s.keep_accelerator = ri.boolean(o, f.member("keepAccelerator"));
      s.min_replicas = static_cast<int>(ri.integer(o, f.member("minNumReplicas")));
      s.max_batch_size = static_cast<int>(ri.integer(o, f.member("maxBatchSize")));
      s.max_queue = ri.optional_integer(o, f.member("maxQueueSize"));
      const Field& current = f.member("currentAlloc");
      if (const json* cur = ri.object(o, current)) s.current = read_allocation(ri.at("currentAlloc"), *cur, current);
      servers.upsert(std::move(s), diag, ri.where(), "server");
      if (next.servers_.size() > kMaxServers)
        ri.fail("one server more than the " + std::to_string(kMaxServers) + " one system holds");
    }
  }

  static void options(const std::string& source, const json& doc, System& next) {
    auto& diag = next.diagnostics_;
    const Field& f = optimizer_data_format().member("optimizer");
    const Reader r(source, "optimizer");
    const json* o = r.object(doc, f);
    if (o) {
      OptimizerSpec& p = next.options_;
      // A preset first, so that the other keys of the same document (and later documents,
      // such as command-line flags) refine it.
      p.preset = parse_enum(kPresets, r.text(*o, f.member("preset"), enum_name(kPresets, p.preset)), "preset");
      if (o->contains("preset")) apply_preset(p);
      if (r.boolean(*o, f.member("useCplex"), false)) diag.push_back({r.where(), "useCplex is ignored: inferno solves MILPs with HiGHS"});
      // A misspelt option would otherwise be dropped without a word (keys arrive case-folded).
      static const auto known = [&f] {  // the folded keys, and the names for the message
        std::set<std::string> keys;
        std::string list;
        for (const Field& option : f.members) {
          keys.insert(io::fold_key(option.key));
          if (option.key != "useCplex") list += (list.empty() ? "" : ", ") + option.key;
        }
        return std::pair{keys, list};
      }();
      for (const auto& item : o->items())
        if (!known.first.count(item.key()))
          diag.push_back({r.where(), "unknown option '" + item.key() + "' is ignored; the options are " + known.second});
      for (const OptionInfo& option : optimizer_options()) {
        if (option.key == "preset") continue;  // read above
        read_option(r, *o, option, f.member(option.key), p);
        // The reference's flag: milpSolver true selects the exact solver (a solver key, read
        // later, still wins).
        if (option.key == "milpSolver" && o->contains("milpsolver") && p.milp_solver) p.solver = Solver::milp;
      }
    }
  }

  static constexpr std::pair<const char*, void (*)(const std::string&, const json&, System&)> kinds[] = {
      {"accelerators", &DocumentReaders::accelerators},
      {"count", &DocumentReaders::capacity},
      {"models", &DocumentReaders::models},
      {"serviceclasses", &DocumentReaders::service_classes},
      {"servers", &DocumentReaders::servers},
      {"optimizer", &DocumentReaders::options}};
};

void SystemBuilder::add_document(const std::string& source, std::string_view json_text) {
  json doc;
  try {
    doc = io::parse_json_folded(json_text);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(source + ": " + e.what());
  }
  add_folded(source, doc);
}

void SystemBuilder::add_value(const std::string& source, const json& document) {
  json doc;
  try {
    doc = io::normalized_document(document, true);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(source + ": " + e.what());
  }
  add_folded(source, doc);
}

void SystemBuilder::add_folded(const std::string& source, const json& doc) {
  if (!doc.is_object()) throw InvalidArgument(source + ": the document must be a JSON object");
  System next = system_;  // all-or-nothing: a failing document leaves the builder unchanged
  bool recognised = false;

  if (doc.contains("system")) {
    recognised = true;
    const io::Reader r(source, "system");
    const io::Field& format = system_data_format().member("system");
    const json* sys = r.object(doc, format);
    SystemBuilder inner;
    inner.system_ = std::move(next);
    if (sys) {
      for (const io::Field& part : format.members)
        if (const json* member = r.object(*sys, part)) inner.add_folded(source + ": system." + part.key, *member);
    }
    next = std::move(inner.system_);
  }
  // One reader per document kind; a document may hold several kinds (docs/optimizer.md §2).
  for (const auto& [key, read] : DocumentReaders::kinds)
    if (doc.contains(key)) {
      recognised = true;
      read(source, doc, next);
    }
  if (!recognised)
    throw InvalidArgument(source + ": not an inferno system document; expected one of the keys "
                          "accelerators, count, models, serviceClasses, servers, optimizer, system");
  system_ = std::move(next);
}

void SystemBuilder::add_directory(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(path)) throw InvalidArgument(path + ": not a directory");
  static const char* kFiles[] = {"accelerator-data.json", "capacity-data.json", "model-data.json",
                                 "serviceclass-data.json", "server-data.json", "optimizer-data.json"};
  auto read = [](const fs::path& file) {
    // The size first: a runaway file is refused before it is read into memory.
    std::error_code size_error;
    const auto bytes = fs::file_size(file, size_error);
    if (!size_error && bytes > io::kMaxJsonBytes)
      throw InvalidArgument(file.string() + ": " + std::to_string(bytes) + " bytes, more than the " +
                            std::to_string(io::kMaxJsonBytes) + " of the longest document accepted");
    std::ifstream in(file, std::ios::binary);
    if (!in) throw InvalidArgument(file.string() + ": cannot be read");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  bool any = false;
  for (const char* name : kFiles) {
    const fs::path file = fs::path(path) / name;
    if (!fs::exists(file)) continue;
    add_document(name, read(file));
    any = true;
  }
  if (!any) {
    const fs::path file = fs::path(path) / "system-data.json";
    if (!fs::exists(file))
      throw InvalidArgument(path + ": no system data (expected accelerator-data.json, capacity-data.json, "
                                   "model-data.json, serviceclass-data.json, server-data.json, "
                                   "optimizer-data.json, or system-data.json)");
    add_document("system-data.json", read(file));
  }
}

SystemBuilder::SystemBuilder(System base) : system_(std::move(base)) {
  system_.diagnostics_.resize(system_.load_diagnostics_);
  system_.indexed_ = false;  // documents may add entities: build() indexes again
}

System SystemBuilder::build() const {
  System s = system_;
  s.build_index();
  auto& diag = s.diagnostics_;
  s.load_diagnostics_ = diag.size();
  std::set<std::string> types;
  for (const auto& a : s.accelerators_) types.insert(a.type);
  for (const auto& [type, count] : s.capacity_)
    if (!types.count(type)) diag.push_back({"capacity", "type '" + type + "' has capacity but no accelerator profile"});
  for (const auto& p : s.perf_)
    if (!s.find_accelerator(p.accelerator))
      diag.push_back({"models", "performance record " + p.model + " on unknown accelerator '" + p.accelerator + "' is ignored"});
  for (const auto& server : s.servers_) {
    const std::string where = "servers (" + server.name + ")";
    const ServiceClass* c = s.find_class(server.service_class);
    if (!c) {
      diag.push_back({where, "unknownClass: service class '" + server.service_class + "' is not defined"});
    } else if (!c->targets.count(server.model)) {
      diag.push_back({where, "noTarget: class '" + server.service_class + "' has no target for model '" + server.model + "'"});
    }
    bool has_perf = false;
    for (const auto& p : s.perf_) has_perf = has_perf || (p.model == server.model && s.find_accelerator(p.accelerator));
    if (!has_perf) diag.push_back({where, "noPerfData: model '" + server.model + "' has no performance data on any known accelerator"});
    const Load& load = server.current.load;
    if (load.out_tokens == 0 && (load.arrival_rate_rpm > 0 || server.min_replicas > 0))
      diag.push_back({where, "zeroOutputTokens: avgOutTokens is 0, so the server has zero load: " +
                                 (server.min_replicas > 0
                                      ? "minNumReplicas = " + std::to_string(server.min_replicas) +
                                            " replicas, sized as 1-token requests"
                                      : std::string("scaled to zero although its arrivalRate is > 0"))});
    else if (load.out_tokens > 0 && load.out_tokens < 1)
      diag.push_back({where, "avgOutTokens " + format_number(load.out_tokens) + " is below 1: sized as 1 output token"});
    if (!server.current.accelerator.empty() && !server.current.cost)
      diag.push_back({where, "currentAlloc.cost is absent: recomputed as " + format_number(s.current_cost(server)) +
                                 " from the current accelerator and replicas"});
    if (server.keep_accelerator && !server.current.accelerator.empty() && !s.find_accelerator(server.current.accelerator))
      diag.push_back({where, "keepAcceleratorUnknown: current accelerator '" + server.current.accelerator + "' is not defined"});
  }
  return s;
}

}  // namespace inferno::optimizer
