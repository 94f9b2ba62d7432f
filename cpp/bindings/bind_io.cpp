// Bindings of the io subsystem: REST-compatible JSON lines for the CLI.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "inferno/io/json.hpp"
#include "inferno/io/queue_json.hpp"

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
}
