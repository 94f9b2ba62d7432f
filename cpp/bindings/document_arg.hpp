#pragma once
// Documents from Python cross the boundary as values (dicts and lists, converted by pybind11_json),
// never as JSON text built on the Python side (docs/development.md, "The Python/C++ boundary").
#include <stdexcept>
#include <string>

#include <pybind11/pybind11.h>
#include <pybind11_json/pybind11_json.hpp>

#include "inferno/error.hpp"
#include "inferno/io/json.hpp"

namespace inferno::bindings {

/// The JSON value of a Python object; a type JSON cannot hold is an InvalidArgument (ValueError)
/// naming `what`.
inline nlohmann::json document_value(const pybind11::handle& value, const std::string& what) {
  try {
    return pyjson::to_json(value);
  } catch (const std::runtime_error& e) {
    throw InvalidArgument(what + ": not a JSON value (" + e.what() + ")");
  }
}

/// A sizing-style document argument: None is an empty object, keys are case-sensitive, and a
/// reader's error is prefixed with `what`.
inline nlohmann::json sizing_document(const pybind11::object& value, const std::string& what) {
  if (value.is_none()) return nlohmann::json::object();
  try {
    return io::normalized_document(document_value(value, what), false);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(what + ": " + e.what());
  }
}

}  // namespace inferno::bindings
