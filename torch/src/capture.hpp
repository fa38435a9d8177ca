// ForwardCapture: which module produced which output during one forward pass, without forward
// hooks (a torch::nn::Module has none).
//
// While started, a thread-local ATen RecordFunction callback sees every operator call on this
// thread with its inputs and outputs. A call is attributed to a module when one of its inputs
// shares storage with a parameter the module owns (aten::conv2d takes the Conv2d's weight;
// aten::addmm the Linear's bias or transposed weight). Calls nested inside an attributed call
// are ignored, and a call whose output is itself a view of a parameter (aten::t on a weight) is
// not the module's output, so it is dropped and the next call may claim the module. The first
// attributed call of each module in the pass gives its input shape (of the first tensor input
// that is no parameter), output shape and, when asked, its output tensor.
//
// Parameter-free modules (activations, pooling, containers) cannot be seen this way.
//
// Threading: one capture may be active per thread; Start and Stop run on the training thread,
// and calls of the callback on other threads (autograd workers) are ignored. The callback
// never throws into an operator: anything that goes wrong there stops the capture and is
// reported by error().
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "architecture.hpp"

namespace atlas::torch::internal {

struct ModuleCall {
  bool seen = false;
  std::vector<std::int64_t> input_shape;  // empty when the call had no non-parameter tensor
  std::vector<std::int64_t> output_shape;
  at::Tensor output;  // kept only when asked for
};

class ForwardCapture {
 public:
  // `modules` must outlive the capture. Outputs are kept when `keep_outputs` is true.
  ForwardCapture(const std::vector<TrackedModule>& modules, bool keep_outputs);
  ~ForwardCapture();
  ForwardCapture(const ForwardCapture&) = delete;
  ForwardCapture& operator=(const ForwardCapture&) = delete;

  // Installs the callback on this thread. Throws when another capture is active here.
  void Start();
  // Removes it; safe to call when not started.
  void Stop() noexcept;
  bool active() const { return handle_.has_value(); }

  // One entry per module, in the order of `modules`.
  const std::vector<ModuleCall>& calls() const { return calls_; }
  // What went wrong inside the callback, if anything ("" when nothing).
  const std::string& error() const { return error_; }

 private:
  friend struct CaptureCallbacks;  // capture.cpp: the RecordFunction callback's two halves

  std::optional<std::size_t> OwnerOf(const at::Tensor& t) const;

  bool keep_outputs_;
  std::unordered_map<const void*, std::size_t> owner_;  // parameter storage -> module index
  std::vector<ModuleCall> calls_;
  std::vector<bool> open_;  // a call of the module is in progress
  std::optional<std::uint64_t> handle_;
  std::string error_;
};

}  // namespace atlas::torch::internal
