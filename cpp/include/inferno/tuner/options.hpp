#pragma once
// The tuner's options by name, defined once (docs/tuner.md §6): what each sets in a TunerConfig and
// what type of value it takes. The Python binding converts a value to that type; the checks of the
// values themselves are TunerConfig::validate's, so every caller gets the same errors.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "inferno/tuner/tuner.hpp"

namespace inferno::tuner {

/// A value given for an option: a flag, an integer, a number, a name, a vector (empty = none).
using OptionValue = std::variant<bool, int, double, std::string, Vector>;

enum class OptionKind { flag, integer, number, name, vector, optional_vector };

struct TunerOption {
  std::string name;
  OptionKind kind;
  void (*set)(TunerConfig&, const OptionValue&);
};

/// Every option, sorted by name.
const std::vector<TunerOption>& tuner_options();
/// The option called `name`; throws InvalidArgument naming the allowed ones otherwise.
const TunerOption& tuner_option(const std::string& name);
/// "adaptive_window, all_replicas, ...": the names, for messages.
std::string tuner_option_names();
/// Sets one option by name; throws InvalidArgument for an unknown name or a value of another
/// kind (an integer is taken where a number is asked). The values are checked by validate().
void set_tuner_option(TunerConfig& config, const std::string& name, const OptionValue& value);

}  // namespace inferno::tuner
