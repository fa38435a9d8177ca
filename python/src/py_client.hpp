// PyClient: the Python Client object's C++ side, shared by the modules that hand it records
// (binding.cpp defines the Python class; step_binding.cpp sends closed steps through it).
#pragma once

#include <Python.h>

#include <memory>
#include <utility>

#include <nanobind/nanobind.h>

#include "atlas/client.hpp"

namespace atlas_python {

// Owns an atlas::Client. Destroying one may wait for the sender thread (up to libatlas's short
// destructor timeout), so the GIL is released for it unless the interpreter is shutting down.
class PyClient {
 public:
  explicit PyClient(std::unique_ptr<atlas::Client> client) : client_(std::move(client)) {}
  ~PyClient() {
    if (client_ == nullptr) return;
    if (PyGILState_Check() != 0 && !Finalizing()) {
      nanobind::gil_scoped_release release;
      client_.reset();
    } else {
      client_.reset();
    }
  }
  PyClient(const PyClient&) = delete;
  PyClient& operator=(const PyClient&) = delete;
  PyClient(PyClient&&) = delete;
  PyClient& operator=(PyClient&&) = delete;

  atlas::Client& client() { return *client_; }

 private:
  static bool Finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing() != 0;
#else
    return _Py_IsFinalizing() != 0;
#endif
  }

  std::unique_ptr<atlas::Client> client_;
};

}  // namespace atlas_python
