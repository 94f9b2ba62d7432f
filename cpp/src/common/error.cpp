#include "inferno/error.hpp"

#include <cmath>
#include <sstream>

namespace inferno {

namespace {
std::string format_value(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}
}  // namespace

void require(bool ok, const std::string& field, const std::string& requirement, double value) {
  if (!ok) throw InvalidArgument(field + " must be " + requirement + ", got " + format_value(value));
}

double require_finite_at_least(const std::string& field, double value, double lower, bool strict) {
  const bool ok = std::isfinite(value) && (strict ? value > lower : value >= lower);
  require(ok, field, std::string("a finite number ") + (strict ? "> " : ">= ") + format_value(lower),
          value);
  return value;
}

}  // namespace inferno
