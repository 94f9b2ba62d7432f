#pragma once
// Documents from Python cross the boundary as values (dicts and lists, converted by pybind11_json),
// never as JSON text built on the Python side (docs/development.md, "The Python/C++ boundary").
#include <stdexcept>
#include <string>

#include <pybind11/pybind11.h>
#include <pybind11_json/pybind11_json.hpp>

#include "inferno/error.hpp"

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

}  // namespace inferno::bindings
