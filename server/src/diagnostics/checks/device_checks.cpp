// The device checks (docs/diagnostics.md, "Device checks"): read the step aggregates (timings,
// utilisation, memory, throughput), the run's device description and profiler windows.
#include <algorithm>
#include <array>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "diagnostics/check.hpp"
#include "diagnostics/signals.hpp"

namespace atlas::diagnostics {
namespace {

using model::StepField;

Finding DeviceFinding(std::string_view check, Severity severity, std::string title, Json evidence,
                      std::string why, std::string fix) {
  return MakeFinding(check, Category::kDevice, severity, std::move(title), std::move(evidence),
                     std::move(why), std::move(fix));
}

bool IsAccelerator(const std::string& type) { return type == "cuda" || type == "mps"; }

// The mean of a step field over the whole run, when at least `min_steps` steps reported it.
std::optional<double> RunMean(const RunTelemetry& run, StepField f, double min_steps) {
  const FieldStats& s = run.all_steps.field(f);
  if (static_cast<double>(s.count) < min_steps || s.empty()) return std::nullopt;
  return s.mean();
}

double GpuJoules(const RunTelemetry& run) {
  double j = 0;
  for (const EpochView& e : run.epochs) j += ComponentJoules(e, "gpu");
  return j;
}

// ----- device.low_utilization -----

void LowUtilization(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  if (DeviceType(run) != "cuda") return;
  const double limit = t.Get("device.low_utilization.gpu_util_percent");
  const auto util =
      RunMean(run, StepField::kGpuUtilPercent, t.Get("device.low_utilization.min_steps"));
  if (!util || *util >= limit) return;
  Finding f =
      DeviceFinding("device.low_utilization", Severity::kWarning,
                    "the GPU was busy only " + Fmt(*util) + "% of the time",
                    {{"mean_gpu_util_percent", *util},
                     {"threshold_percent", limit},
                     {"steps_measured", run.all_steps.field(StepField::kGpuUtilPercent).count}},
                    "A powered GPU draws a large share of its peak power even when idle: most of "
                    "its energy here bought no computation.",
                    "Feed the GPU more work per step: a larger batch, more DataLoader workers "
                    "(`DataLoader(..., num_workers=4, pin_memory=True)`), fewer host round-trips; "
                    "or train a model this small on the CPU.");
  for (const EpochView& e : run.epochs) {
    const FieldStats& u = e.steps.field(StepField::kGpuUtilPercent);
    if (!u.empty() && u.mean() < limit) f.epochs.push_back(e.record.epoch);
  }
  if (const double gpu = GpuJoules(run); gpu > 0) {
    f.energy_at_stake = StakeOf(gpu * (1 - *util / 100), run.carbon,
                                "GPU energy x idle share (" + Fmt(100 - *util) + "%)");
  }
  sink.Add(std::move(f));
}

// ----- device.cpu_only -----

std::string StringField(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

void CpuOnly(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const std::string type = DeviceType(run);
  if (!IsAccelerator(type)) return;
  if (run.device.contains("count") && run.device["count"].is_number() &&
      run.device["count"].get<double>() < 1) {
    return;
  }
  Json evidence = {{"available_device", type}};
  // The model's device as the run's hyperparameters or config name it ...
  std::string declared = StringField(run.hyperparameters, "device");
  if (declared.empty()) declared = StringField(run.config, "device");
  bool on_cpu = declared.rfind("cpu", 0) == 0;
  if (on_cpu) evidence["declared_device"] = declared;
  // ... or CUDA memory that stayed at zero over the steps that measured it.
  const FieldStats& allocated = run.all_steps.field(StepField::kCudaAllocatedBytes);
  if (!on_cpu && type == "cuda" &&
      static_cast<double>(allocated.count) >= t.Get("device.cpu_only.min_steps") &&
      allocated.max == 0) {
    on_cpu = true;
    evidence["max_cuda_allocated_bytes"] = 0;
    evidence["steps_measured"] = allocated.count;
  }
  if (!on_cpu) return;
  Finding f = DeviceFinding(
      "device.cpu_only", Severity::kWarning,
      "training ran on the CPU although a " + type + " device was available", std::move(evidence),
      "For all but the smallest models an accelerator does the same work many times "
      "faster and with less energy per sample.",
      "Move the model and each batch to the device: `device = torch.device('" + type +
          "'); model.to(device); x, y = x.to(device), y.to(device)`.");
  for (const EpochView& e : run.epochs) f.epochs.push_back(e.record.epoch);
  sink.Add(std::move(f));
}

// ----- device.dataloader_bound -----

void DataloaderBound(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double min_steps = t.Get("device.dataloader_bound.min_steps");
  const auto data = RunMean(run, StepField::kDataMs, min_steps);
  const auto step = RunMean(run, StepField::kStepMs, min_steps);
  if (!data || !step || *step <= 0) return;
  const double share = *data / *step;
  const double warn = t.Get("device.dataloader_bound.data_share");
  if (share < warn) return;
  const bool critical = share >= t.Get("device.dataloader_bound.critical_share");
  Finding f =
      DeviceFinding("device.dataloader_bound", critical ? Severity::kCritical : Severity::kWarning,
                    Pct(share) + " of each step is spent waiting for data",
                    {{"mean_data_ms", *data},
                     {"mean_step_ms", *step},
                     {"data_share", share},
                     {"threshold", warn},
                     {"critical_threshold", t.Get("device.dataloader_bound.critical_share")}},
                    "While the loader prepares the next batch the device sits idle but powered: "
                    "that share of the run's energy buys nothing.",
                    "Load in parallel and ahead: `DataLoader(ds, batch_size=..., num_workers=4, "
                    "pin_memory=True, persistent_workers=True, prefetch_factor=2)`; move "
                    "decoding and augmentation out of `__getitem__` or onto the GPU.");
  for (const EpochView& e : run.epochs) {
    const FieldStats& d = e.steps.field(StepField::kDataMs);
    const FieldStats& s = e.steps.field(StepField::kStepMs);
    if (!d.empty() && !s.empty() && s.mean() > 0 && d.mean() / s.mean() >= warn) {
      f.epochs.push_back(e.record.epoch);
    }
  }
  if (const double j = run.total_joules(); j > 0) {
    f.energy_at_stake = StakeOf(j * share, run.carbon, Pct(share) + " of the run's energy");
  }
  sink.Add(std::move(f));
}

// ----- device.throughput_degradation -----

// An epoch's throughput: samples/s when reported, else steps/s from step_ms.
std::optional<double> Throughput(const EpochView& e, bool samples) {
  if (samples) {
    const FieldStats& s = e.steps.field(StepField::kSamplesPerS);
    if (s.empty()) return std::nullopt;
    return s.mean();
  }
  const FieldStats& ms = e.steps.field(StepField::kStepMs);
  if (ms.empty() || ms.mean() <= 0) return std::nullopt;
  return 1000 / ms.mean();
}

void ThroughputDegradation(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const bool samples = !run.all_steps.field(StepField::kSamplesPerS).empty();
  std::vector<double> values;
  std::vector<std::int64_t> epochs;
  std::vector<std::size_t> indices;  // into run.epochs
  for (std::size_t i = 0; i < run.epochs.size(); ++i) {
    if (auto v = Throughput(run.epochs[i], samples)) {
      values.push_back(*v);
      epochs.push_back(run.epochs[i].record.epoch);
      indices.push_back(i);
    }
  }
  // A drop needs an earlier epoch to drop from, whatever the override says.
  if (values.size() <
      std::max<std::size_t>(2, t.Count("device.throughput_degradation.min_epochs"))) {
    return;
  }
  const double best = *std::max_element(values.begin(), values.end() - 1);
  const double drop = t.Get("device.throughput_degradation.drop");
  const double floor = (1 - drop) * best;
  if (values.back() >= floor) return;
  // A slowdown must last to count: on a shared machine another process can slow a run of
  // short epochs for a fraction of a second, which is a blip, not degradation, and costs
  // next to nothing. Epochs without a duration leave the decision to the drop alone.
  std::vector<std::int64_t> slow;
  double slow_seconds = 0;
  bool timed = false;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i] >= floor) continue;
    slow.push_back(epochs[i]);
    if (auto s = EpochSeconds(run, indices[i])) {
      slow_seconds += *s;
      timed = true;
    }
  }
  const double min_seconds = t.Get("device.throughput_degradation.min_seconds");
  if (timed && slow_seconds < min_seconds) return;
  const std::string unit = samples ? "samples/s" : "steps/s";
  Finding f =
      DeviceFinding("device.throughput_degradation", Severity::kWarning,
                    "throughput fell from " + Fmt(best) + " to " + Fmt(values.back()) + " " + unit,
                    {{"best_throughput", best},
                     {"last_throughput", values.back()},
                     {"unit", unit},
                     {"drop", 1 - values.back() / best},
                     {"threshold", drop},
                     {"slow_seconds", slow_seconds}},
                    "The same work now takes longer, so each epoch costs more energy than it did "
                    "(thermal throttling, memory fragmentation, a growing Python-side cost, "
                    "another job on the device).",
                    "Compare the slow epochs' step timings (data/forward/backward/optimizer); "
                    "check `nvidia-smi -q -d PERFORMANCE` for throttling and look for per-step "
                    "work that grows (lists of tensors, logging).");
  f.epochs = std::move(slow);
  sink.Add(std::move(f));
}

// ----- device.memory_growth -----

void MemoryGrowth(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const bool cuda = !run.all_steps.field(StepField::kCudaAllocatedBytes).empty();
  const StepField field = cuda ? StepField::kCudaAllocatedBytes : StepField::kRssBytes;
  std::vector<double> values;
  std::vector<std::int64_t> epochs;
  // From the second epoch: the first includes the allocator's and the framework's warm-up.
  for (std::size_t i = 1; i < run.epochs.size(); ++i) {
    const FieldStats& s = run.epochs[i].steps.field(field);
    if (s.empty()) continue;
    values.push_back(s.mean());
    epochs.push_back(run.epochs[i].record.epoch);
  }
  if (static_cast<double>(values.size()) + 1 < t.Get("device.memory_growth.min_epochs") ||
      values.size() < 2 || values.front() <= 0) {
    return;
  }
  int increases = 0;
  for (std::size_t i = 1; i < values.size(); ++i) increases += values[i] > values[i - 1] ? 1 : 0;
  const double monotone = static_cast<double>(increases) / static_cast<double>(values.size() - 1);
  const double growth = values.back() / values.front() - 1;
  if (growth < t.Get("device.memory_growth.growth") ||
      monotone < t.Get("device.memory_growth.monotone_fraction")) {
    return;
  }
  const std::string name = cuda ? "CUDA memory" : "process memory";
  Finding f = DeviceFinding(
      "device.memory_growth", Severity::kWarning,
      name + " grew " + Pct(growth) + " over " + std::to_string(values.size()) + " epochs",
      {{"field", std::string(model::kStepFields[static_cast<std::size_t>(field)].name)},
       {"first_bytes", values.front()},
       {"last_bytes", values.back()},
       {"growth", growth},
       {"threshold", t.Get("device.memory_growth.growth")},
       {"increasing_fraction", monotone}},
      "Memory that grows every epoch is a leak: the run will slow down or die of "
      "out-of-memory, and the energy spent until then is lost.",
      "Do not keep tensors that hold the graph across steps: log `loss.item()`, not "
      "`loss`; `.detach()` what you store; run evaluation under `torch.no_grad()`.");
  f.epochs = epochs;
  sink.Add(std::move(f));
}

// ----- device.slow_epoch -----

void SlowEpoch(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  std::vector<double> seconds;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < run.epochs.size(); ++i) {
    if (auto s = EpochSeconds(run, i)) {
      seconds.push_back(*s);
      index.push_back(i);
    }
  }
  if (static_cast<double>(seconds.size()) < t.Get("device.slow_epoch.min_epochs")) return;
  const double median = Median(seconds);
  const double factor = t.Get("device.slow_epoch.factor");
  if (median <= 0) return;
  std::vector<std::int64_t> slow;
  double worst = 0, extra_joules = 0;
  // The first epoch is left out: warm-up (cuDNN autotuning, compilation, caches) is expected.
  for (std::size_t k = 0; k < seconds.size(); ++k) {
    if (index[k] == 0 || seconds[k] <= factor * median) continue;
    const EpochView& e = run.epochs[index[k]];
    slow.push_back(e.record.epoch);
    worst = std::max(worst, seconds[k] / median);
    extra_joules += e.joules * (1 - median / seconds[k]);
  }
  if (slow.empty()) return;
  Finding f =
      DeviceFinding("device.slow_epoch", Severity::kInfo,
                    std::to_string(slow.size()) + " epoch(s) took up to " + Fmt(worst) +
                        "x the median epoch time",
                    {{"median_epoch_s", median}, {"worst_ratio", worst}, {"threshold", factor}},
                    "An epoch far slower than its peers spends energy on something other than "
                    "training: evaluation, checkpointing, contention or throttling.",
                    "Look at what ran in those epochs (events, step timings); evaluate and "
                    "checkpoint less often, or asynchronously.");
  f.epochs = slow;
  if (extra_joules > 0) {
    f.energy_at_stake =
        StakeOf(extra_joules, run.carbon, "energy of the slow epochs beyond the median epoch time");
  }
  sink.Add(std::move(f));
}

// ----- device.batch_too_small -----

void BatchTooSmall(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  std::optional<double> batch = run.batch_size;
  if (!batch) batch = RunMean(run, StepField::kSamples, 1);
  if (!batch || *batch <= 0 || *batch > t.Get("device.batch_too_small.max_batch")) return;
  Json evidence = {{"batch_size", *batch},
                   {"max_batch_threshold", t.Get("device.batch_too_small.max_batch")}};
  bool starved = false;
  const double min_steps = t.Get("device.low_utilization.min_steps");
  if (auto util = RunMean(run, StepField::kGpuUtilPercent, min_steps);
      util && DeviceType(run) == "cuda" &&
      *util < t.Get("device.batch_too_small.gpu_util_percent")) {
    starved = true;
    evidence["mean_gpu_util_percent"] = *util;
    evidence["gpu_util_threshold"] = t.Get("device.batch_too_small.gpu_util_percent");
  }
  const auto step = RunMean(run, StepField::kStepMs, min_steps);
  const auto fwd = RunMean(run, StepField::kForwardMs, min_steps);
  const auto bwd = RunMean(run, StepField::kBackwardMs, min_steps);
  if (step && fwd && bwd && *step > 0) {
    const double overhead = 1 - (*fwd + *bwd) / *step;
    if (overhead >= t.Get("device.batch_too_small.overhead_share")) {
      starved = true;
      evidence["overhead_share"] = overhead;
      evidence["overhead_threshold"] = t.Get("device.batch_too_small.overhead_share");
    }
  }
  if (!starved) return;
  Finding f = DeviceFinding(
      "device.batch_too_small", Severity::kWarning,
      "batches of " + Fmt(*batch) + " leave the device underused", std::move(evidence),
      "Per-step costs (kernel launches, optimizer, data transfer, Python) are paid "
      "once per batch: tiny batches spend most of the energy on overhead.",
      "Raise the batch size (e.g. `DataLoader(ds, batch_size=128)`) and scale the "
      "learning rate with it (linear scaling, with warm-up).");
  for (const EpochView& e : run.epochs) f.epochs.push_back(e.record.epoch);
  sink.Add(std::move(f));
}

// ----- device.host_sync -----

constexpr std::array<std::string_view, 6> kSyncOps = {
    "aten::_local_scalar_dense", "aten::item",           "cudaStreamSynchronize",
    "cudaDeviceSynchronize",     "cudaEventSynchronize", "cudaMemcpy"};

double NumberOr(const Json& obj, const char* key, double fallback) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<double>() : fallback;
}

void HostSync(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  double sync_ms = 0, step_cpu_ms = 0, calls = 0, steps = 0;
  bool device_profiled = false;
  for (const model::ProfileRecord& p : run.profiles) {
    const Json& d = p.data;
    if (!d.contains("top_ops") || !d["top_ops"].is_array()) continue;
    if (d.contains("activities") && d["activities"].is_array()) {
      for (const Json& a : d["activities"]) device_profiled |= a == "cuda";
    }
    double window_cpu = 0;
    if (d.contains("phases") && d["phases"].is_object()) {
      for (const auto& [phase, v] : d["phases"].items()) {
        if (v.is_object()) window_cpu += NumberOr(v, "cpu_ms", 0);
      }
    }
    double window_sync = 0, window_all = 0;
    for (const Json& op : d["top_ops"]) {
      if (!op.is_object() || !op.contains("name") || !op["name"].is_string()) continue;
      const double self = NumberOr(op, "self_cpu_ms", 0);
      window_all += self;
      const std::string name = op["name"].get<std::string>();
      if (std::find(kSyncOps.begin(), kSyncOps.end(), name) != kSyncOps.end()) {
        window_sync += self;
        calls += NumberOr(op, "calls", 0);
      }
    }
    sync_ms += window_sync;
    step_cpu_ms += window_cpu > 0 ? window_cpu : window_all;
    steps += NumberOr(d, "window_steps", 0);
  }
  // Synchronisation only costs where a device runs asynchronously from the host.
  if (!device_profiled || step_cpu_ms <= 0) return;
  const double share = sync_ms / step_cpu_ms;
  if (share < t.Get("device.host_sync.sync_share")) return;
  Finding f =
      DeviceFinding("device.host_sync", Severity::kWarning,
                    Pct(share) + " of profiled step time waits on host-device synchronisation",
                    {{"sync_ms", sync_ms},
                     {"profiled_cpu_ms", step_cpu_ms},
                     {"share", share},
                     {"threshold", t.Get("device.host_sync.sync_share")},
                     {"sync_calls", calls},
                     {"profiled_steps", steps},
                     {"ops", Json(std::vector<std::string>(kSyncOps.begin(), kSyncOps.end()))}},
                    "Each `.item()`, `.cpu()` or print of a device tensor stalls the host until "
                    "the device drains its queue: the GPU then idles while the host catches up.",
                    "Keep values on the device inside the loop: accumulate `running += "
                    "loss.detach()` and call `.item()` once per epoch; avoid `if tensor:` and "
                    "printing tensors per step.");
  for (const EpochView& e : run.epochs) f.epochs.push_back(e.record.epoch);
  sink.Add(std::move(f));
}

// ----- device.mixed_precision_missed -----

std::optional<double> Capability(const Json& device) {
  auto parse = [](const Json& v) -> std::optional<double> {
    if (v.is_number()) return v.get<double>();
    if (!v.is_string()) return std::nullopt;
    try {
      return std::stod(v.get<std::string>());
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  if (device.contains("capability")) return parse(device["capability"]);
  if (device.contains("devices") && device["devices"].is_array() && !device["devices"].empty() &&
      device["devices"][0].is_object() && device["devices"][0].contains("capability")) {
    return parse(device["devices"][0]["capability"]);
  }
  return std::nullopt;
}

// Whether the run says it trains in full float32 (true), in mixed or half precision (false), or
// does not say (nullopt). Keys are looked up in the hyperparameters, then the config.
std::optional<bool> Float32Training(const RunTelemetry& run) {
  for (const Json* obj : {&run.hyperparameters, &run.config}) {
    if (!obj->is_object()) continue;
    for (const char* key : {"amp", "mixed_precision", "autocast"}) {
      if (obj->contains(key) && (*obj)[key].is_boolean()) return !(*obj)[key].get<bool>();
    }
    for (const char* key : {"precision", "dtype"}) {
      if (!obj->contains(key)) continue;
      const Json& v = (*obj)[key];
      std::string s = v.is_string() ? v.get<std::string>() : v.is_number() ? v.dump() : "";
      if (s.empty()) continue;
      return s == "32" || s == "fp32" || s == "float32" || s == "torch.float32" || s == "32-true" ||
             s == "float";
    }
  }
  return std::nullopt;
}

void MixedPrecisionMissed(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  if (DeviceType(run) != "cuda") return;
  const std::optional<double> capability = Capability(run.device);
  const double min_capability = t.Get("device.mixed_precision_missed.min_capability");
  if (!capability || *capability < min_capability) return;
  if (Float32Training(run) != true) return;
  Finding f = DeviceFinding(
      "device.mixed_precision_missed", Severity::kWarning,
      "training in float32 on a GPU with tensor cores (capability " + Fmt(*capability) + ")",
      {{"capability", *capability}, {"min_capability", min_capability}, {"precision", "float32"}},
      "Tensor cores run fp16/bf16 matrix products several times faster than fp32: "
      "the same training takes less time and energy.",
      "Use automatic mixed precision: `with torch.autocast('cuda', "
      "dtype=torch.bfloat16): loss = model(x)` (with `torch.cuda.amp.GradScaler()` "
      "for float16).");
  for (const EpochView& e : run.epochs) f.epochs.push_back(e.record.epoch);
  sink.Add(std::move(f));
}

constexpr CheckInfo kDeviceChecks[] = {
    {"device.low_utilization", Category::kDevice, LowUtilization,
     "a powered GPU used less than the threshold on average"},
    {"device.cpu_only", Category::kDevice, CpuOnly,
     "training ran on the CPU while an accelerator was available"},
    {"device.dataloader_bound", Category::kDevice, DataloaderBound,
     "a large share of each step waits for the data loader"},
    {"device.throughput_degradation", Category::kDevice, ThroughputDegradation,
     "throughput fell well below the run's best epoch"},
    {"device.memory_growth", Category::kDevice, MemoryGrowth,
     "memory grows epoch after epoch (a leak)"},
    {"device.slow_epoch", Category::kDevice, SlowEpoch,
     "an epoch took far longer than the median epoch"},
    {"device.batch_too_small", Category::kDevice, BatchTooSmall,
     "a small batch leaves the device underused"},
    {"device.host_sync", Category::kDevice, HostSync,
     "profiled steps spend a large share in host-device synchronisation"},
    {"device.mixed_precision_missed", Category::kDevice, MixedPrecisionMissed,
     "float32 training on a GPU with tensor cores"},
};

}  // namespace

std::span<const CheckInfo> DeviceChecks() { return kDeviceChecks; }

}  // namespace atlas::diagnostics
