#include "inferno/io/schema.hpp"

#include <cctype>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace inferno::io {

using nlohmann::ordered_json;

Field& Field::at_least(double v, bool exclusive) {
  minimum = v;
  exclusive_minimum = exclusive;
  return *this;
}
Field& Field::at_most(double v, bool exclusive) {
  maximum = v;
  exclusive_maximum = exclusive;
  return *this;
}
Field& Field::must() {
  required = true;
  return *this;
}
Field& Field::or_null() {
  nullable = true;
  return *this;
}
Field& Field::fallback(ordered_json v) {
  default_value = std::move(v);
  return *this;
}
Field& Field::zero_means(std::string meaning) {
  zero_meaning = std::move(meaning);
  return *this;
}
Field& Field::only_known() {
  closed = true;
  return *this;
}
Field& Field::pattern(std::string regex, Field value) {
  patterns.emplace_back(std::move(regex), std::make_shared<const Field>(std::move(value)));
  return *this;
}

const Field& Field::member(std::string_view name) const {
  for (const Field& m : members)
    if (m.key == name) return m;
  throw std::logic_error("format of '" + key + "' has no member '" + std::string(name) + "'");
}

const char* Field::type_name() const {
  switch (type) {
    case Type::boolean: return "boolean";
    case Type::integer: return "integer";
    case Type::number: return "number";
    case Type::string: return "string";
    case Type::object: return "object";
    case Type::array: return "array";
    case Type::any: break;
  }
  return "any";
}

namespace {

Field make(std::string key, Field::Type type, std::string doc) {
  Field f;
  f.key = std::move(key);
  f.type = type;
  f.doc = std::move(doc);
  return f;
}

// Whole numbers print as integers ("minimum": 0, not 0.0).
ordered_json bound(double v) {
  if (std::floor(v) == v && std::fabs(v) < 9007199254740992.0) return static_cast<std::int64_t>(v);
  return v;
}

std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

}  // namespace

std::string case_blind_pattern(std::string_view key) {
  std::string out;
  for (char c : key) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) {
      out += '[';
      out += static_cast<char>(std::tolower(u));
      out += static_cast<char>(std::toupper(u));
      out += ']';
    } else if (std::isalnum(u) || c == '-' || c == '_') {
      out += c;
    } else {
      out += '\\';
      out += c;
    }
  }
  return out;
}

namespace {

// "^[mM][eE][mM][sS][iI][zZ][eE]$" for memSize: the readers fold keys to lower case.
std::string case_blind(const std::string& key) { return "^" + case_blind_pattern(key) + "$"; }

ordered_json emit(const Field& f, const std::string& pointer, bool blind) {
  ordered_json s = ordered_json::object();
  if (!f.doc.empty()) s["description"] = f.doc;
  if (f.type != Field::Type::any) {
    if (f.nullable) s["type"] = ordered_json::array({f.type_name(), "null"});
    else s["type"] = f.type_name();
  }
  if (f.default_value) s["default"] = *f.default_value;
  if (!f.choices.empty()) {
    s["enum"] = f.choices;
    if (f.nullable) s["enum"].push_back(nullptr);
  }
  if (f.minimum) s[f.exclusive_minimum ? "exclusiveMinimum" : "minimum"] = bound(*f.minimum);
  if (f.maximum) s[f.exclusive_maximum ? "exclusiveMaximum" : "maximum"] = bound(*f.maximum);
  if (f.type == Field::Type::object) {
    ordered_json properties = ordered_json::object(), patterns = ordered_json::object();
    ordered_json required = ordered_json::array();
    for (const Field& m : f.members) {
      const std::string at = pointer + "/properties/" + pointer_token(m.key);
      properties[m.key] = emit(m, at, blind);
      if (blind) patterns[case_blind(m.key)] = {{"$ref", "#" + at}};
      if (m.required) required.push_back(m.key);
    }
    for (const auto& [regex, value] : f.patterns)
      patterns[regex] = emit(*value, pointer + "/patternProperties/" + pointer_token(regex), blind);
    if (!properties.empty()) s["properties"] = std::move(properties);
    if (!patterns.empty()) s["patternProperties"] = std::move(patterns);
    if (!required.empty()) s["required"] = std::move(required);
    if (f.values) s["additionalProperties"] = emit(*f.values, pointer + "/additionalProperties", blind);
    else if (f.closed) s["additionalProperties"] = false;
  }
  if (f.type == Field::Type::array) {
    if (!f.prefix.empty()) {
      ordered_json prefix = ordered_json::array();
      for (std::size_t i = 0; i < f.prefix.size(); ++i)
        prefix.push_back(emit(f.prefix[i], pointer + "/prefixItems/" + std::to_string(i), blind));
      s["prefixItems"] = std::move(prefix);
    }
    if (f.items) s["items"] = emit(*f.items, pointer + "/items", blind);
    if (f.min_items) s["minItems"] = *f.min_items;
    if (f.max_items) s["maxItems"] = *f.max_items;
  }
  return s;
}

}  // namespace

Field boolean(std::string key, std::string doc) { return make(std::move(key), Field::Type::boolean, std::move(doc)); }
Field integer(std::string key, std::string doc, std::int64_t lower, std::int64_t upper) {
  Field f = make(std::move(key), Field::Type::integer, std::move(doc));
  f.minimum = static_cast<double>(lower);
  if (upper != std::numeric_limits<std::int64_t>::max()) f.maximum = static_cast<double>(upper);
  return f;
}
Field number(std::string key, std::string doc) { return make(std::move(key), Field::Type::number, std::move(doc)); }
Field text(std::string key, std::string doc) { return make(std::move(key), Field::Type::string, std::move(doc)); }
Field choice(std::string key, std::string doc, std::vector<std::string> allowed) {
  Field f = make(std::move(key), Field::Type::string, std::move(doc));
  f.choices = std::move(allowed);
  return f;
}
Field object(std::string key, std::string doc, std::vector<Field> members) {
  Field f = make(std::move(key), Field::Type::object, std::move(doc));
  f.members = std::move(members);
  return f;
}
Field dictionary(std::string key, std::string doc, Field value) {
  Field f = make(std::move(key), Field::Type::object, std::move(doc));
  f.values = std::make_shared<const Field>(std::move(value));
  return f;
}
Field array(std::string key, std::string doc, Field item) {
  Field f = make(std::move(key), Field::Type::array, std::move(doc));
  f.items = std::make_shared<const Field>(std::move(item));
  return f;
}
Field anything(std::string key, std::string doc) { return make(std::move(key), Field::Type::any, std::move(doc)); }

ordered_json json_schema(const Field& document, const std::string& title, bool case_blind_keys) {
  ordered_json s = {{"$schema", "https://json-schema.org/draft/2020-12/schema"}, {"title", title}};
  const ordered_json body = emit(document, "", case_blind_keys);  // named: a range-for over a temporary's items() dangles
  for (const auto& [k, v] : body.items()) s[k] = v;
  return s;
}

}  // namespace inferno::io
