// libFuzzer target: one ProblemData line through the queue commands (solve, target, optimize, by
// the first byte), the way `inferno queue` runs it. Whatever the input, the answer must be one
// JSON object, either a result or an error object; a crash, a sanitizer report or a non-JSON
// answer is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "inferno/io/queue_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto op = static_cast<inferno::io::QueueOperation>(data[0] % 3);
  const std::vector<std::string> lines{std::string(reinterpret_cast<const char*>(data) + 1, size - 1)};
  std::size_t failures = 0;
  const auto out = inferno::io::run_queue_requests(op, lines, 1, &failures);
  if (out.size() != 1) std::abort();
  if (out[0].empty()) return 0;  // a blank line gets no answer
  const auto answer = nlohmann::json::parse(out[0], nullptr, /*allow_exceptions=*/false);
  if (!answer.is_object()) std::abort();
  if ((failures == 1) != answer.contains("error")) std::abort();
  return 0;
}
