#pragma once
// Which HiGHS the exact solver runs on: the version of the headers inferno was compiled against
// and the version of the library loaded at run time (they differ only when another libhighs was
// put in its place).
#include <string>

namespace inferno::optimizer {

struct HighsVersions {
  std::string compiled;  // "major.minor.patch" of the headers (HConfig.h)
  std::string linked;    // Highs_version() of the loaded library
};

HighsVersions highs_versions();

}  // namespace inferno::optimizer
