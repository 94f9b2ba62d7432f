#pragma once
// The optimizer's options, defined once (docs/optimizer.md §8): JSON key, Python/CLI name, type,
// default, range or choices and documentation. The options document's reader and writer, the
// Python option names, the command line's option flags, the JSON Schema of optimizer-data.json
// and the options table of the docs all come from this table.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "inferno/optimizer/system.hpp"

namespace inferno::optimizer {

/// An enumerated option: its name in a spec, and setting it by name (false: not one of `choices`).
struct ChoiceField {
  const char* (*get)(const OptimizerSpec&);
  bool (*set)(OptimizerSpec&, std::string_view);
};

struct OptionInfo {
  std::string key;   // JSON key in optimizer-data.json (camelCase, as the reference spells it)
  std::string name;  // snake_case: Python keyword and, with dashes, the CLI flag
  /// Where the value lives; the alternative also gives the type (an optional is nullable).
  std::variant<bool OptimizerSpec::*, int OptimizerSpec::*, double OptimizerSpec::*, ChoiceField,
               std::optional<std::int64_t> OptimizerSpec::*, std::optional<double> OptimizerSpec::*>
      field;
  std::vector<std::string> choices;  // the allowed strings of a choice (empty otherwise)
  double lower = 0, upper = 0;       // numeric range; open ends as flagged
  bool lower_open = false, upper_open = false;
  bool bounded_above = false;  // upper applies
  std::string doc;
  std::string type() const;  // "boolean", "integer", "number", "string"
  /// Calls f with the option's value in `spec`: bool, int, double, std::string (a choice's name),
  /// std::optional<std::int64_t> or std::optional<double>.
  template <class F>
  void visit_value(const OptimizerSpec& spec, F&& f) const {
    std::visit(
        [&](auto member) {
          if constexpr (std::is_same_v<decltype(member), ChoiceField>) f(std::string(member.get(spec)));
          else f(spec.*member);
        },
        field);
  }
  bool nullable() const;
};

/// Every option, in the order the documents list them.
const std::vector<OptionInfo>& optimizer_options();

}  // namespace inferno::optimizer
