// atlas::torch::Observer: telemetry for a LibTorch (C++) training loop, streamed to atlasd
// through libatlas's Client (protocol v1, docs/protocol.md) — the C++ twin of the Python
// Observer.
//
//   atlas::torch::ObserverOptions opts;
//   opts.client.server_url = "http://127.0.0.1:7878";
//   opts.client.project = "digits";
//   opts.client.run_name = "cnn";
//   opts.layer_health_every = 50;
//   auto obs = atlas::torch::Observer::Create(opts);  // never null; a no-op when set-up failed
//   obs->LogHyperparameters({{"lr", 1e-3}, {"batch_size", 64}, {"optimizer", "Adam"}});
//   obs->RegisterModel(*model);
//   obs->RegisterOptimizer(optimizer);
//   for (each epoch) {
//     for (each batch) {
//       auto step = obs->BeginStep(batch_size);
//       auto loss = loss_fn(model->forward(x), y);
//       step.MarkForward();
//       optimizer.zero_grad();
//       loss.backward();
//       step.MarkBackward();
//       optimizer.step();
//       step.End(loss);
//     }
//     obs->EndEpoch({.val = {{"loss", val_loss}, {"accuracy", val_accuracy}}});
//   }
//   obs->Finish();  // or FinishFailed(reason)
//
// What is recorded (the record kinds of protocol v1):
//   - step, for every step: loss, samples (and tokens when given), samples_per_s (tokens_per_s),
//     lr (of the optimizer's first parameter group), and host wall times: data_ms (from the end
//     of the previous step of the same epoch to BeginStep: the data loader's share), forward_ms
//     (BeginStep to MarkForward), backward_ms (MarkForward to MarkBackward), optimizer_ms
//     (MarkBackward to End) and step_ms (data_ms plus BeginStep to End). A mark that is not
//     called leaves its fields out. On an accelerator the kernels run asynchronously, so the
//     phases measure the host's time to launch them until the device's queue is full; step_ms
//     over many steps is the true rate either way. The observer's own work at a step is not
//     counted in any phase.
//   - layer_stats, every `layer_health_every` steps (step 0 included), one entry per module that
//     directly owns parameters, named as named_modules() names it, with the Python observer's
//     definitions (docs/observer.md, "Layer health"), so that both kinds of run read alike.
//     Over the module's own parameters, read at MarkBackward (else at End): grad_norm,
//     grad_abs_mean, nonfinite_grads, weight_norm, weight_abs_mean, weight_sparsity (the share
//     of weights with |w| < 1e-8), nonfinite_weights; and update_ratio = ||W_after - W_before||
//     / ||W_before|| of this step's optimizer update (needs MarkBackward). From the module's
//     output in this step's forward: activation_mean, activation_std, activation_abs_mean,
//     nonfinite_activations, dead_fraction (the share of units never > 0 at any position; a
//     unit is dimension 1 of a convolution or normalisation output, else the last dimension)
//     and, under "extra", units, unit_active_frac, unit_score and dormant_fraction (ReDo) with
//     dormant_threshold. All of it is computed on the device and copied to the host in one
//     transfer per sampled step.
//   - architecture, at RegisterModel: every module of named_modules() in order, with its type
//     (the class name without namespace and "Impl"), parent, own and trainable parameter counts;
//     and again after the first step's forward with input and output shapes and forward FLOPs.
//   - hyperparameters, epoch (train loss = the mean of the epoch's step losses unless given),
//     event (type "telemetry_error" the first time each site fails), finish.
//
// What LibTorch does not let us capture: a torch::nn::Module has no forward hooks, and its
// forward() is not virtual. Shapes therefore come from ATen's RecordFunction callbacks during the
// first step's forward: an operator call that takes one of a module's parameters (aten::conv2d
// the Conv2d's weight, aten::addmm the Linear's bias) is that module's call. So shapes, FLOPs and
// activation statistics exist only for modules that own parameters. Parameter-free modules
// (ReLU, pooling, Flatten, containers, and a root without parameters) get no shapes and no
// layer_stats entry (the Python observer also watches parameter-free leaves), and
// saturated_fraction, which the Python side computes for Tanh and Sigmoid outputs, is never sent.
// FLOPs follow the Python observer's formulas (a multiply-add is 2 FLOPs): per sample, Linear
// and Conv 2 x output elements x weight elements per output channel, normalisation 5 x output
// elements, and a module's figure includes its children's, so a container's or the root's is
// the sum over its Linear, Conv and normalisation modules (the parameter-free ones, which the
// Python side also counts, are missing from it).
//
// Errors: no exception leaves this API (every member is noexcept). A failure inside the
// observer is caught where it happens, counted by site in stats(), reported once per site as a
// "telemetry_error" event and a line on the log, and the training loop goes on. If the Client
// cannot start (a bad configuration), Create returns an observer that does nothing, logs why
// once, and reports it in setup_status().
//
// Threading: an Observer and its Steps belong to the training thread that uses them: they are
// not synchronised, and one step is open at a time (BeginStep abandons a step still open). The
// Client it owns sends from its own thread. Work on the training thread is small: per step a
// few clock readings and a lock-free enqueue (a loss on an accelerator is read back in batches,
// see LossReadback); at a sampled step the statistics' kernels and one device-to-host copy.
//
// Ownership: the Observer owns its Client. RegisterModel and RegisterOptimizer keep references
// to the model's parameter tensors and to the optimizer, which must outlive the Observer (or the
// next RegisterModel / RegisterOptimizer). Register the model after moving it to its device.
// A Step refers to its Observer, which must outlive it.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "atlas/client.hpp"
#include "atlas/status.hpp"

namespace atlas::torch {

// Named values: epoch metrics ({{"loss", 0.1}, {"accuracy", 0.97}}) and step metrics.
using Metrics = std::vector<std::pair<std::string, double>>;
// Hyperparameters: {{"lr", 1e-3}, {"batch_size", 64}, {"optimizer", "Adam"}, {"amp", false}}.
using HyperValue = std::variant<bool, std::int64_t, double, std::string>;
using Hyperparameters = std::vector<std::pair<std::string, HyperValue>>;

// When a step's loss tensor is copied to the host. Reading a value on an accelerator waits for
// the device, so doing it every step would serialise the host with the device.
enum class LossReadback {
  kAuto,       // CPU losses at once; others batched (kBatched)
  kEveryStep,  // at End, always (the step record leaves at once)
  kBatched,    // every `loss_readback_every` steps, and at sampled steps, EndEpoch and Finish,
               // in one transfer; step records leave then, in order
};

struct ObserverOptions {
  // Where and how to send: server_url, project, run_name, spool, ... (see atlas/client.hpp).
  // Its clock, when given, also times the steps; framework_json and host_json are filled in
  // when empty.
  ClientConfig client;
  // Take layer statistics every this many steps (step 0 included); 0 turns them off.
  std::int64_t layer_health_every = 50;
  // Statistics of module outputs at sampled steps (needs RecordFunction during that forward).
  bool activation_stats = true;
  // Per-unit arrays (extra.unit_active_frac, extra.unit_score) keep at most this many units.
  std::int64_t layer_health_max_units = 1024;
  // ReDo's threshold: a unit is dormant when its normalised mean |activation| is <= this.
  double dormant_threshold = 0.1;
  // Input/output shapes and FLOPs from the first step's forward.
  bool capture_shapes = true;
  LossReadback loss_readback = LossReadback::kAuto;
  std::int64_t loss_readback_every = 16;
  // How long Finish waits for the records to reach the server (or the spool).
  std::chrono::milliseconds finish_timeout{10000};
  // Where the observer's own messages go (one line each, rare); null means stderr.
  std::function<void(const std::string&)> log;
};

// What an epoch ends with. `train` gets "loss" (the mean of the epoch's step losses) when it
// has none and the epoch had steps with a finite loss.
struct EpochSummary {
  Metrics train{};
  Metrics val{};
};

struct ObserverStats {
  std::int64_t steps = 0;             // steps ended (step records made)
  std::int64_t abandoned_steps = 0;   // steps begun but never ended
  std::int64_t layer_samples = 0;     // layer_stats records made
  std::int64_t telemetry_errors = 0;  // contained failures, all sites together
  std::map<std::string, std::int64_t> errors_by_site;
  Stats client;  // the Client's delivery counters
};

namespace internal {
class ObserverCore;  // the implementation (src/observer_core.hpp)
}  // namespace internal

// One training step, from BeginStep to End. Movable, not copyable; destroying it without End
// (an exception in the loop) abandons the step: it is counted and nothing is recorded.
class Step {
 public:
  Step(Step&& other) noexcept;
  Step& operator=(Step&& other) noexcept;
  Step(const Step&) = delete;
  Step& operator=(const Step&) = delete;
  ~Step();

  // The forward pass (and loss) is done.
  void MarkForward() noexcept;
  // loss.backward() is done; the optimizer step comes next.
  void MarkBackward() noexcept;
  // A user-defined value of this step (protocol "metrics"; not a step field's name).
  void AddMetric(std::string name, double value) noexcept;
  // The optimizer step is done. The loss tensor (one element, any device) is read without
  // blocking the host when LossReadback allows.
  void End(const at::Tensor& loss) noexcept;
  void End(double loss) noexcept;
  void End() noexcept;  // without a loss

 private:
  friend class Observer;
  Step(internal::ObserverCore* core, std::uint64_t token) : core_(core), token_(token) {}
  internal::ObserverCore* core_ = nullptr;  // null when inert
  std::uint64_t token_ = 0;                 // which BeginStep this is; a stale Step does nothing
};

class Observer {
 public:
  // Starts the Client (which creates or resumes the run) and returns the observer. Never null.
  static std::unique_ptr<Observer> Create(ObserverOptions options) noexcept;

  // Finishes the run when Finish was not called: as failed when an exception is propagating
  // through the destructor's caller, else as completed.
  ~Observer();
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;

  // False when set-up failed (then every call does nothing) or after Finish.
  bool enabled() const noexcept;
  // Why set-up failed, or ok.
  Status setup_status() const noexcept;
  const std::string& run_id() const noexcept;

  void LogHyperparameters(const Hyperparameters& values) noexcept;
  // Values that the map above cannot hold (lists, nested objects): a JSON object's text.
  void LogHyperparametersJson(std::string json_object) noexcept;
  // Sends the architecture and tracks the model's parameters for layer statistics. A model held
  // by a ModuleHolder (TORCH_MODULE) is passed as *model.
  void RegisterModel(::torch::nn::Module& model) noexcept;
  // For the learning rate of each step.
  void RegisterOptimizer(::torch::optim::Optimizer& optimizer) noexcept;

  // Starts a step of `samples` samples (and `tokens` tokens, 0 when not counted).
  [[nodiscard]] Step BeginStep(std::int64_t samples, std::int64_t tokens = 0) noexcept;
  void EndEpoch(const EpochSummary& summary = {}) noexcept;
  // An event of the user's (e.g. type "checkpoint"); `level` is debug, info, warning or error.
  void LogEvent(const std::string& level, const std::string& type,
                const std::string& message) noexcept;

  // Sends what is pending and a finish record, then stops the Client (at most
  // finish_timeout). Later calls do nothing and return the first result.
  Status Finish() noexcept;
  Status FinishFailed(const std::string& reason) noexcept;

  ObserverStats stats() const noexcept;

 private:
  explicit Observer(std::unique_ptr<internal::ObserverCore> core);
  std::unique_ptr<internal::ObserverCore> core_;
};

}  // namespace atlas::torch
