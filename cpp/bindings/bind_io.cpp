// Bindings of the io subsystem: REST-compatible JSON lines for the CLI.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <pybind11_json/pybind11_json.hpp>

#include "inferno/io/json.hpp"
#include "inferno/io/queue_json.hpp"
#include "inferno/io/schema.hpp"
#include "inferno/io/sim_json.hpp"
#include "inferno/io/sizing_json.hpp"
#include "inferno/optimizer/documents.hpp"
#include "inferno/tuner/options.hpp"

namespace py = pybind11;

void bind_io(py::module_& root) {
  py::module_ m = root.def_submodule("io", "REST-compatible JSON I/O");
  m.attr("max_json_bytes") = inferno::io::kMaxJsonBytes;
  m.def(
      "run_queue_requests",
      [](const std::string& operation, const std::vector<std::string>& lines, unsigned threads) {
        const auto op = inferno::io::parse_queue_operation(operation);
        std::size_t failures = 0;
        std::vector<std::string> out;
        {
          py::gil_scoped_release release;
          out = inferno::io::run_queue_requests(op, lines, threads, &failures);
        }
        return py::make_tuple(out, failures);
      },
      py::arg("operation"), py::arg("lines"), py::arg("threads") = 0,
      "Runs ProblemData JSON lines through solve|target|optimize; returns (output lines, failures). "
      "Blank input lines give empty output strings.");
  m.def(
      "document_schemas",
      [] {
        // name -> (file, title, schema); the formats the readers use (docs/schemas.md).
        using inferno::io::json_schema;
        py::list out;
        const auto add = [&](const std::string& file, const std::string& title, const inferno::io::Field& format,
                             bool case_blind) {
          const std::string name = file.substr(0, file.rfind('.'));
          const nlohmann::json schema = json_schema(format, file + ": " + title, case_blind);
          out.append(py::make_tuple(name, file, title, schema));
        };
        for (const auto& d : inferno::optimizer::document_formats()) add(d.file, d.title, *d.format, true);
        add("queue-request.jsonl", "a queue request line (ProblemData)", inferno::io::problem_data_format(), true);
        add("queue-result.jsonl", "a queue response line", inferno::io::queue_result_format(), true);
        add("simulate-request.jsonl", "an inferno simulate line (ProblemData and the simulation's keys)",
            inferno::io::simulate_request_format(), true);
        add("sizing-request.json", "a sizing request (inferno size recommend)", inferno::io::recommend_request_format(), false);
        add("sizing-points.json", "profiling points (inferno size calibrate)", inferno::io::profile_points_format(), false);
        add("gpu-catalog.json", "a GPU catalog (inferno size --catalog)", inferno::io::catalog_format(), false);
        add("tuner-options.json", "the tuner's options (inferno profile defaults)", inferno::tuner::tuner_options_format(), false);
        return out;
      },
      "Every published document format as (name, file, title, JSON Schema dict), generated from the "
      "tables the readers use.");
}
