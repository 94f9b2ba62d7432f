#pragma once
// The names of an enumeration, written once as a table (docs/development.md, "Enumerations"): the
// parser and the printer both read it, and an unknown name is an error listing the allowed ones.
// An alias (e.g. "round_robin" for "round-robin") parses but is never printed.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inferno/error.hpp"

namespace inferno {

template <class E>
struct EnumName {
  E value;
  const char* name;
  bool alias = false;
};

/// The printed name of `value` (its first non-alias entry).
template <class E, std::size_t N>
const char* enum_name(const EnumName<E> (&table)[N], E value) {
  for (const auto& entry : table)
    if (entry.value == value && !entry.alias) return entry.name;
  return table[0].name;  // unreachable for a complete table (the tests print every enumerator)
}

/// "'a', 'b', 'c'": the printed names, quoted, for messages.
template <class E, std::size_t N>
std::string enum_names(const EnumName<E> (&table)[N], std::string_view quote = "'", std::string_view separator = ", ") {
  std::string out;
  for (const auto& entry : table) {
    if (entry.alias) continue;
    if (!out.empty()) out += separator;
    out += quote;
    out += entry.name;
    out += quote;
  }
  return out;
}

/// The printed names, in table order (for a format's choices).
template <class E, std::size_t N>
std::vector<std::string> enum_name_list(const EnumName<E> (&table)[N]) {
  std::vector<std::string> out;
  for (const auto& entry : table)
    if (!entry.alias) out.emplace_back(entry.name);
  return out;
}

/// The enumerator named `text` (exact match), if any.
template <class E, std::size_t N>
std::optional<E> find_enum(const EnumName<E> (&table)[N], std::string_view text) {
  for (const auto& entry : table)
    if (text == entry.name) return entry.value;
  return std::nullopt;
}

/// The enumerator named `text` (exact match); otherwise InvalidArgument
/// "unknown <what> '<text>'; allowed: 'a', 'b'".
template <class E, std::size_t N>
E parse_enum(const EnumName<E> (&table)[N], std::string_view text, std::string_view what) {
  if (const auto value = find_enum(table, text)) return *value;
  throw InvalidArgument("unknown " + std::string(what) + " '" + std::string(text) + "'; allowed: " + enum_names(table));
}

}  // namespace inferno
