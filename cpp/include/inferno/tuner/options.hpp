#pragma once
// The tuner's options by name, defined once (docs/tuner.md §6): what each sets in a TunerConfig, what
// type of value it takes, its range and what it means. The Python binding converts a value to that
// type; FilterConfig::validate and TunerConfig::validate check every range from this table, so every
// caller gets the same errors. The options table of docs/tuner.md, the JSON Schema of the options
// (tuner_options_format) and the flags of `inferno tune` are generated from it too, and
// tests/test_tuner_ranges.py probes both ends of every range.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "inferno/io/schema.hpp"
#include "inferno/tuner/tuner.hpp"

namespace inferno::tuner {

/// A value given for an option: a flag, an integer, a number, a name, a vector (empty = none).
using OptionValue = std::variant<bool, int, double, std::string, Vector>;

enum class OptionKind { flag, integer, number, name, vector, optional_vector };
/// What a vector option holds one entry of.
enum class OptionScope { scalar, per_parameter, per_channel };

struct TunerOption {
  std::string name;
  OptionKind kind;
  void (*set)(TunerConfig&, const OptionValue&);
  OptionValue (*get)(const TunerConfig&);  // the value in a configuration (an absent start: empty)
  std::string doc;
  OptionScope scope = OptionScope::scalar;
  // The range of a number, an integer, or each entry of a vector; absent bound: none (finite only).
  std::optional<double> lower, upper;
  bool lower_open = false, upper_open = false;
  std::vector<std::string> choices;  // a name's allowed values
  std::string lower_option;          // the lower bound is this option's value (sigma_max >= sigma_min)
  bool in_filter = false;            // a FilterConfig member (checked by FilterConfig::validate)
  bool checked_last = false;         // bounded by other options: its range is checked after theirs
};

/// Every option, sorted by name.
const std::vector<TunerOption>& tuner_options();
/// The option called `name`; throws InvalidArgument naming the allowed ones otherwise.
const TunerOption& tuner_option(const std::string& name);
/// "adaptive_window, all_replicas, ...": the names, for messages.
std::string tuner_option_names();
/// The options as a document format (io/schema.hpp): keys are the names (case-sensitive), defaults
/// those of the "inferno" profile; the tuner-options JSON Schema is generated from it.
const io::Field& tuner_options_format();
/// Throws InvalidArgument ("<name> must be ..., got v", an entry as "<name>[i]") for the first option,
/// by name, whose value in `config` lies outside its range: the filter's options or the tuner's own.
/// Sizes of vectors and rules across options are the validate() functions' own.
void check_option_ranges(const TunerConfig& config, bool filter_options);
/// Sets one option by name; throws InvalidArgument for an unknown name or a value of another
/// kind (an integer is taken where a number is asked). The values are checked by validate().
void set_tuner_option(TunerConfig& config, const std::string& name, const OptionValue& value);

}  // namespace inferno::tuner
