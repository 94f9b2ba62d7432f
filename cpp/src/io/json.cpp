#include "inferno/io/json.hpp"

#include <cmath>

#include "inferno/error.hpp"

namespace inferno::io {

namespace {

using json = nlohmann::json;

// SAX adaptor: forwards every event to nlohmann's DOM builder, folding keys to lower case first.
class FoldingSax {
 public:
  explicit FoldingSax(json& root) : dom_(root, true) {}
  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return dom_.number_float(v, s); }
  bool string(json::string_t& v) { return dom_.string(v); }
  bool binary(json::binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) { return dom_.start_object(n); }
  bool key(json::string_t& k) {
    for (char& ch : k)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    return dom_.key(k);
  }
  bool end_object() { return dom_.end_object(); }
  bool start_array(std::size_t n) { return dom_.start_array(n); }
  bool end_array() { return dom_.end_array(); }
  template <class Exception>
  bool parse_error(std::size_t pos, const std::string& token, const Exception& ex) {
    return dom_.parse_error(pos, token, ex);
  }

 private:
  nlohmann::detail::json_sax_dom_parser<json> dom_;
};

const json* field(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

json parse_json_folded(std::string_view text) {
  json root;
  FoldingSax sax(root);
  try {
    json::sax_parse(text, &sax);
  } catch (const json::exception& e) {  // syntax errors, and numbers that overflow a double
    throw InvalidArgument(std::string("malformed JSON: ") + e.what());
  }
  return root;
}

std::optional<double> get_number(const json& obj, const std::string& key, const std::string& name) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw InvalidArgument(name + " must be a number, got " + v->dump());
  const double d = v->get<double>();
  if (!std::isfinite(d)) throw InvalidArgument(name + " must be a finite number (it overflows a double)");
  return d;
}

std::optional<std::int64_t> get_integer(const json& obj, const std::string& key,
                                        const std::string& name) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<std::int64_t>();
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15)
      return static_cast<std::int64_t>(d);
  }
  throw InvalidArgument(name + " must be an integer, got " + v->dump());
}

std::optional<bool> get_bool(const json& obj, const std::string& key, const std::string& name) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw InvalidArgument(name + " must be true or false, got " + v->dump());
  return v->get<bool>();
}

std::optional<std::string> get_string(const json& obj, const std::string& key,
                                      const std::string& name) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw InvalidArgument(name + " must be a string, got " + v->dump());
  return v->get<std::string>();
}

std::string format_double(double value) {
  if (!std::isfinite(value)) throw InvalidArgument("result is not finite");
  return json(value).dump();
}

}  // namespace inferno::io
