// The threshold table (docs/diagnostics.md, "Thresholds") and its per-project overrides.
#include "diagnostics/thresholds.hpp"

#include <array>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace atlas::diagnostics {
namespace {

constexpr std::string_view kAtlas = "Atlas default";

// Keys are "<check id>.<name>". Sections are owned by the engineer named in their comment.
constexpr std::array kThresholdTable = std::to_array<ThresholdInfo>({
    // --- layer / gradient / architecture (diag-engine-B) ---
    {"layer.dead.unit_active_fraction", 0.01, "fraction",
     "a unit active on fewer than this share of the inputs seen over the window is dead",
     "SageMaker Debugger dead_relu rule (active in < 1% of steps)"},
    {"layer.dead.layer_fraction", 0.5, "fraction",
     "a ReLU layer with more dead units than this share is flagged",
     "SageMaker Debugger dead_relu rule (> 50% of the layer)"},
    {"layer.dead.critical_fraction", 0.9, "fraction",
     "dead share from which the finding is critical (almost no gradient passes)", "Atlas default"},
    {"layer.dead.window", 10, "samples", "latest layer_stats samples judged", "Atlas default"},
    {"layer.dead.min_samples", 3, "samples",
     "samples needed before judging (one batch can leave a healthy unit silent)", "Atlas default"},
    {"layer.dormant_units.fraction", 0.3, "fraction",
     "share of units dormant but not dead (ReDo score <= tau) reported as info",
     "Sokar et al. 2023 (ReDo), tau = the observer's dormant_threshold (0.1)"},
    {"layer.dormant_units.warning_fraction", 0.5, "fraction",
     "dormant-but-not-dead share reported as a warning", "Atlas default"},
    {"layer.dormant_units.window", 10, "samples", "latest samples averaged", "Atlas default"},
    {"layer.dormant_units.min_samples", 3, "samples", "samples needed before judging",
     "Atlas default"},
    {"layer.saturated.fraction", 0.5, "fraction",
     "share of tanh/sigmoid outputs at their limits above which the layer is saturated",
     "DeepDiagnosis (ICSE'22): > 50% of tanh/sigmoid inputs beyond +-5"},
    {"layer.saturated.critical_fraction", 0.9, "fraction",
     "saturated share from which the finding is critical", "Atlas default"},
    {"layer.saturated.window", 10, "samples", "latest samples averaged", "Atlas default"},
    {"layer.saturated.min_samples", 2, "samples", "samples needed before judging", "Atlas default"},
    {"layer.not_updating.min_samples", 2, "samples",
     "samples with a gradient, an optimizer step elsewhere and no update of the layer",
     "Atlas default"},
    {"layer.not_updating.min_grad_to_weight", 1e-6, "ratio",
     "||grad|| / ||W|| below which a still layer is put down to a vanished gradient: lr x ratio "
     "is under float32's 1.2e-7 relative step for any lr up to 0.1",
     "Atlas default (IEEE 754 binary32 epsilon)"},
    {"layer.update_ratio.low", 1e-5, "ratio",
     "median ||dW|| / ||W|| below which a layer barely learns",
     "DeepDiagnosis (ICSE'22) update-ratio range [1e-5, 1e-1]"},
    {"layer.update_ratio.high", 0.1, "ratio", "median ||dW|| / ||W|| above which updates overshoot",
     "DeepDiagnosis (ICSE'22) update-ratio range [1e-5, 1e-1]"},
    {"layer.update_ratio.critical_high", 1.0, "ratio",
     "median update ratio from which the finding is critical (a step rewrites the weights)",
     "Atlas default"},
    {"layer.update_ratio.window", 10, "samples", "latest samples whose median is judged",
     "Atlas default"},
    {"layer.update_ratio.min_samples", 3, "samples", "samples needed before judging",
     "Atlas default"},
    {"layer.near_zero_weights.sparsity", 0.5, "fraction",
     "share of weights with |w| < 1e-8 reported as info", "Atlas default"},
    {"layer.near_zero_weights.warning_sparsity", 0.9, "fraction",
     "share of weights with |w| < 1e-8 reported as a warning", "Atlas default"},
    {"layer.near_zero_weights.collapse_scale", 0.005, "x",
     "weight_abs_mean x sqrt(fan_in) below which a layer's weights have collapsed (PyTorch's "
     "default init gives 0.5: this is 1% of it)",
     "Atlas default (He et al. 2015 fan-in scaling)"},
    {"layer.poor_init.max_step", 10, "steps",
     "the first layer_stats sample describes the initialisation only up to this step",
     "Atlas default"},
    {"layer.poor_init.std_growth", 100, "x",
     "activation std of the last Conv/Linear over the first's, at init, above which "
     "activations explode",
     "Atlas default (Glorot & Bengio 2010: variance should be preserved through depth)"},
    {"layer.poor_init.std_decay", 0.01, "x", "that ratio below which activations collapse",
     "Atlas default (Glorot & Bengio 2010)"},
    {"layer.poor_init.scale_high", 10, "x",
     "weight_abs_mean x sqrt(fan_in) above which the init is too large (default 0.5, He 1.13)",
     "Atlas default (He et al. 2015)"},
    {"layer.poor_init.scale_low", 0.02, "x",
     "weight_abs_mean x sqrt(fan_in) below which the init is too small",
     "Atlas default (He et al. 2015)"},
    {"gradient.vanishing.ratio", 1e-3, "ratio",
     "first-layer over last-layer gradient norm at or below which gradients vanish",
     "AutoTrainer (ICSE'21)"},
    {"gradient.vanishing.first_norm", 1e-4, "norm",
     "...together with a first-layer gradient norm at or below this", "AutoTrainer (ICSE'21)"},
    {"gradient.vanishing.mean_abs", 1e-7, "|g|",
     "mean |gradient| over the layers below which gradients vanish (alone)",
     "SageMaker Debugger vanishing_gradient rule"},
    {"gradient.vanishing.window", 10, "samples", "latest samples judged; a majority must vanish",
     "Atlas default"},
    {"gradient.vanishing.min_samples", 2, "samples", "vanishing samples needed", "Atlas default"},
    {"gradient.exploding.ratio", 70, "ratio",
     "first-layer over last-layer gradient norm at or above which gradients explode",
     "AutoTrainer (ICSE'21)"},
    {"gradient.exploding.norm", 1e3, "norm",
     "total gradient norm (all layers) at or above which gradients explode",
     "Atlas default (common clipping thresholds are 0.5-10)"},
    {"gradient.exploding.growth", 100, "x",
     "total gradient norm of the latest sample over the first's at or above which gradients "
     "explode",
     "Atlas default"},
    {"gradient.exploding.window", 10, "samples", "latest samples judged", "Atlas default"},
    {"gradient.exploding.min_samples", 2, "samples",
     "samples over the ratio needed (and a majority of the window)", "Atlas default"},
    {"gradient.noise_scale.batch_ratio", 10, "x",
     "batch size over the gradient noise scale (~ the critical batch size) from which the "
     "batch is too large",
     "McCandlish et al. 2018, 'An Empirical Model of Large-Batch Training'"},
    {"gradient.noise_scale.window", 10, "samples", "latest measurements whose median is used",
     "Atlas default"},
    {"gradient.noise_scale.min_samples", 2, "samples", "measurements needed", "Atlas default"},
    {"architecture.overparameterized_layer.ratio", 10, "ratio",
     "a Conv/Linear layer's share of the parameters over its share of the FLOPs above which it "
     "is over-parameterised",
     "Atlas issue 4 (params% / compute% > 10)"},
    {"architecture.overparameterized_layer.min_param_share", 0.2, "fraction",
     "the layer must also hold at least this share of the parameters", "Atlas default"},
    {"architecture.fc_dominance.param_share", 0.8, "fraction",
     "share of a CNN's parameters in Linear layers from which the head dominates",
     "Atlas default (GAP heads: Lin et al. 2014, 'Network in Network')"},
    {"architecture.missing_downsampling.full_res_convs", 3, "layers",
     "convolutions whose output keeps more than half the input's resolution on every side",
     "Atlas default (VGG/ResNet downsample after at most two convolutions per stage)"},
    {"architecture.redundant_layers.unit_correlation", 0.95, "correlation",
     "least per-sample correlation of a block's input and output per-unit activation "
     "profiles from which the block barely changes its input",
     "Atlas default (healthy layers: ~0, units are unrelated across a layer)"},
    {"architecture.redundant_layers.angular_distance", 0.05, "fraction of pi",
     "median angular distance between a block's input and output below which it is redundant "
     "(used when the observer sends extra.angular_distance)",
     "Gromov et al. 2024, 'The Unreasonable Ineffectiveness of the Deeper Layers'"},
    {"architecture.redundant_layers.min_units", 16, "units",
     "units needed for a profile correlation", "Atlas default"},
    {"architecture.redundant_layers.window", 10, "samples", "latest samples judged",
     "Atlas default"},
    {"architecture.redundant_layers.min_samples", 3, "samples", "samples needed (all must agree)",
     "Atlas default"},
    {"architecture.large_kernel.kernel_area", 49, "elements",
     "Conv2d kernel area (k_h x k_w) from which a kernel is large (7x7)",
     "Simonyan & Zisserman 2015 (VGG: stacked 3x3 instead of 7x7)"},
    {"architecture.large_kernel.min_compute_share", 0.05, "fraction",
     "the convolution must do at least this share of the FLOPs", "Atlas default"},
    {"architecture.large_kernel.warning_compute_share", 0.25, "fraction",
     "compute share from which the finding is a warning", "Atlas default"},
    {"architecture.early_channel_explosion.factor", 2, "x",
     "first convolution's channels over the widest later convolution's", "Atlas default"},
    {"architecture.early_channel_explosion.min_channels", 32, "channels",
     "the first convolution must have at least this many channels", "Atlas default"},
    {"architecture.conv_bottleneck.factor", 8, "x",
     "a convolution narrower than both neighbours by this factor squeezes too hard",
     "Atlas default (ResNet bottlenecks squeeze 4x)"},
    {"architecture.compute_hotspot.share", 0.5, "fraction",
     "one layer's share of the forward FLOPs from which it is the hotspot", "Atlas default"},
    {"architecture.compute_hotspot.min_layers", 3, "layers",
     "compute layers (Conv, Linear, attention, recurrent) the model needs for the check",
     "Atlas default"},
    {"architecture.excess_dropout.p", 0.5, "probability",
     "a logged dropout rate above this is excessive",
     "Srivastava et al. 2014 (p = 0.5 for hidden units at most)"},

    // --- convergence (diag-engine-A) ---
    {"convergence.past_optimal_stop.patience", 3, "epochs",
     "epochs without an improvement beyond the noise margin before the online rule says stop",
     "Prechelt 1998, 'Early stopping - but when?' (UP_s / patience family)"},
    {"convergence.past_optimal_stop.noise_k", 2, "sigma",
     "an improvement counts only when it exceeds this many epoch-to-epoch noise deviations",
     "Atlas default (two standard deviations: a noise-aware margin instead of a fixed delta)"},
    {"convergence.past_optimal_stop.min_rel_delta", 0.001, "fraction",
     "floor of the improvement margin, relative to the best value",
     "Atlas default (Keras EarlyStopping min_delta practice)"},
    {"convergence.past_optimal_stop.gl_alpha", 5, "percent",
     "generalisation loss GL = 100 (val / best val - 1) that stops at once (validation only)",
     "Prechelt 1998, GL_5"},
    {"convergence.past_optimal_stop.tolerance", 0.01, "fraction",
     "in retrospect the optimal stop is the earliest epoch within this of the best value",
     "Atlas default (1%: below the run-to-run spread of most published results)"},
    {"convergence.past_optimal_stop.pitch_fraction", 0.05, "fraction",
     "the pitch's rule: stop when an epoch's improvement is below this share of the "
     "cumulative improvement",
     "Atlas pitch"},
    {"convergence.plateau.window", 5, "epochs", "epochs the training loss is compared over",
     "Atlas default (ReduceLROnPlateau-style window)"},
    {"convergence.plateau.min_rel_improvement", 0.01, "fraction",
     "improvement over the window, relative to the loss, below which training is flat",
     "Atlas default"},
    {"convergence.plateau.min_learned", 0.1, "fraction",
     "the loss must first have fallen by this share of its start (else it is no_progress)",
     "Atlas default"},
    {"convergence.no_progress.min_epochs", 3, "epochs", "epochs before the check judges",
     "Atlas default"},
    {"convergence.no_progress.min_rel_improvement", 0.01, "fraction",
     "best training loss must be below the first by this share of it", "Atlas default"},
    {"convergence.divergence.rise_fraction", 0.5, "fraction",
     "training loss this far above its best, rising in consecutive epochs, is divergence",
     "Atlas default"},
    {"convergence.divergence.rising_epochs", 2, "epochs",
     "consecutive epochs of rising training loss required", "Atlas default"},
    {"convergence.loss_explosion.factor", 10, "x",
     "a step loss this many times the typical loss of earlier epochs is an explosion",
     "Atlas default (AutoTrainer flags losses growing by orders of magnitude)"},
    {"convergence.overfitting.gap", 0.1, "ratio",
     "generalisation gap (val - train) / train above which a run overfits",
     "SageMaker Debugger overfit rule"},
    {"convergence.overfitting.val_rise", 0.05, "fraction",
     "validation loss this far above its best while training loss still falls",
     "Atlas default (Prechelt GL_5 uses 5%)"},
    {"convergence.oscillation.min_epochs", 6, "epochs", "epochs needed to judge oscillation",
     "Atlas default"},
    {"convergence.oscillation.alternation", 0.7, "fraction",
     "share of consecutive epoch-to-epoch changes that flip sign", "Atlas default"},
    {"convergence.oscillation.back_and_forth", 3, "x",
     "mean absolute change over absolute net change per epoch: moves mostly cancel",
     "Atlas default"},
    {"convergence.noisy_loss.cv", 1.0, "ratio",
     "median over epochs (after the first) of step-loss std / |mean|", "Atlas default"},
    {"convergence.noisy_loss.min_steps", 20, "steps", "steps an epoch needs to be judged",
     "Atlas default"},
    {"convergence.leakage.val_train_ratio", 0.5, "ratio",
     "val loss below this share of train loss in every epoch after the first",
     "Atlas default (dropout and augmentation explain gaps of 10-30%, not 2x)"},
    {"convergence.leakage.min_epochs", 3, "epochs", "epochs needed for the loss-ratio rule",
     "Atlas default"},
    {"convergence.leakage.instant_accuracy", 0.995, "fraction",
     "validation accuracy after the first epoch that is suspicious", "Atlas default"},
    {"convergence.leakage.accuracy_margin", 0.05, "fraction",
     "validation accuracy above the training accuracy of the first epoch by this much",
     "Atlas default"},

    // --- device (diag-engine-A) ---
    {"device.low_utilization.gpu_util_percent", 20, "percent",
     "mean GPU utilisation below which a powered GPU is mostly idle", "Atlas issue 4 (pitch)"},
    {"device.low_utilization.min_steps", 20, "steps", "steps with a utilisation reading needed",
     "Atlas default"},
    {"device.cpu_only.min_steps", 10, "steps", "steps with a CUDA memory reading needed",
     "Atlas default"},
    {"device.dataloader_bound.data_share", 0.5, "fraction",
     "share of step time spent waiting for data (warning): the wait exceeds the compute, so the "
     "input pipeline is the bottleneck",
     "PyTorch performance tuning guide; Atlas default"},
    {"device.dataloader_bound.critical_share", 0.75, "fraction",
     "share of step time spent waiting for data (critical)", "Atlas default"},
    {"device.dataloader_bound.min_steps", 10, "steps", "steps with timings needed",
     "Atlas default"},
    {"device.throughput_degradation.drop", 0.3, "fraction",
     "drop of the last epoch's throughput below the best earlier epoch", "Atlas default"},
    {"device.throughput_degradation.min_epochs", 3, "epochs", "epochs needed", "Atlas default"},
    {"device.throughput_degradation.min_seconds", 10, "seconds",
     "seconds the slow epochs must last together: a shorter slowdown is a passing blip (another "
     "process on the machine), not degradation",
     "Atlas default"},
    {"device.memory_growth.growth", 0.2, "fraction",
     "growth of mean memory from the second epoch to the last", "Atlas default"},
    {"device.memory_growth.monotone_fraction", 0.8, "fraction",
     "share of epoch-to-epoch changes that must be increases", "Atlas default"},
    {"device.memory_growth.min_epochs", 4, "epochs", "epochs needed", "Atlas default"},
    {"device.slow_epoch.factor", 2, "x", "an epoch this many times the median epoch time",
     "Atlas default"},
    {"device.slow_epoch.min_epochs", 3, "epochs", "epochs needed", "Atlas default"},
    {"device.batch_too_small.max_batch", 16, "samples",
     "mean samples per step at or below which the batch is small", "Atlas default"},
    {"device.batch_too_small.gpu_util_percent", 50, "percent",
     "GPU utilisation below which a small batch leaves the GPU idle", "Atlas default"},
    {"device.batch_too_small.overhead_share", 0.5, "fraction",
     "share of step time outside forward and backward (fixed per-step overhead)", "Atlas default"},
    {"device.host_sync.sync_share", 0.1, "fraction",
     "share of profiled step CPU time in host-device synchronisation ops", "Atlas default"},
    {"device.mixed_precision_missed.min_capability", 7.0, "capability",
     "CUDA compute capability from which tensor cores run fp16/bf16",
     "NVIDIA Volta (7.0) and later; PyTorch AMP docs"},

    // --- carbon (diag-engine-A) ---
    {"carbon.spike.factor", 10, "x", "an epoch's CO2 over the mean of the other epochs",
     "Atlas issue 4"},
    {"carbon.spike.min_epochs", 3, "epochs", "epochs needed", "Atlas default"},
    {"carbon.inefficient_epoch.factor", 10, "x",
     "an epoch's CO2 per unit of loss gained over the median of the run's epochs",
     "Atlas issue 4 (median instead of mean: the mean is dominated by the epochs it looks for)"},
    {"carbon.inefficient_epoch.min_epochs", 4, "epochs", "epochs needed", "Atlas default"},
    {"carbon.idle_power.idle_share", 0.5, "fraction",
     "share of an epoch's wall time outside training steps while energy was drawn",
     "Atlas default"},
    {"carbon.cpu_dominates.cpu_share", 0.5, "fraction",
     "share of measured energy used by CPU and RAM on a GPU run", "Atlas default"},
    {"carbon.forecast_over_budget.fraction", 1.0, "fraction",
     "projected CO2 for the planned epochs over the budget", "Atlas default (the budget itself)"},
    {"carbon.high_intensity_grid.g_co2_per_kwh", 480, "g/kWh",
     "grid intensity above the world average",
     "Ember, Global Electricity Review 2024 (2023 world "
     "average 480 g/kWh)"},
});

}  // namespace

std::span<const ThresholdInfo> ThresholdTable() { return kThresholdTable; }

Thresholds::Thresholds() {
  for (const ThresholdInfo& t : kThresholdTable) values_.emplace(std::string(t.key), t.value);
}

Result<Thresholds> Thresholds::WithOverrides(const nlohmann::json& overrides) {
  Thresholds thresholds;
  if (overrides.is_null()) return thresholds;
  if (!overrides.is_object()) {
    return Status::InvalidArgument("thresholds: expected an object of \"key\": number");
  }
  for (const auto& [key, value] : overrides.items()) {
    auto it = thresholds.values_.find(key);
    if (it == thresholds.values_.end()) {
      return Status::InvalidArgument("thresholds." + key + ": unknown threshold");
    }
    if (!value.is_number() || !std::isfinite(value.get<double>())) {
      return Status::InvalidArgument("thresholds." + key + ": expected a finite number");
    }
    it->second = value.get<double>();
  }
  return thresholds;
}

double Thresholds::Get(std::string_view key) const {
  auto it = values_.find(key);
  assert(it != values_.end() && "threshold key missing from kThresholdTable");
  if (it == values_.end()) return std::nan("");
  return it->second;
}

std::size_t Thresholds::Count(std::string_view key) const {
  const double v = Get(key);
  if (!std::isfinite(v) || v <= 0) return 0;
  // An override may be any finite number. Capped where no run reaches, so a check can still add
  // to the count without overflowing.
  constexpr std::size_t kMax = std::numeric_limits<std::uint32_t>::max();
  return v >= static_cast<double>(kMax) ? kMax : static_cast<std::size_t>(v);
}

nlohmann::json Thresholds::Overrides() const {
  nlohmann::json out = nlohmann::json::object();
  for (const ThresholdInfo& t : kThresholdTable) {
    const double v = Get(t.key);
    if (v != t.value) out[std::string(t.key)] = v;
  }
  return out;
}

}  // namespace atlas::diagnostics
