#pragma once
// JSON reading shared by every subsystem: case-insensitive keys (docs/cli.md §5-6) and typed accessors
// whose errors name the field.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace inferno::io {

/// Deepest nesting of objects and arrays any input may have (docs/cli.md, "Limits"): deeper
/// documents are rejected while parsing, so nothing downstream recurses over user data deeply.
constexpr int kMaxJsonDepth = 64;

/// Longest JSON text (a request line or a document) any reader accepts: a line with a long inline
/// trace fits, a runaway file does not exhaust memory.
constexpr std::size_t kMaxJsonBytes = std::size_t{64} << 20;

/// Parses JSON text, folding every object key to ASCII lower case; when two keys are equal up to
/// case the last occurrence wins (as in the reference decoder). Throws InvalidArgument
/// ("malformed JSON: ...") on bad syntax, invalid UTF-8, nesting deeper than kMaxJsonDepth or text
/// longer than kMaxJsonBytes.
nlohmann::json parse_json_folded(std::string_view text);

/// A key as the folding parser stores it: ASCII upper case to lower case, nothing else changed.
void fold_key_in_place(std::string& key);
std::string fold_key(std::string key);
/// The same checks, keys kept as written.
nlohmann::json parse_json(std::string_view text);

/// A document that arrived as a value rather than text (a Python dict): the same limits as the
/// parsers (nesting no deeper than kMaxJsonDepth), with every object key folded to ASCII lower case
/// when `fold` is set, so its readers see what parse_json_folded would give.
nlohmann::json normalized_document(const nlohmann::json& value, bool fold);

/// A short, printable excerpt of a value for an error message: scalars as JSON (strings cut to
/// 40 characters), objects and arrays by their size only. Never throws and never recurses.
std::string excerpt(const nlohmann::json& value);

/// JSON text of a response: invalid UTF-8 (which can only come from quoted input) is replaced by
/// U+FFFD instead of throwing.
std::string dump_response(const nlohmann::json& value);
std::string dump_response(const nlohmann::ordered_json& value);

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
