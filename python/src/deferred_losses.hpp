// DeferredLosses: the closed step records of fast steps whose loss is still a tensor, read
// together a few steps later.
//
// Why: right after a model's backward, reading a loss tensor (is it on the CPU, its dtype, its
// shape, its data) costs some 15 us of cold torch code per step; read 16 at a time, the code is
// cold once. A record waits at most kMaxSteps steps and kMaxAge of wall time (so a live view
// lags by at most that), and the recorder sends every waiting record before anything else it
// sends, and before the Observer sends anything (step_binding.cpp).
//
// Memory: each waiting record keeps its loss tensor alive. After the backward a loss holds its
// autograd graph's nodes but not the tensors they saved (freed by the backward), unless a
// custom autograd Function kept tensors on its ctx as plain attributes.
//
// Threading: the training thread only, with the GIL held.
#pragma once

#include <nanobind/nanobind.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

#include "atlas/clock.hpp"
#include "atlas/record.hpp"
#include "tensor_probe.hpp"

namespace atlas_python {

class DeferredLosses {
 public:
  static constexpr std::size_t kMaxSteps = 16;
  static constexpr atlas::Duration kMaxAge = std::chrono::milliseconds(500);

  explicit DeferredLosses(TensorProbe& tensors) : tensors_(tensors) {}

  // Whether a fast step may leave its loss here: until a kept loss turned out not to be a
  // CPU scalar (a loss on an accelerator is read by the Observer's deferred path instead,
  // which never synchronises the device).
  bool accepting() const { return accepting_; }
  bool empty() const { return waiting_.empty(); }

  // Keeps `record` (without its loss field) until `loss` is read.
  void Add(atlas::StepRecord record, nanobind::object loss, atlas::TimePoint now);
  // Whether the waiting records should go now: kMaxSteps of them, or the first kMaxAge old.
  bool Due(atlas::TimePoint now) const;

  struct Waiting {
    atlas::StepRecord record;
    nanobind::object loss;
  };
  // The waiting records in order, with their losses; forgets them.
  std::vector<Waiting> Take();

  // The value of one loss tensor: a CPU scalar's read at its data, anything else by item()
  // (after which no more losses are accepted). Throws nanobind::python_error when item()
  // raises.
  double Read(nanobind::handle loss);

 private:
  TensorProbe& tensors_;
  std::vector<Waiting> waiting_;
  atlas::TimePoint first_at_{};
  bool accepting_ = true;
  nanobind::str item_{"item"};
};

}  // namespace atlas_python
