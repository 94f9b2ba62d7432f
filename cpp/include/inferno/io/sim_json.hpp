#pragma once
// `inferno simulate` on REST-compatible input: one ProblemData JSON object per line (plus the
// simulation keys mode, durationSeconds, warmupSeconds, seed, replicas, router, arrivals, cv,
// outputTokens, kvCapacityTokens, iterationNoiseCv) in, one AnalysisData-shaped object with the
// *measured* values out, so model and simulation can be compared line by line.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "inferno/io/schema.hpp"

namespace inferno::io {

struct SimResponse {
  nlohmann::ordered_json body;
  bool ok = true;
};

/// Never throws for bad input: failures become {"error", "message", "status": "invalid"|"error"}.
SimResponse run_simulation_request(std::string_view json_text);

/// The keys `inferno simulate` reads beside a ProblemData line's (docs/schemas.md): their types,
/// ranges and meaning. The simulation reader's known keys and ranges come from here.
const Field& simulation_format();
/// A simulate line: ProblemData's keys and the simulation's.
const Field& simulate_request_format();

/// A batch of lines in parallel over `threads` workers (0 = hardware concurrency), output in
/// input order; each line's result depends only on the line (its seed), not on the threads.
/// Blank lines give an empty string and are not counted.
std::vector<std::string> run_simulation_requests(const std::vector<std::string>& lines, unsigned threads,
                                                 std::size_t* failures);

}  // namespace inferno::io
