#include "inferno/error.hpp"

#include <charconv>
#include <cmath>

namespace inferno {

namespace {
// Shortest decimal that round-trips: "0.1", not "0.10000000000000001".
std::string format_value(double value) {
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, result.ptr);
}
}  // namespace

std::string format_number(double value) { return format_value(value); }

void require(bool ok, std::string_view field, std::string_view requirement, double value) {
  if (!ok)
    throw InvalidArgument(std::string(field) + " must be " + std::string(requirement) + ", got " + format_value(value));
}

double require_finite_at_least(const std::string& field, double value, double lower, bool strict) {
  const bool ok = std::isfinite(value) && (strict ? value > lower : value >= lower);
  if (!ok)  // the message only when needed: this check sits on hot paths
    require(false, field, std::string("a finite number ") + (strict ? "> " : ">= ") + format_value(lower), value);
  return value;
}

double require_finite_in(std::string_view field, double value, double lower, bool lower_strict, double upper) {
  const bool ok = std::isfinite(value) && (lower_strict ? value > lower : value >= lower) && value <= upper;
  if (!ok)
    require(false, field,
            std::string("a finite number in ") + (lower_strict ? "(" : "[") + format_value(lower) + ", " +
                format_value(upper) + "]",
            value);
  return value;
}

}  // namespace inferno
