#include "inferno/io/json.hpp"

#include <cmath>

#include "inferno/error.hpp"
#include "line_batch.hpp"

namespace inferno::io {

namespace {

using json = nlohmann::json;

// The parser's message quotes the bytes it stopped at, which may be invalid UTF-8 or control
// characters: keep printable ASCII, show the rest as \xHH, and cut it short.
std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char ch : text) {
    if (out.size() >= 200) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(ch);
    if (byte >= 0x20 && byte < 0x7f) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

// SAX adaptor: forwards every event to nlohmann's DOM builder, folding keys to lower case first.
class FoldingSax {
 public:
  FoldingSax(json& root, bool fold) : dom_(root, true), fold_(fold) {}
  int depth = 0;
  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return dom_.number_float(v, s); }
  bool string(json::string_t& v) { return dom_.string(v); }
  bool binary(json::binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) { return deeper() && dom_.start_object(n); }
  bool key(json::string_t& k) {
    if (fold_) fold_key_in_place(k);
    return dom_.key(k);
  }
  bool end_object() {
    --depth;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return deeper() && dom_.start_array(n); }
  bool end_array() {
    --depth;
    return dom_.end_array();
  }
  template <class Exception>
  bool parse_error(std::size_t pos, const std::string& token, const Exception& ex) {
    return dom_.parse_error(pos, token, ex);
  }

 private:
  bool deeper() {
    if (++depth > kMaxJsonDepth)
      throw InvalidArgument("malformed JSON: nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    return true;
  }
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  bool fold_;
};

json parse_with_limits(std::string_view text, bool fold) {
  if (text.size() > kMaxJsonBytes)
    throw InvalidArgument("malformed JSON: a text of more than " + std::to_string(kMaxJsonBytes) +
                          " bytes, the longest accepted");
  json root;
  FoldingSax sax(root, fold);
  try {
    json::sax_parse(text, &sax);
  } catch (const json::exception& e) {  // syntax errors, and numbers that overflow a double
    throw InvalidArgument(std::string("malformed JSON: ") + printable(e.what()));
  }
  return root;
}

const json* field(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

json parse_json_folded(std::string_view text) { return parse_with_limits(text, true); }

void fold_key_in_place(std::string& key) {
  for (char& ch : key)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
}

std::string fold_key(std::string key) {
  fold_key_in_place(key);
  return key;
}

namespace {

json normalized(const json& value, bool fold, int depth) {
  if (!value.is_structured()) return value;
  if (depth >= kMaxJsonDepth)
    throw InvalidArgument("malformed document: nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  if (value.is_array()) {
    json out = json::array();
    for (const json& v : value) out.push_back(normalized(v, fold, depth + 1));
    return out;
  }
  json out = json::object();
  for (const auto& [key, v] : value.items()) {
    out[fold ? fold_key(key) : key] = normalized(v, fold, depth + 1);
  }
  return out;
}

}  // namespace

json normalized_document(const json& value, bool fold) { return normalized(value, fold, 0); }

json parse_json(std::string_view text) { return parse_with_limits(text, false); }

std::string excerpt(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return "an object with " + std::to_string(value.size()) + " keys";
    case json::value_t::array:
      return "an array of " + std::to_string(value.size()) + " elements";
    case json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      constexpr std::size_t kKeep = 40;
      return text.size() <= kKeep ? dump_response(value) : dump_response(json(text.substr(0, kKeep))) + "...";
    }
    default:
      return value.dump();  // a number, boolean or null: short and always valid
  }
}

std::string dump_response(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string dump_response(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::optional<double> get_number(const json& obj, const std::string& key, const std::string& name) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw InvalidArgument(name + " must be a number, got " + excerpt(*v));
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
  throw InvalidArgument(name + " must be an integer, got " + excerpt(*v));
}

std::optional<bool> get_bool(const json& obj, const std::string& key, const std::string& name) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw InvalidArgument(name + " must be true or false, got " + excerpt(*v));
  return v->get<bool>();
}

std::optional<std::string> get_string(const json& obj, const std::string& key,
                                      const std::string& name) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw InvalidArgument(name + " must be a string, got " + excerpt(*v));
  return v->get<std::string>();
}

std::string format_double(double value) {
  if (!std::isfinite(value)) throw InvalidArgument("result is not finite");
  return json(value).dump();
}

namespace detail {

std::string unexpected_failure_body(const char* what) {
  try {
    json body;
    body["error"] = printable(what);
    body["message"] = "internal error: " + body["error"].get<std::string>();
    body["status"] = "error";
    return body.dump();  // printable() left ASCII only
  } catch (...) {  // out of memory: a constant still answers the line
    return R"({"error":"internal error","message":"internal error: internal error","status":"error"})";
  }
}

}  // namespace detail

}  // namespace inferno::io
