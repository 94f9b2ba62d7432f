#pragma once
// Error types shared by every subsystem. Both derive from standard exceptions so that pybind11
// maps them to Python's ValueError without custom translators.
#include <stdexcept>
#include <string>
#include <string_view>

namespace inferno {

/// Bad input: the message names the field and the values it may take.
class InvalidArgument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A numerical failure on valid input (a singular matrix, a covariance that lost definiteness).
class NumericalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Shortest decimal that round-trips the double ("0.1", "nan", "inf").
std::string format_number(double value);

/// Largest batch cap and waiting room accepted anywhere (memory is O(N)).
constexpr int kMaxBatchLimit = 10'000'000;

/// Throws InvalidArgument("<field> must be <requirement>, got <value>") unless `ok`.
void require(bool ok, std::string_view field, std::string_view requirement, double value);

/// Throws InvalidArgument unless value is finite and >= lower (or > lower when strict).
double require_finite_at_least(const std::string& field, double value, double lower, bool strict);

/// Throws InvalidArgument unless value is finite, >= lower (> lower when lower_strict) and <= upper:
/// "<field> must be a finite number in [lower, upper], got <value>".
double require_finite_in(std::string_view field, double value, double lower, bool lower_strict, double upper);

}  // namespace inferno
