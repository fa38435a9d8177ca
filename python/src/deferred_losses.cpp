// DeferredLosses (deferred_losses.hpp).
#include "deferred_losses.hpp"

#include <Python.h>

#include <utility>

namespace nb = nanobind;

namespace atlas_python {

void DeferredLosses::Add(atlas::StepRecord record, nb::object loss, atlas::TimePoint now) {
  if (waiting_.empty()) {
    waiting_.reserve(kMaxSteps);
    first_at_ = now;
  }
  waiting_.push_back(Waiting{std::move(record), std::move(loss)});
}

bool DeferredLosses::Due(atlas::TimePoint now) const {
  return !waiting_.empty() && (waiting_.size() >= kMaxSteps || now - first_at_ >= kMaxAge);
}

std::vector<DeferredLosses::Waiting> DeferredLosses::Take() { return std::exchange(waiting_, {}); }

double DeferredLosses::Read(nb::handle loss) {
  double value = 0;
  if (tensors_.ReadCpuScalar(loss, value)) return value;
  accepting_ = false;
  PyObject* number = PyObject_CallMethodNoArgs(loss.ptr(), item_.ptr());
  if (number == nullptr) throw nb::python_error();
  const nb::object owned = nb::steal(number);
  value = PyFloat_AsDouble(number);
  if (value == -1.0 && PyErr_Occurred() != nullptr) throw nb::python_error();
  return value;
}

}  // namespace atlas_python
