#pragma once
// JSON reading shared by every subsystem: case-insensitive keys (spec §9.1) and typed accessors
// whose errors name the field.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace inferno::io {

/// Parses JSON text, folding every object key to ASCII lower case; when two keys are equal up to
/// case the last occurrence wins (as in the reference decoder). Throws InvalidArgument
/// ("malformed JSON: ...") on bad syntax.
nlohmann::json parse_json_folded(std::string_view text);

/// Field accessors on a folded object. `key` is lower case; `name` is how errors spell the field.
/// `null` counts as absent. Wrong types throw InvalidArgument naming the field.
std::optional<double> get_number(const nlohmann::json& obj, const std::string& key,
                                 const std::string& name);
/// Integral JSON numbers only: 48 and 48.0 are accepted, 48.5 is an error.
std::optional<std::int64_t> get_integer(const nlohmann::json& obj, const std::string& key,
                                        const std::string& name);
std::optional<bool> get_bool(const nlohmann::json& obj, const std::string& key,
                             const std::string& name);
std::optional<std::string> get_string(const nlohmann::json& obj, const std::string& key,
                                      const std::string& name);

/// Shortest decimal that round-trips the double (never NaN/Inf: throws instead).
std::string format_double(double value);

}  // namespace inferno::io
