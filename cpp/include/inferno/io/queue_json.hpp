#pragma once
// REST-compatible queue requests (docs/cli.md §5-6): one `ProblemData` JSON object in, one `AnalysisData`
// or `OptimizeData` JSON object out, so scripts written for the reference service keep working.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "inferno/queue/analyzer.hpp"
#include "inferno/queue/concurrency.hpp"

namespace inferno::io {

enum class QueueOperation { solve, target, optimize };

/// Parses "solve" | "target" | "optimize"; throws InvalidArgument listing them otherwise.
QueueOperation parse_queue_operation(const std::string& name);

/// Everything a ProblemData object asks for.
struct QueueRequest {
  queue::QueueConfig config;
  double rate_rps = 0;                // `RPS`
  queue::Targets targets;
  std::vector<double> percentiles;    // percentiles to report
  queue::SizeOptions size;
  queue::ConcurrencyOptions concurrency;
  std::vector<std::string> warnings;  // keys given but not used by this request (validated all the same)
};

/// Which command reads the line: the simulation keys (durationSeconds, trace, ...) belong to
/// `simulate` and are only warned about elsewhere.
enum class ProblemReader { queue, simulate };

/// Converts a case-folded ProblemData object; throws InvalidArgument naming the bad field. Every
/// known key is validated whether or not the selected service model uses it (unused ones are
/// listed in `warnings`); an unknown key is an error (docs/cli.md, "ProblemData: input keys").
QueueRequest parse_problem_data(const nlohmann::json& folded, ProblemReader reader = ProblemReader::queue);

/// Outcome of one request line: the output object (result or error) and whether it failed.
struct QueueResponse {
  nlohmann::ordered_json body;
  bool ok = true;
};

/// Runs one request. Never throws for bad input: failures become an error object
/// {"error": detail, "message": "<reference prefix> detail", "status": "invalid"|"infeasible"}.
QueueResponse run_queue_request(QueueOperation op, std::string_view json_text);

/// Same, on a batch of lines, in parallel over `threads` workers (0 = hardware concurrency);
/// output order equals input order. Blank lines give an empty string and are not counted.
std::vector<std::string> run_queue_requests(QueueOperation op, const std::vector<std::string>& lines,
                                            unsigned threads, std::size_t* failures);

}  // namespace inferno::io

#include "inferno/io/schema.hpp"

namespace inferno::io {

/// The format of a request line (ProblemData): its keys, types and ranges (docs/schemas.md). The
/// model parameters come from the service-model registry; the reader's list of known keys comes
/// from here.
const Field& problem_data_format();
/// The format of a response line: a result of solve, target or optimize (which keys appear
/// depends on the command), or an error object.
const Field& queue_result_format();

}  // namespace inferno::io
