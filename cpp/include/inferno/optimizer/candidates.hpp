#pragma once
// Candidate generation (spec optimizer §5): every (server, accelerator profile) allocation sized
// with the queueing core. Pure function of the System; runs in parallel, deterministically.
#include <string>
#include <vector>

#include "inferno/optimizer/system.hpp"

namespace inferno::optimizer {

/// One allocation of one server on one profile, feasible or not (then `reason` says why).
struct Candidate {
  std::string server;
  std::string accelerator;  // profile name; "" for a scaled-to-zero server without one
  std::string type;         // accelerator type
  std::string service_model;  // queue model used: iteration, iteration-v2, prefill-decode
  bool feasible = false;
  std::string reason;         // why infeasible: noTarget, unknownClass, unconverged, slo, ...
  std::string outcome;        // "full" or "scaledToZero" when feasible
  int batch = 0;              // N
  long long queue = 0;        // Q
  int replicas = 0;           // r
  int required_replicas = 0;  // ⌈R / rate*⌉ before the minNumReplicas floor
  double cost = 0;            // c_g · a · r
  double objective = 0;       // objective coefficient (cost for the "cost" objective)
  double value = 0;           // objective plus the transition penalty (spec §6)
  int cards = 0;              // r · a · multiplicity, physical cards used
  double demand_rps = 0;      // R: total demand of the server
  double rate_per_replica_rps = 0;  // rate*: SLO-feasible accepted throughput of one replica
  double max_rpm = 0;               // 60 · rate*
  double itl_ms = 0, ttft_ms = 0;   // predicted at the actual per-replica load R / r
  double rho = 0, busy = 0, blocking_prob = 0;
};

/// Candidates of every server, in server order, then profile-name order. Options come from
/// System::options(); `threads` 0 = hardware concurrency. The result does not depend on it.
std::vector<Candidate> generate_candidates(const System& system, int threads = 0);

}  // namespace inferno::optimizer
