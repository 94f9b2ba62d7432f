#include "inferno/io/solution_json.hpp"

#include <cmath>
#include <map>
#include <type_traits>
#include <variant>

#include <nlohmann/json.hpp>

#include "inferno/error.hpp"
#include "inferno/optimizer/options.hpp"

namespace inferno::io {

namespace {

using optimizer::Candidate;
using ojson = nlohmann::ordered_json;

// Integral values as JSON integers (46, not 46.0); never NaN or infinity.
ojson num(double x) {
  if (!std::isfinite(x)) throw InvalidArgument("solution output: a non-finite number would be written");
  if (x == std::floor(x) && std::abs(x) < 9e15) return static_cast<std::int64_t>(x);
  return x;
}

ojson load_of(const optimizer::Load& l) {
  ojson o;
  o["arrivalRate"] = num(l.arrival_rate_rpm);
  o["avgInTokens"] = num(l.in_tokens);
  o["avgOutTokens"] = num(l.out_tokens);
  if (l.throughput_rpm != 0) o["throughput"] = num(l.throughput_rpm);
  return o;
}

ojson candidate_row(const Candidate& c) {
  ojson o;
  o["accelerator"] = c.accelerator;
  o["feasible"] = c.feasible;
  if (!c.feasible) {
    o["reason"] = c.reason;
    return o;
  }
  o["outcome"] = c.outcome;
  o["numReplicas"] = c.replicas;
  o["maxBatch"] = c.batch;
  o["queueSize"] = c.queue;
  o["cost"] = num(c.cost);
  o["value"] = num(c.value);
  o["objective"] = num(c.objective);
  o["cards"] = c.cards;
  o["itl"] = num(c.itl_ms);
  o["ttft"] = num(c.ttft_ms);
  o["ratePerReplica"] = num(c.rate_per_replica_rps);
  o["maxRPM"] = num(c.max_rpm);
  o["rho"] = num(c.rho);
  o["busy"] = num(c.busy);
  o["blockingProb"] = num(c.blocking_prob);
  o["power"] = c.power_known ? num(c.power_w) : ojson(nullptr);
  o["requiredReplicas"] = c.required_replicas;
  o["queueModel"] = c.service_model;
  return o;
}

ojson candidates_object(const std::vector<Candidate>& candidates) {
  std::map<std::string, ojson> by_server;
  for (const Candidate& c : candidates) {
    ojson& rows = by_server[c.server];
    if (rows.is_null()) rows = ojson::array();
    rows.push_back(candidate_row(c));
  }
  ojson out = ojson::object();
  for (auto& [name, rows] : by_server) out[name] = std::move(rows);
  return out;
}

// Every option of the registry (inferno/optimizer/options.hpp), in its order.
ojson options_object(const optimizer::OptimizerSpec& o) {
  ojson j = ojson::object();
  for (const auto& option : optimizer::optimizer_options()) {
    option.visit_value(o, [&](const auto& v) {
      using T = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<T, double>) {
        j[option.key] = num(v);
      } else if constexpr (std::is_same_v<T, std::optional<double>>) {
        j[option.key] = v ? num(*v) : ojson(nullptr);
      } else if constexpr (std::is_same_v<T, std::optional<std::int64_t>>) {
        j[option.key] = v ? ojson(*v) : ojson(nullptr);
      } else {
        j[option.key] = v;
      }
    });
  }
  return j;
}

// "noTarget: class ..." -> code "noTarget"; other messages get the generic code "input".
std::string code_of(const std::string& message) {
  const auto colon = message.find(':');
  if (colon == std::string::npos || colon == 0) return "input";
  for (std::size_t i = 0; i < colon; ++i)
    if (!std::isalpha(static_cast<unsigned char>(message[i]))) return "input";
  return message.substr(0, colon);
}

std::string dump(const ojson& j, int indent) { return j.dump(indent) + "\n"; }

}  // namespace

std::string candidates_to_json(const std::vector<Candidate>& candidates, int indent) {
  return dump(candidates_object(candidates), indent);
}

std::string options_to_json(const optimizer::OptimizerSpec& options) { return dump(options_object(options), -1); }

std::string solution_to_json(const optimizer::System& sys, const optimizer::Solution& sol,
                             const SolutionJsonOptions& opt) {
  return dump(solution_document(sys, sol, opt), opt.indent);
}

ojson solution_document(const optimizer::System& sys, const optimizer::Solution& sol, const SolutionJsonOptions& opt) {
  std::map<std::string, const Candidate*> sorted;
  for (const Candidate& c : sol.allocations) sorted[c.server] = &c;
  ojson root;
  ojson allocations = ojson::object();
  for (const auto& [name, cp] : sorted) {
    const Candidate& c = *cp;
    const optimizer::Server& server = sys.servers().at(c.server_index);
    if (opt.reference_format && !c.parts.empty())
      throw InvalidArgument("the reference solution format cannot hold heterogeneous allocations (server " + name +
                            " uses " + std::to_string(c.parts.size()) + " profiles); use the extended format");
    ojson a;
    a["accelerator"] = c.accelerator;
    a["numReplicas"] = c.replicas;
    a["maxBatch"] = c.batch;
    a["cost"] = num(c.cost);
    a["itlAverage"] = num(c.itl_ms);
    a["ttftAverage"] = num(c.ttft_ms);
    a["load"] = load_of(server.current.load);
    if (!opt.reference_format) {
      a["queueSize"] = c.queue;
      a["value"] = num(c.value);
      a["rho"] = num(c.rho);
      a["busy"] = num(c.busy);
      a["blockingProb"] = num(c.blocking_prob);
      a["maxRPM"] = num(c.max_rpm);
      a["servedRate"] = num(c.served_rpm);
      a["power"] = c.power_known || c.replicas == 0 ? num(c.power_w) : ojson(nullptr);
      a["outcome"] = c.outcome;
      a["sloMet"] = c.slo_met;
      a["saturated"] = c.saturated;
      a["requiredReplicas"] = c.required_replicas;
      if (!c.parts.empty()) {
        ojson parts = ojson::array();
        for (const auto& p : c.parts) {
          ojson q;
          q["accelerator"] = p.accelerator;
          q["numReplicas"] = p.replicas;
          q["maxBatch"] = p.batch;
          q["queueSize"] = p.queue;
          q["cost"] = num(p.cost);
          q["arrivalRate"] = num(60.0 * p.arrival_rate_rps);  // req/min per replica, as "load"
          q["itlAverage"] = num(p.itl_ms);
          q["ttftAverage"] = num(p.ttft_ms);
          q["rho"] = num(p.rho);
          q["power"] = num(p.power_w);
          parts.push_back(std::move(q));
        }
        a["parts"] = std::move(parts);
      }
    }
    allocations[name] = std::move(a);
  }
  root["allocations"] = std::move(allocations);
  if (opt.reference_format) return root;

  ojson unallocated = ojson::array();
  for (const auto& u : sol.unallocated) unallocated.push_back({{"server", u.server}, {"reason", u.reason}, {"detail", u.detail}});
  root["unallocated"] = std::move(unallocated);
  root["totalCost"] = num(sol.total_cost);
  root["totalPower"] = num(sol.total_power_w);
  root["totalValue"] = num(sol.total_value);
  ojson by_type = ojson::object();
  for (const auto& [type, use] : sol.by_type) {
    // Physical cards always; a type counted in shares of a card also gets its slices apart.
    if (use.units_per_card == 1) {
      by_type[type] = {{"cards", use.units}, {"limit", use.limit ? ojson(*use.limit) : ojson(nullptr)}, {"cost", num(use.cost)}};
    } else {
      const auto limit_cards = use.limit_cards();
      by_type[type] = {{"cards", num(use.cards())}, {"limit", limit_cards ? num(*limit_cards) : ojson(nullptr)},
                       {"cost", num(use.cost)}, {"slices", use.slices}, {"units", use.units},
                       {"unitLimit", use.limit ? ojson(*use.limit) : ojson(nullptr)}, {"unitsPerCard", use.units_per_card}};
    }
  }
  root["allocationByType"] = std::move(by_type);
  ojson diff = ojson::object();
  for (const auto& [server, ch] : sol.diff) {
    if (ch.from_accelerator == ch.to_accelerator && ch.from_replicas == ch.to_replicas && ch.cost_delta == 0) continue;
    diff[server] = {{"fromAccelerator", ch.from_accelerator.empty() ? "none" : ch.from_accelerator},
                    {"toAccelerator", ch.to_accelerator.empty() ? "none" : ch.to_accelerator},
                    {"fromReplicas", ch.from_replicas},
                    {"toReplicas", ch.to_replicas},
                    {"costDelta", num(ch.cost_delta)}};
  }
  root["diff"] = std::move(diff);
  const auto& r = sol.solver;
  ojson solver;
  solver["algorithm"] = r.algorithm;
  solver["status"] = r.status;
  solver["objective"] = r.objective ? num(*r.objective) : ojson(nullptr);
  solver["bound"] = r.bound ? num(*r.bound) : ojson(nullptr);
  solver["gap"] = r.gap ? num(*r.gap) : ojson(nullptr);
  if (opt.timing) solver["timeMsec"] = num(r.time_ms);
  solver["fallback"] = r.fallback.empty() ? ojson(nullptr) : ojson(r.fallback);
  if (r.greedy_objective) solver["greedyObjective"] = num(*r.greedy_objective);
  if (r.greedy_unserved) solver["greedyUnserved"] = *r.greedy_unserved;
  if (!r.message.empty()) solver["message"] = r.message;
  root["solver"] = std::move(solver);
  root["status"] = sol.status;
  ojson diagnostics = ojson::array();
  for (const auto& d : sol.diagnostics)
    diagnostics.push_back({{"level", "warning"}, {"code", code_of(d.message)}, {"path", d.where}, {"message", d.message}});
  root["diagnostics"] = std::move(diagnostics);
  root["effectiveOptions"] = options_object(sys.options());
  if (opt.candidates) root["candidates"] = candidates_object(*opt.candidates);
  if (opt.timing)
    root["timing"] = {{"candidatesMsec", num(opt.candidates_ms)}, {"solveMsec", num(r.time_ms)},
                      {"totalMsec", num(opt.candidates_ms + r.time_ms)}};
  return root;
}

}  // namespace inferno::io
