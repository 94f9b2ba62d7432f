// inferno._core: the compiled core. One bind_* per subsystem; Python adds the ergonomics.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_queue(py::module_& m);
void bind_io(py::module_& m);
void bind_optimizer(py::module_& m);
void bind_tuner(py::module_& m);
void bind_sim(py::module_& m);
void bind_sizing(py::module_& m);
void bind_search(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "inferno compiled core (queueing models, REST-compatible JSON I/O, optimizer input, tuner, simulator, sizing)";
  bind_queue(m);
  bind_io(m);
  bind_optimizer(m);
  bind_tuner(m);
  bind_sim(m);
  bind_sizing(m);
  bind_search(m);
}
