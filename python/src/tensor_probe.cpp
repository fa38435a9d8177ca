// TensorProbe (tensor_probe.hpp).
#include "tensor_probe.hpp"

#include <Python.h>

#include <cstring>
#include <optional>

namespace nb = nanobind;

namespace atlas_python {
namespace {

// A new reference to value.name, or nullptr with the error cleared.
PyObject* Attribute(nb::handle value, const nb::str& name) {
  PyObject* out = PyObject_GetAttr(value.ptr(), name.ptr());
  if (out == nullptr) PyErr_Clear();
  return out;
}

// The truth of value.name; nullopt (error cleared) when it cannot be read.
std::optional<bool> Flag(nb::handle value, const nb::str& name) {
  PyObject* attribute = Attribute(value, name);
  if (attribute == nullptr) return std::nullopt;
  const int truth = PyObject_IsTrue(attribute);
  Py_DECREF(attribute);
  if (truth < 0) {
    PyErr_Clear();
    return std::nullopt;
  }
  return truth == 1;
}

}  // namespace

void TensorProbe::Configure(nb::handle tensor_type, nb::handle bool_dtype, nb::handle float32_dtype,
                            nb::handle float64_dtype) {
  tensor_type_ = nb::borrow(tensor_type);
  bool_dtype_ = nb::borrow(bool_dtype);
  float32_ = nb::borrow(float32_dtype);
  float64_ = nb::borrow(float64_dtype);
  last_dtype_ = nb::object();
}

bool TensorProbe::IsExactTensor(nb::handle value) const {
  return tensor_type_.is_valid() && static_cast<const void*>(Py_TYPE(value.ptr())) ==
                                        static_cast<const void*>(tensor_type_.ptr());
}

bool TensorProbe::IsLossTensor(nb::handle value) {
  if (!IsExactTensor(value)) return false;
  PyObject* count = PyObject_CallMethodNoArgs(value.ptr(), numel_.ptr());
  if (count == nullptr) {
    PyErr_Clear();
    return false;
  }
  const long long elements = PyLong_AsLongLong(count);
  Py_DECREF(count);
  if (elements != 1) {
    PyErr_Clear();  // set when numel() gave no integer
    return false;
  }
  PyObject* floating = PyObject_CallMethodNoArgs(value.ptr(), is_floating_point_.ptr());
  if (floating == nullptr) {
    PyErr_Clear();
    return false;
  }
  const bool answer = floating == Py_True;
  Py_DECREF(floating);
  return answer;
}

bool TensorProbe::ReadCpuScalar(nb::handle loss, double& value) {
  if (!IsExactTensor(loss)) return false;
  const std::optional<bool> cpu = Flag(loss, is_cpu_);
  if (!cpu.value_or(false)) return false;
  if (ReadZeroDimFloat(loss, value)) return true;
  // item() of a tensor of several elements raises: the Python reader says why. (float() would
  // warn about a tensor that requires grad.)
  PyObject* number = PyObject_CallMethodNoArgs(loss.ptr(), item_.ptr());
  if (number == nullptr) {
    PyErr_Clear();
    return false;
  }
  value = PyFloat_AsDouble(number);  // item() gives an int for an integer tensor
  Py_DECREF(number);
  if (value == -1.0 && PyErr_Occurred() != nullptr) {
    PyErr_Clear();
    return false;
  }
  return true;
}

bool TensorProbe::ReadZeroDimFloat(nb::handle loss, double& value) {
  PyObject* dtype = Attribute(loss, dtype_);
  if (dtype == nullptr) return false;
  const nb::object owned_dtype = nb::steal(dtype);
  const bool f32 = dtype == float32_.ptr();
  if (!f32 && dtype != float64_.ptr()) return false;
  PyObject* shape = Attribute(loss, shape_);
  if (shape == nullptr) return false;
  const nb::object owned_shape = nb::steal(shape);
  if (!PyTuple_Check(shape) || PyTuple_GET_SIZE(shape) != 0) return false;
  PyObject* address = PyObject_CallMethodNoArgs(loss.ptr(), data_ptr_.ptr());
  if (address == nullptr) {
    PyErr_Clear();
    return false;
  }
  const nb::object owned_address = nb::steal(address);
  const void* data = PyLong_AsVoidPtr(address);
  if (data == nullptr) {
    PyErr_Clear();
    return false;
  }
  // A CPU tensor of no dimensions: its one element is at data_ptr() (storage offset included),
  // kept alive by `loss`.
  if (f32) {
    float element = 0;
    std::memcpy(&element, data, sizeof element);
    value = element;
  } else {
    std::memcpy(&value, data, sizeof value);
  }
  return true;
}

bool TensorProbe::ReadBatchCounts(nb::handle batch, std::optional<double>& samples,
                                  std::optional<double>& tokens) {
  if (!IsExactTensor(batch)) return false;
  PyObject* shape = Attribute(batch, shape_);
  if (shape == nullptr) return false;
  const nb::object owned = nb::steal(shape);
  if (!PyTuple_Check(shape)) return false;  // torch.Size is a tuple
  const Py_ssize_t dims = PyTuple_GET_SIZE(shape);
  samples.reset();
  tokens.reset();
  if (dims == 0) return true;
  double product = 1;
  for (Py_ssize_t i = 0; i < dims; ++i) {
    const long long size = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, i));
    if (size == -1 && PyErr_Occurred() != nullptr) {
      PyErr_Clear();
      return false;
    }
    if (i == 0) samples = static_cast<double>(size);
    product *= static_cast<double>(size);
  }
  if (dims < 2) return true;
  PyObject* dtype = Attribute(batch, dtype_);
  if (dtype == nullptr) return false;
  const nb::object owned_dtype = nb::steal(dtype);
  if (HoldsTokens(owned_dtype)) tokens = product;
  return true;
}

bool TensorProbe::HoldsTokens(nb::handle dtype) {
  if (last_dtype_.is_valid() && last_dtype_.ptr() == dtype.ptr()) return last_dtype_tokens_;
  const bool tokens = dtype.ptr() != bool_dtype_.ptr() &&
                      !Flag(dtype, is_floating_point_).value_or(true) &&
                      !Flag(dtype, is_complex_).value_or(true);
  last_dtype_ = nb::borrow(dtype);
  last_dtype_tokens_ = tokens;
  return tokens;
}

}  // namespace atlas_python
