// ATen's RecordFunction has a member that exists only when NDEBUG is not defined, and LibTorch
// is built with NDEBUG. Its inline accessors compiled without NDEBUG would read the wrong
// offsets, so this file, the only one that touches a RecordFunction, sees LibTorch's layout
// whatever our build type. It uses no assert().
#ifndef NDEBUG
#define NDEBUG  // NOLINT(bugprone-reserved-identifier)
#endif

#include "capture.hpp"

#include <ATen/record_function.h>

#include <exception>
#include <stdexcept>
#include <utility>

namespace atlas::torch::internal {
namespace {

// The capture active on this thread, if any. RecordFunction takes plain function pointers, so
// this is how the callback finds its capture.
thread_local ForwardCapture* t_capture = nullptr;

std::vector<std::int64_t> Shape(const at::Tensor& t) {
  const auto sizes = t.sizes();
  return {sizes.begin(), sizes.end()};
}

const void* StorageKey(const at::Tensor& t) {
  if (!t.defined() || !t.has_storage()) return nullptr;
  return t.storage().unsafeGetStorageImpl();
}

}  // namespace

// What a start hands to its end: which capture claimed the call, for which module.
struct CallContext final : at::ObserverContext {
  CallContext(const ForwardCapture* c, std::size_t m) : capture(c), module(m) {}
  const ForwardCapture* capture;
  std::size_t module;
};

struct CaptureCallbacks {
  // Claims the call for the first module one of whose parameters it takes, unless that module
  // was already seen in this pass or has a call in progress (a call nested in its own).
  static std::unique_ptr<at::ObserverContext> Start(const at::RecordFunction& fn) noexcept {
    ForwardCapture* capture = t_capture;
    if (capture == nullptr || !capture->error_.empty()) return nullptr;
    try {
      std::optional<std::size_t> module;
      const at::Tensor* input = nullptr;
      auto visit = [&](const at::Tensor& t) {
        if (const auto owner = capture->OwnerOf(t)) {
          if (!module) module = owner;
        } else if (input == nullptr && t.defined()) {
          input = &t;
        }
      };
      std::vector<at::Tensor> list;  // keeps a tensor list's elements alive while visited
      for (const c10::IValue& value : fn.inputs()) {
        if (value.isTensor()) {
          visit(value.toTensor());
        } else if (value.isTensorList() && !module) {
          list = value.toTensorVector();
          for (const at::Tensor& t : list) {
            if (const auto owner = capture->OwnerOf(t)) {
              module = owner;
              break;
            }
          }
        }
      }
      if (!module || capture->calls_[*module].seen || capture->open_[*module]) return nullptr;
      capture->open_[*module] = true;
      capture->calls_[*module].input_shape =
          input != nullptr ? Shape(*input) : std::vector<std::int64_t>{};
      return std::make_unique<CallContext>(capture, *module);
    } catch (const std::exception& e) {
      capture->error_ = e.what();
    } catch (...) {
      capture->error_ = "unknown exception in the RecordFunction callback";
    }
    return nullptr;
  }

  // Keeps the call's output as the module's, unless it is a view of a parameter.
  static void End(const at::RecordFunction& fn, at::ObserverContext* context) noexcept {
    ForwardCapture* capture = t_capture;
    const auto* claimed = static_cast<const CallContext*>(context);
    if (claimed == nullptr || capture == nullptr || claimed->capture != capture) return;
    try {
      const std::size_t m = claimed->module;
      capture->open_[m] = false;
      const auto& outputs = fn.outputs();
      if (outputs.empty() || !outputs[0].isTensor()) return;
      const at::Tensor& out = outputs[0].toTensor();
      if (!out.defined() || capture->OwnerOf(out)) return;
      ModuleCall& call = capture->calls_[m];
      call.seen = true;
      call.output_shape = Shape(out);
      if (capture->keep_outputs_) call.output = out;
    } catch (const std::exception& e) {
      capture->error_ = e.what();
    } catch (...) {
      capture->error_ = "unknown exception in the RecordFunction callback";
    }
  }
};

ForwardCapture::ForwardCapture(const std::vector<TrackedModule>& modules, bool keep_outputs)
    : keep_outputs_(keep_outputs), calls_(modules.size()), open_(modules.size(), false) {
  for (std::size_t i = 0; i < modules.size(); ++i) {
    for (const at::Tensor& p : modules[i].params) {
      if (const void* key = StorageKey(p)) owner_.emplace(key, i);  // the first owner wins
    }
  }
}

ForwardCapture::~ForwardCapture() { Stop(); }

void ForwardCapture::Start() {
  if (t_capture != nullptr) throw std::logic_error("a forward capture is already active");
  handle_ = at::addThreadLocalCallback(
      at::RecordFunctionCallback(&CaptureCallbacks::Start, &CaptureCallbacks::End)
          .needsInputs(true)
          .needsOutputs(true)
          .scopes({at::RecordScope::FUNCTION}));
  t_capture = this;
}

void ForwardCapture::Stop() noexcept {
  if (t_capture == this) t_capture = nullptr;
  if (!handle_) return;
  try {
    at::removeCallback(*handle_);
  } catch (const std::exception& e) {
    if (error_.empty()) error_ = e.what();
  }
  handle_.reset();
}

std::optional<std::size_t> ForwardCapture::OwnerOf(const at::Tensor& t) const {
  const void* key = StorageKey(t);
  if (key == nullptr) return std::nullopt;
  const auto it = owner_.find(key);
  if (it == owner_.end()) return std::nullopt;
  return it->second;
}

}  // namespace atlas::torch::internal
