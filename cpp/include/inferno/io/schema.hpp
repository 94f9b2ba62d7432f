#pragma once
// The shape of a JSON format, written once per format (docs/schemas.md): each field's key, type,
// range or choices, whether it may be absent, and what it means with its unit. The readers take
// types and ranges from it (io/reader.hpp) and the published JSON Schemas (draft 2020-12) are
// generated from it, so a document the schema accepts is one the reader accepts.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace inferno::io {

struct Field {
  enum class Type { any, boolean, integer, number, string, object, array };
  std::string key;  // as the documents spell it (readers match it without regard to case)
  Type type = Type::any;
  std::string doc;  // meaning, with the unit
  bool required = false;
  bool nullable = false;  // null is accepted and means "absent"
  std::optional<double> minimum, maximum;
  bool exclusive_minimum = false, exclusive_maximum = false;
  std::vector<std::string> choices;  // a string field's allowed values
  std::optional<nlohmann::ordered_json> default_value;
  std::string zero_meaning;  // what 0 stands for ("none"), said in range errors: "(0 = none)"
  std::vector<Field> members;             // an object's known members, in document order
  bool closed = false;                    // an object that takes no other keys
  std::shared_ptr<const Field> values;    // an object whose keys are names: the value of each
  std::shared_ptr<const Field> items;     // an array's element
  std::vector<Field> prefix;              // an array's leading elements, one format each (a row)
  std::optional<std::size_t> min_items, max_items;
  std::vector<std::pair<std::string, std::shared_ptr<const Field>>> patterns;  // computed keys (regex)

  // Builders, so a format reads as a table.
  Field& at_least(double v, bool exclusive = false);
  Field& at_most(double v, bool exclusive = false);
  Field& must();              // required
  Field& or_null();           // nullable
  Field& fallback(nlohmann::ordered_json v);
  Field& only_known();        // closed
  Field& zero_means(std::string meaning);
  Field& pattern(std::string regex, Field value);

  /// A member by key; a key missing from the table is a programming error (std::logic_error).
  const Field& member(std::string_view key) const;
  const char* type_name() const;
};

Field boolean(std::string key, std::string doc);
/// Integers stay within the 32-bit range unless another is given; an upper bound of INT64_MAX means
/// none.
Field integer(std::string key, std::string doc, std::int64_t lower = INT32_MIN, std::int64_t upper = INT32_MAX);
Field number(std::string key, std::string doc);
Field text(std::string key, std::string doc);
Field choice(std::string key, std::string doc, std::vector<std::string> allowed);
Field object(std::string key, std::string doc, std::vector<Field> members);
/// An object keyed by names (server names, accelerator types) whose values are all `value`.
Field dictionary(std::string key, std::string doc, Field value);
Field array(std::string key, std::string doc, Field item);
/// Any JSON value (documented, not checked).
Field anything(std::string key, std::string doc);

/// A regular expression (ECMA 262, no anchors) matching `key` in any letter case: [mM][eE][mM]...
std::string case_blind_pattern(std::string_view key);

/// The JSON Schema (draft 2020-12) of a document. With `case_blind_keys` every known key is also
/// matched by a pattern blind to case, as the readers of case-folded formats do.
nlohmann::ordered_json json_schema(const Field& document, const std::string& title, bool case_blind_keys = true);

}  // namespace inferno::io
