#include "inferno/io/reader.hpp"

#include <algorithm>
#include <cstdint>
#include <cmath>

#include "inferno/error.hpp"
#include "inferno/io/json.hpp"

namespace inferno::io {

using nlohmann::json;

Reader Reader::item(std::size_t i, const std::string& entity) const {
  return {source_, path_ + "[" + std::to_string(i) + "]" + (entity.empty() ? "" : " (" + entity + ")"), mode_};
}

std::string Reader::key_of(const Field& f) const { return mode_.case_sensitive ? f.key : fold_key(f.key); }

void Reader::check_keys(const json& o, const Field& format) const {
  for (const auto& item : o.items()) {
    bool known = false;
    for (const Field& m : format.members) known = known || item.key() == key_of(m);
    if (known) continue;
    std::string allowed;
    for (const Field& m : format.members) allowed += (allowed.empty() ? "" : ", ") + m.key;
    fail("unknown key " + excerpt(json(item.key())) + "; allowed: " + allowed);
  }
}

void Reader::fail(const std::string& problem) const {
  const std::string at = where();
  throw InvalidArgument(at.empty() ? problem : at + ": " + problem);
}

void Reader::fail_member(const std::string& key, const std::string& problem) const {
  if (where().empty()) throw InvalidArgument(key + " " + problem);  // a line: "decodeParms must be an object"
  if (mode_.name_by_path) throw InvalidArgument(where() + "." + key + " " + problem);
  at(key).fail(problem);
}

std::string Reader::name_of(const Field& f) const {
  return mode_.name_by_path && !where().empty() ? where() + "." + f.key : f.key;
}

void Reader::fail_named(const std::string& message) const {
  if (mode_.name_by_path) throw InvalidArgument(message);
  fail(message);
}

const json* Reader::find(const json& o, const Field& f) const {
  const auto it = o.find(key_of(f));
  return it == o.end() || it->is_null() ? nullptr : &*it;
}

std::string range_problem(const Field& f, double v) {
  const bool below = f.minimum && (f.exclusive_minimum ? !(v > *f.minimum) : v < *f.minimum);
  const bool above = f.maximum && (f.exclusive_maximum ? !(v < *f.maximum) : v > *f.maximum);
  if (!below && !above && std::isfinite(v)) return "";
  std::string requirement;
  if (f.type == Field::Type::integer) {
    const auto whole = [](double b) { return std::to_string(static_cast<long long>(b)); };  // 1000000, not 1e+06
    requirement = f.minimum && f.maximum ? "an integer in [" + whole(*f.minimum) + ", " + whole(*f.maximum) + "]"
                  : f.minimum            ? "an integer >= " + whole(*f.minimum)
                  : f.maximum            ? "an integer <= " + whole(*f.maximum)
                                         : "an integer";
  } else if (!f.minimum && !f.maximum) {
    requirement = "a finite number";
  } else if (f.minimum && !f.maximum) {
    requirement = (f.exclusive_minimum ? "> " : ">= ") + format_number(*f.minimum);
  } else {
    requirement = std::string("a finite number in ") + (f.exclusive_minimum || !f.minimum ? "(" : "[") +
                  (f.minimum ? format_number(*f.minimum) : std::string("-inf")) + ", " + format_number(*f.maximum) +
                  (f.exclusive_maximum ? ")" : "]");
  }
  if (!f.zero_meaning.empty()) requirement += " (0 = " + f.zero_meaning + ")";
  return f.key + " must be " + requirement + ", got " + format_number(v);
}

void Reader::check_range(const Field& f, double v) const {
  if (!mode_.check_ranges) return;
  const std::string problem = range_problem(f, v);
  if (!problem.empty()) fail(problem);
}

std::optional<double> Reader::optional_number(const json& o, const Field& f) const {
  std::optional<double> v;
  try {
    v = get_number(o, key_of(f), name_of(f));
  } catch (const InvalidArgument& e) {
    fail_named(e.what());
  }
  if (v) check_range(f, *v);
  return v;
}

double Reader::number(const json& o, const Field& f, std::optional<double> fallback) const {
  if (auto v = optional_number(o, f)) return *v;
  if (fallback) return *fallback;
  if (f.default_value && f.default_value->is_number()) return f.default_value->get<double>();
  if (f.required) fail_named(name_of(f) + " is required");
  return 0;
}

std::optional<std::int64_t> Reader::optional_integer(const json& o, const Field& f) const {
  std::optional<std::int64_t> v;
  try {
    v = get_integer(o, key_of(f), name_of(f));
  } catch (const InvalidArgument& e) {
    fail_named(e.what());
  }
  if (v) check_range(f, static_cast<double>(*v));
  return v;
}

std::int64_t Reader::integer(const json& o, const Field& f, std::optional<std::int64_t> fallback) const {
  if (auto v = optional_integer(o, f)) return *v;
  if (fallback) return *fallback;
  if (f.default_value && f.default_value->is_number_integer()) return f.default_value->get<std::int64_t>();
  if (f.required) fail_named(name_of(f) + " is required");
  return 0;
}

int Reader::int32(const json& o, const Field& f, std::optional<int> fallback) const {
  const std::int64_t v = integer(o, f, fallback);
  if (v < INT32_MIN || v > INT32_MAX)
    fail_named(name_of(f) + " must be an integer in [" + std::to_string(INT32_MIN) + ", " + std::to_string(INT32_MAX) +
               "], got " + std::to_string(v));
  return static_cast<int>(v);
}

std::optional<std::string> Reader::optional_text(const json& o, const Field& f) const {
  try {
    return get_string(o, key_of(f), name_of(f));
  } catch (const InvalidArgument& e) {
    fail_named(e.what());
  }
}

bool Reader::boolean(const json& o, const Field& f, std::optional<bool> fallback) const {
  std::optional<bool> v;
  try {
    v = get_bool(o, key_of(f), name_of(f));
  } catch (const InvalidArgument& e) {
    fail_named(e.what());
  }
  if (v) return *v;
  if (fallback) return *fallback;
  if (f.default_value && f.default_value->is_boolean()) return f.default_value->get<bool>();
  if (f.required) fail_named(name_of(f) + " is required");
  return false;
}

std::string Reader::text(const json& o, const Field& f, std::optional<std::string> fallback) const {
  std::optional<std::string> v;
  try {
    v = get_string(o, key_of(f), name_of(f));
  } catch (const InvalidArgument& e) {
    fail_named(e.what());
  }
  if (!v) {
    if (fallback) v = fallback;
    else if (f.default_value && f.default_value->is_string()) v = f.default_value->get<std::string>();
    else if (f.required) fail_named(name_of(f) + " is required");
    else v = std::string();
  }
  if (!f.choices.empty() && std::find(f.choices.begin(), f.choices.end(), *v) == f.choices.end()) {
    std::string list;
    for (const auto& a : f.choices) list += (list.empty() ? "\"" : ", \"") + a + "\"";
    fail_named(name_of(f) + " must be one of " + list + " (case-sensitive), got \"" + *v + "\"");
  }
  return *v;
}

const json* Reader::object(const json& o, const Field& f) const {
  const json* v = find(o, f);
  if (v && !v->is_object()) fail_member(f.key, "must be an object");
  return v;
}

const json& Reader::array(const json& o, const Field& f) const {
  static const json empty = json::array();
  const json* v = find(o, f);
  if (!v) return empty;
  if (!v->is_array()) fail_member(f.key, "must be an array");
  return *v;
}

const json& Reader::element(const json& list, std::size_t i) const {
  if (!list[i].is_object()) item(i, "").fail("must be an object");
  return list[i];
}

}  // namespace inferno::io
