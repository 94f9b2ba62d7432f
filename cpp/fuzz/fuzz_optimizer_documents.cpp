// libFuzzer target: an optimizer document (any of the reference's six, or system-data) applied on
// top of the small sample fleet, then candidates and the greedy solve. Bad documents must be
// InvalidArgument naming the problem; nothing may crash.
#include <cstdint>
#include <string>

#include "inferno/error.hpp"
#include "inferno/optimizer/candidates.hpp"
#include "inferno/optimizer/solution.hpp"
#include "inferno/optimizer/system.hpp"

namespace {
const inferno::optimizer::System& sample() {
  static const inferno::optimizer::System system = [] {
    inferno::optimizer::SystemBuilder b;
    b.add_directory(INFERNO_SOURCE_DIR "/samples/small");
    return b.build();
  }();
  return system;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace inferno::optimizer;
  SystemBuilder builder(sample());
  try {
    builder.add_document("fuzz.json", std::string(reinterpret_cast<const char*>(data), size));
  } catch (const inferno::InvalidArgument&) {
    return 0;
  }
  const System system = builder.build();
  try {
    // Greedy only: the MILP's work is HiGHS's, and its time limit would make runs uneven.
    SystemBuilder greedy(system);
    greedy.add_document("solver.json", R"({"optimizer": {"solver": "greedy"}})");
    const System fleet = greedy.build();
    const auto candidates = generate_candidates(fleet, 1);
    (void)optimize(fleet, candidates);
  } catch (const inferno::InvalidArgument&) {
  }
  return 0;
}
