#pragma once
// A position in a JSON document being read, for every format: it reads a member as its format
// (io/schema.hpp) describes it, checking type, range and choices, and reports a problem as
// "<source>: <path> (<entity>): <problem>".
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "inferno/io/schema.hpp"

namespace inferno::io {

/// "<key> must be a finite number in [lo, hi], got v" (or "an integer in", or ">= lo" when there is no
/// upper bound, followed by what 0 means when the field says) when v is outside the field's range or
/// not finite, else empty: the one range check of every reader (Reader::check_range adds the path).
std::string range_problem(const Field& f, double v);

/// How a document is read. Case-folded formats (the optimizer's, the queue lines) are parsed with
/// parse_json_folded and looked up in lower case; the sizing documents are case-sensitive, since
/// their maps are keyed by model and GPU names. Their ranges are checked by the domain objects they
/// fill (ServingOpts::validate and the like, which C++ callers get too), so the reader checks types,
/// keys and presence only.
struct ReadMode {
  bool case_sensitive = false;
  bool check_ranges = true;
  /// A member's problem names it by its whole path, "servers[0] (a).load.avgInTokens must be a
  /// number", as the domain checks of such documents do; otherwise "<where>: avgInTokens must ...".
  bool name_by_path = false;
};

class Reader {
 public:
  Reader(std::string source, std::string path, ReadMode mode = {})
      : source_(std::move(source)), path_(std::move(path)), mode_(mode) {}
  /// A reader of a one-line document (a queue or simulate line): problems are reported without a
  /// source, and nested members as "decodeParms: ...".
  static Reader line() { return {"", ""}; }

  Reader at(const std::string& key) const { return {source_, path_.empty() ? key : path_ + "." + key, mode_}; }
  /// An array element, labelled with the entity it defines: "servers[2] (Premium-llama_13b)".
  Reader item(std::size_t i, const std::string& entity) const;
  std::string where() const { return source_.empty() ? path_ : source_ + ": " + path_; }
  [[noreturn]] void fail(const std::string& problem) const;
  /// A problem of member `key`: "key must be an object" in a line, "<path>.key must ..." when members
  /// are named by path, else "<where>.key: must ...".
  [[noreturn]] void fail_member(const std::string& key, const std::string& problem) const;

  // Members of an object `o` (case-folded unless the mode is case-sensitive), as `f` describes them;
  // absent (or null) gives the fallback, or the format's default when there is none.
  double number(const nlohmann::json& o, const Field& f, std::optional<double> fallback = std::nullopt) const;
  std::optional<double> optional_number(const nlohmann::json& o, const Field& f) const;
  std::int64_t integer(const nlohmann::json& o, const Field& f, std::optional<std::int64_t> fallback = std::nullopt) const;
  std::optional<std::int64_t> optional_integer(const nlohmann::json& o, const Field& f) const;
  bool boolean(const nlohmann::json& o, const Field& f, std::optional<bool> fallback = std::nullopt) const;
  /// An integer that fits an int (whatever the mode: the value is stored in one).
  int int32(const nlohmann::json& o, const Field& f, std::optional<int> fallback = std::nullopt) const;
  /// A string if present (type checked; the caller checks the value, e.g. with an enum table).
  std::optional<std::string> optional_text(const nlohmann::json& o, const Field& f) const;
  /// Whether the member is present and not null.
  bool has(const nlohmann::json& o, const Field& f) const { return find(o, f) != nullptr; }
  /// A string; with choices, one of them (case-sensitive).
  std::string text(const nlohmann::json& o, const Field& f, std::optional<std::string> fallback = std::nullopt) const;
  /// The member object, or nullptr when absent.
  const nlohmann::json* object(const nlohmann::json& o, const Field& f) const;
  /// The member array (empty when absent).
  const nlohmann::json& array(const nlohmann::json& o, const Field& f) const;
  /// Element i of an array, which must be an object.
  const nlohmann::json& element(const nlohmann::json& list, std::size_t i) const;

  /// The check of a number against the field's range, for values that arrive another way.
  void check_range(const Field& f, double v) const;
  /// Refuses a key of `o` that `format` does not list: "<where>: unknown key "k"; allowed: a, b".
  void check_keys(const nlohmann::json& o, const Field& format) const;

 private:
  const nlohmann::json* find(const nlohmann::json& o, const Field& f) const;
  [[noreturn]] void fail_named(const std::string& message) const;  // a message that starts with the member's name
  std::string name_of(const Field& f) const;
  std::string key_of(const Field& f) const;
  std::string source_, path_;
  ReadMode mode_;
};

}  // namespace inferno::io
