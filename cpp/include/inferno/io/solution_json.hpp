#pragma once
// solution-data.json (docs/optimizer.md §7): the reference format and inferno's extended superset,
// optionally with every candidate of every server.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "inferno/optimizer/solution.hpp"

namespace inferno::io {

struct SolutionJsonOptions {
  bool reference_format = false;  // only the reference's AllocationData fields
  bool timing = false;            // add solver time and the "timing" block (not deterministic)
  const std::vector<optimizer::Candidate>* candidates = nullptr;  // adds "candidates" when set
  int indent = 2;                 // -1 = one line
  double candidates_ms = 0;       // for "timing"
};

/// The solution as JSON text. Keys of "allocations" are sorted by server name. Integral numbers
/// are written without a decimal point, other numbers in their shortest round-trip form.
/// Throws InvalidArgument for a heterogeneous solution in the reference format.
std::string solution_to_json(const optimizer::System& system, const optimizer::Solution& solution,
                             const SolutionJsonOptions& options = {});
/// The same document as a JSON value (`indent` unused).
nlohmann::ordered_json solution_document(const optimizer::System& system, const optimizer::Solution& solution,
                                         const SolutionJsonOptions& options = {});

/// The candidate table of one system as a JSON object keyed by server name (the extended
/// format's "candidates" member).
std::string candidates_to_json(const std::vector<optimizer::Candidate>& candidates, int indent = 2);

/// Effective options in optimizer-data.json key spelling.
std::string options_to_json(const optimizer::OptimizerSpec& options);

}  // namespace inferno::io
