// The convergence checks (docs/diagnostics.md, "Convergence checks"): read the epochs' train and
// validation metrics and the aggregates of their step losses.
#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "diagnostics/check.hpp"
#include "diagnostics/engine.hpp"
#include "diagnostics/signals.hpp"

namespace atlas::diagnostics {
namespace {

using model::StepField;

Finding ConvergenceFinding(std::string_view check, Severity severity, std::string title,
                           Json evidence, std::string why, std::string fix) {
  return MakeFinding(check, Category::kConvergence, severity, std::move(title), std::move(evidence),
                     std::move(why), std::move(fix));
}

std::vector<std::int64_t> EpochsFrom(const EpochSeries& s, std::size_t first) {
  return {s.epochs.begin() + static_cast<std::ptrdiff_t>(first), s.epochs.end()};
}

// The device energy of the epochs after `epoch`, as energy at stake; none when no energy.
std::optional<EnergyAtStake> StakeAfter(const RunTelemetry& run, std::int64_t epoch) {
  double joules = 0;
  int epochs = 0;
  for (const EpochView& e : run.epochs) {
    if (e.record.epoch <= epoch) continue;
    joules += e.joules;
    ++epochs;
  }
  if (joules <= 0) return std::nullopt;
  return StakeOf(
      joules, run.carbon,
      "energy of the " + std::to_string(epochs) + " epochs after epoch " + std::to_string(epoch));
}

std::optional<EnergyAtStake> StakeAll(const RunTelemetry& run, std::string basis) {
  const double joules = run.total_joules();
  if (joules <= 0) return std::nullopt;
  return StakeOf(joules, run.carbon, std::move(basis));
}

std::size_t ArgMin(const std::vector<double>& v) {
  return static_cast<std::size_t>(std::min_element(v.begin(), v.end()) - v.begin());
}

// ----- convergence.past_optimal_stop -----

void PastOptimalStop(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const Stopping st = AnalyseStopping(run, t);
  if (!st.online_stop_epoch || !st.best_epoch || !st.optimal_epoch) return;
  const std::int64_t last = run.epochs.back().record.epoch;
  Finding f = ConvergenceFinding(
      "convergence.past_optimal_stop", Severity::kWarning,
      st.metric + " stopped improving at epoch " + std::to_string(*st.best_epoch) +
          "; the optimal stop was epoch " + std::to_string(*st.optimal_epoch),
      {{"metric", st.metric},
       {"best_epoch", *st.best_epoch},
       {"best_value", *st.best_value},
       {"optimal_epoch", *st.optimal_epoch},
       {"tolerance", st.tolerance},
       {"online_stop_epoch", *st.online_stop_epoch},
       {"online_rule", st.online_rule},
       {"last_epoch", last},
       {"pitch_rule_epoch", st.pitch_rule_epoch ? Json(*st.pitch_rule_epoch) : Json()}},
      "Every epoch after the optimal stop costs the same energy as an improving one "
      "and buys no better model.",
      "Stop training at epoch " + std::to_string(*st.optimal_epoch) +
          " (keep the checkpoint of epoch " + std::to_string(*st.best_epoch) +
          "): add early stopping, e.g. `if epochs_since_best >= " +
          Fmt(t.Get("convergence.past_optimal_stop.patience")) +
          ": break`, or honour `observer.should_stop` in the loop.");
  for (const EpochView& e : run.epochs) {
    if (e.record.epoch > *st.optimal_epoch) f.epochs.push_back(e.record.epoch);
  }
  f.energy_at_stake = StakeAfter(run, *st.optimal_epoch);
  sink.Add(std::move(f));
}

// ----- convergence.plateau -----

void Plateau(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const EpochSeries s = TrainLossSeries(run);
  const auto window = t.Count("convergence.plateau.window");
  if (window < 1 || s.size() < window + 1) return;
  const std::size_t split = s.size() - window;
  const double start = s.values[0];
  const double before =
      *std::min_element(s.values.begin(), s.values.begin() + static_cast<std::ptrdiff_t>(split));
  const double recent =
      *std::min_element(s.values.begin() + static_cast<std::ptrdiff_t>(split), s.values.end());
  if (start == 0 || before == 0) return;
  const double learned = (start - before) / std::fabs(start);
  const double improvement = (before - recent) / std::fabs(before);
  if (learned < t.Get("convergence.plateau.min_learned")) return;  // that is no_progress
  if (improvement >= t.Get("convergence.plateau.min_rel_improvement")) return;
  // A rising loss is divergence, not a plateau.
  if (s.values.back() > before * (1 + t.Get("convergence.divergence.rise_fraction"))) return;
  Finding f = ConvergenceFinding(
      "convergence.plateau", Severity::kInfo,
      s.name + " flat for the last " + std::to_string(window) + " epochs (" + Pct(improvement) +
          " better)",
      {{"metric", s.name},
       {"window_epochs", window},
       {"best_before_window", before},
       {"best_in_window", recent},
       {"relative_improvement", improvement},
       {"threshold", t.Get("convergence.plateau.min_rel_improvement")}},
      "Epochs on a training-loss plateau spend full energy while the optimizer makes "
      "no progress.",
      "Decay the learning rate when the loss stalls, e.g. "
      "`torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2)`, or stop if "
      "validation is flat too.");
  f.epochs = EpochsFrom(s, split);
  sink.Add(std::move(f));
}

// ----- convergence.no_progress -----

void NoProgress(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const EpochSeries s = TrainLossSeries(run);
  // The best epoch after the first is judged against the start, so two epochs at least.
  if (s.size() < std::max<std::size_t>(2, t.Count("convergence.no_progress.min_epochs"))) return;
  double start = s.values[0];
  // The first step's loss, when known, is the untrained model's: learning inside epoch 0 counts.
  const FieldStats& first_steps = run.epochs[s.index[0]].steps.field(StepField::kLoss);
  if (!first_steps.empty() && std::isfinite(first_steps.first)) {
    start = std::max(start, first_steps.first);
  }
  if (start == 0) return;
  const double best = *std::min_element(s.values.begin() + 1, s.values.end());
  const double improvement = (start - best) / std::fabs(start);
  if (improvement >= t.Get("convergence.no_progress.min_rel_improvement")) return;
  Finding f = ConvergenceFinding(
      "convergence.no_progress", Severity::kCritical,
      s.name + " has not improved in " + std::to_string(s.size()) + " epochs",
      {{"metric", s.name},
       {"start", start},
       {"best", best},
       {"relative_improvement", improvement},
       {"threshold", t.Get("convergence.no_progress.min_rel_improvement")}},
      "The model is not learning: all the energy of the run so far bought nothing.",
      "Check that the optimizer was given the model's parameters "
      "(`optim.SGD(model.parameters(), ...)`), that `optimizer.step()` and "
      "`loss.backward()` run, that the learning rate is not ~0, and that labels "
      "match inputs.");
  f.epochs = s.epochs;
  f.energy_at_stake = StakeAll(run, "all the energy of the run so far");
  sink.Add(std::move(f));
}

// ----- convergence.divergence -----

void Divergence(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  // A training loss that became NaN or infinite.
  std::vector<std::int64_t> nonfinite;
  for (const EpochView& e : run.epochs) {
    if (auto v = e.Train("loss"); v && !std::isfinite(*v)) nonfinite.push_back(e.record.epoch);
  }
  if (!nonfinite.empty()) {
    Finding f = ConvergenceFinding(
        "convergence.divergence", Severity::kCritical,
        "training loss is non-finite from epoch " + std::to_string(nonfinite[0]),
        {{"nonfinite_epochs", nonfinite}},
        "A NaN or infinite loss means the weights are destroyed; every further epoch "
        "is wasted energy.",
        "Lower the learning rate, clip gradients "
        "(`torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)`), and look for "
        "log/division of zero in the loss.");
    f.epochs = nonfinite;
    f.energy_at_stake = StakeAfter(run, nonfinite[0] - 1);
    sink.Add(std::move(f));
    return;
  }
  const EpochSeries s = TrainLossSeries(run);
  const auto rising = t.Count("convergence.divergence.rising_epochs");
  if (s.size() < rising + 2) return;
  const std::size_t best = ArgMin(s.values);
  const std::size_t last = s.size() - 1;
  for (std::size_t i = last - rising + 1; i <= last; ++i) {
    if (s.values[i] <= s.values[i - 1]) return;
  }
  const double rise = t.Get("convergence.divergence.rise_fraction");
  if (s.values[last] <= s.values[best] + rise * std::fabs(s.values[best])) return;
  // Near a converged loss of ~0 a relative rise is cheap (0.01 -> 0.02 doubles it): the rise
  // must also undo a tenth of the progress made from the first epoch to the best.
  constexpr double kMinUndone = 0.1;
  const double progress = s.values[0] - s.values[best];
  if (progress > 0 && s.values[last] - s.values[best] < kMinUndone * progress) return;
  const bool worse_than_start = s.values[last] > s.values[0];
  Finding f = ConvergenceFinding(
      "convergence.divergence", worse_than_start ? Severity::kCritical : Severity::kWarning,
      s.name + " rose from " + Fmt(s.values[best]) + " (epoch " + std::to_string(s.epochs[best]) +
          ") to " + Fmt(s.values[last]),
      {{"metric", s.name},
       {"best_epoch", s.epochs[best]},
       {"best", s.values[best]},
       {"last", s.values[last]},
       {"rise_fraction", (s.values[last] - s.values[best]) / std::fabs(s.values[best])},
       {"threshold", rise},
       {"worse_than_first_epoch", worse_than_start}},
      "Training is moving away from its best: the epochs since then undo progress "
      "and cost energy.",
      "Lower the learning rate (e.g. by 10x) or add warm-up and gradient clipping "
      "(`torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)`).");
  f.epochs = EpochsFrom(s, best + 1);
  f.energy_at_stake = StakeAfter(run, s.epochs[best]);
  sink.Add(std::move(f));
}

// ----- convergence.loss_explosion -----

void LossExplosion(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const double factor = t.Get("convergence.loss_explosion.factor");
  std::vector<double> earlier_means;
  auto check_epoch = [&](const StepAggregate& steps, std::int64_t epoch) {
    const FieldStats& loss = steps.field(StepField::kLoss);
    if (loss.nonfinite > 0) {
      Finding f = ConvergenceFinding(
          "convergence.loss_explosion", Severity::kCritical,
          std::to_string(loss.nonfinite) + " step losses were NaN or infinite",
          {{"nonfinite_steps", loss.nonfinite}, {"finite_steps", loss.count}},
          "A non-finite step loss poisons the weights through the update; training "
          "on after it wastes every following step.",
          "Clip gradients (`torch.nn.utils.clip_grad_norm_(model.parameters(), "
          "1.0)`), lower the learning rate, and guard the loss "
          "(`torch.nan_to_num` is a last resort; find the log(0) or 0/0).");
      f.epochs = {epoch};
      sink.Add(std::move(f));
    }
    if (!loss.empty()) {
      // Against the highest epoch mean so far (usually the first epoch's): step losses are
      // heavy-tailed near convergence, and a batch at 20x a converged mean is no explosion.
      // In the first epoch, against its first step's loss (the untrained model's).
      const double typical = earlier_means.empty()
                                 ? loss.first
                                 : *std::max_element(earlier_means.begin(), earlier_means.end());
      if (typical > 0 && loss.max > factor * typical) {
        Finding f = ConvergenceFinding(
            "convergence.loss_explosion", Severity::kWarning,
            "a step loss of " + Fmt(loss.max) + " in epoch " + std::to_string(epoch) + " (" +
                Fmt(loss.max / typical) +
                (earlier_means.empty() ? "x the first step's loss)"
                                       : "x the highest epoch mean before it)"),
            {{"max_step_loss", loss.max},
             {"typical_loss", typical},
             {"ratio", loss.max / typical},
             {"threshold", factor}},
            "Loss spikes undo progress (epochs spent to recover it) and are often "
            "the first sign of divergence.",
            "Clip gradients (`torch.nn.utils.clip_grad_norm_(model.parameters(), "
            "1.0)`), add learning-rate warm-up, or lower the learning rate.");
        f.epochs = {epoch};
        sink.Add(std::move(f));
      }
    }
    if (!loss.empty()) earlier_means.push_back(loss.mean());
  };
  for (const EpochView& e : run.epochs) check_epoch(e.steps, e.record.epoch);
  if (run.open_epoch.steps > 0) {
    check_epoch(run.open_epoch, run.epochs.empty() ? 0 : run.epochs.back().record.epoch + 1);
  }
}

// ----- convergence.overfitting -----

void Overfitting(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const EpochSeries val = MetricSeries(run, "val", "loss");
  if (val.size() < 3) return;
  const EpochSeries train = TrainLossSeries(run);
  auto train_at = [&](std::size_t epoch_index) -> std::optional<double> {
    for (std::size_t i = 0; i < train.size(); ++i) {
      if (train.index[i] == epoch_index) return train.values[i];
    }
    return std::nullopt;
  };
  const std::size_t best = ArgMin(val.values);
  const std::size_t last = val.size() - 1;
  if (best == last) return;
  const std::optional<double> train_best = train_at(val.index[best]);
  const std::optional<double> train_last = train_at(val.index[last]);
  if (!train_best || !train_last || *train_last == 0) return;
  const double sigma = NoiseSigma(val.values);
  const double rise = val.values[last] - val.values[best];
  const double needed =
      std::max(t.Get("convergence.overfitting.val_rise") * std::fabs(val.values[best]),
               t.Get("convergence.past_optimal_stop.noise_k") * sigma);
  const double gap = (val.values[last] - *train_last) / std::fabs(*train_last);
  if (rise <= needed || *train_last >= *train_best || gap <= t.Get("convergence.overfitting.gap")) {
    return;
  }
  Finding f = ConvergenceFinding(
      "convergence.overfitting", Severity::kWarning,
      "validation loss rose " + Pct(rise / std::fabs(val.values[best])) + " since epoch " +
          std::to_string(val.epochs[best]) + " while training loss kept falling",
      {{"best_val_epoch", val.epochs[best]},
       {"best_val_loss", val.values[best]},
       {"last_val_loss", val.values[last]},
       {"train_loss_at_best", *train_best},
       {"last_train_loss", *train_last},
       {"generalisation_gap", gap},
       {"gap_threshold", t.Get("convergence.overfitting.gap")},
       {"val_rise_threshold", needed}},
      "The model now memorises the training set: the energy of these epochs makes "
      "its results worse.",
      "Stop at epoch " + std::to_string(val.epochs[best]) +
          " (early stopping), and regularise: more data or augmentation, weight "
          "decay (`torch.optim.AdamW(model.parameters(), weight_decay=0.01)`), "
          "dropout (`nn.Dropout(0.2)`).");
  f.epochs = EpochsFrom(val, best + 1);
  f.energy_at_stake = StakeAfter(run, val.epochs[best]);
  sink.Add(std::move(f));
}

// ----- convergence.oscillation -----

void Oscillation(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  const EpochSeries s = TrainLossSeries(run);
  const auto min_epochs = t.Count("convergence.oscillation.min_epochs");
  if (min_epochs < 3 || s.size() < min_epochs) return;
  // The most recent 2 x min_epochs epochs: an oscillation early in training may have settled.
  const std::size_t first = s.size() > 2 * min_epochs ? s.size() - 2 * min_epochs : 0;
  std::vector<double> d;
  for (std::size_t i = first + 1; i < s.size(); ++i) d.push_back(s.values[i] - s.values[i - 1]);
  int flips = 0, pairs = 0;
  double abs_sum = 0, level = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    abs_sum += std::fabs(d[i]);
    if (i > 0 && d[i] != 0 && d[i - 1] != 0) {
      ++pairs;
      if ((d[i] > 0) != (d[i - 1] > 0)) ++flips;
    }
  }
  for (std::size_t i = first; i < s.size(); ++i) level += std::fabs(s.values[i]);
  level /= static_cast<double>(s.size() - first);
  const double mean_abs = abs_sum / static_cast<double>(d.size());
  const double net = std::fabs(s.values.back() - s.values[first]) / static_cast<double>(d.size());
  const double alternation = pairs ? static_cast<double>(flips) / pairs : 0;
  // Swings of at least 5% of the loss: noise around a converged loss alternates too, in small
  // steps that the noise_loss and plateau checks describe better.
  constexpr double kMinSwing = 0.05;
  // And at least 5% of the progress since the first epoch: a converged loss jitters by
  // large fractions of its tiny value.
  const double progress = s.values[0] - *std::min_element(s.values.begin(), s.values.end());
  if (alternation < t.Get("convergence.oscillation.alternation") ||
      mean_abs < t.Get("convergence.oscillation.back_and_forth") * net ||
      mean_abs < kMinSwing * level || (progress > 0 && mean_abs < kMinSwing * progress)) {
    return;
  }
  Finding f = ConvergenceFinding(
      "convergence.oscillation", Severity::kWarning,
      s.name + " swings up and down between epochs (" + Pct(alternation) +
          " of changes flip direction)",
      {{"metric", s.name},
       {"alternation", alternation},
       {"alternation_threshold", t.Get("convergence.oscillation.alternation")},
       {"mean_abs_change", mean_abs},
       {"mean_net_change", net},
       {"back_and_forth_threshold", t.Get("convergence.oscillation.back_and_forth")}},
      "Oscillating loss means steps overshoot: epochs undo each other and energy is "
      "spent going back and forth.",
      "Lower the learning rate (e.g. by 3x) or use a decaying schedule "
      "(`torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)`).");
  f.epochs = EpochsFrom(s, first);
  sink.Add(std::move(f));
}

// ----- convergence.noisy_loss -----

void NoisyLoss(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  std::vector<double> cvs;
  std::vector<std::int64_t> epochs;
  if (run.epochs.size() < 2) return;
  const double start = run.epochs[0].steps.field(StepField::kLoss).mean();
  // Epoch 0 is left out (its loss falls fastest, and that trend is not noise), and so is the
  // second half of the run and any epoch whose loss is below 5% of epoch 0's: near
  // convergence per-batch losses are heavy-tailed and their relative spread says nothing
  // about the gradient noise that slows training.
  constexpr double kConverged = 0.05;
  const std::size_t end = std::max<std::size_t>(2, (run.epochs.size() + 1) / 2);
  for (std::size_t i = 1; i < end; ++i) {
    const FieldStats& loss = run.epochs[i].steps.field(StepField::kLoss);
    if (static_cast<double>(loss.count) < t.Get("convergence.noisy_loss.min_steps")) continue;
    const double mean = loss.mean();
    if (std::isfinite(start) && start > 0 && mean < kConverged * start) continue;
    const double sd = loss.stddev();
    if (!std::isfinite(sd) || mean == 0) continue;
    cvs.push_back(sd / std::fabs(mean));
    epochs.push_back(run.epochs[i].record.epoch);
  }
  if (cvs.empty()) return;
  const double cv = Median(cvs);
  if (cv <= t.Get("convergence.noisy_loss.cv")) return;
  Finding f = ConvergenceFinding(
      "convergence.noisy_loss", Severity::kWarning,
      "step loss is very noisy (std " + Fmt(cv) + "x its mean)",
      {{"median_cv", cv},
       {"threshold", t.Get("convergence.noisy_loss.cv")},
       {"epochs_measured", cvs.size()}},
      "Gradient noise this large makes most steps cancel out: more steps and energy "
      "for the same progress.",
      "Increase the batch size or lower the learning rate; check for a few "
      "mislabelled or extreme samples; clip gradients "
      "(`torch.nn.utils.clip_grad_norm_`).");
  f.epochs = epochs;
  sink.Add(std::move(f));
}

// ----- convergence.leakage -----

void Leakage(const RunTelemetry& run, const Thresholds& t, FindingSink& sink) {
  // (a) Validation loss far below training loss in every epoch after the first.
  const EpochSeries val = MetricSeries(run, "val", "loss");
  const EpochSeries train = MetricSeries(run, "train", "loss");
  const double ratio_limit = t.Get("convergence.leakage.val_train_ratio");
  if (val.size() == run.epochs.size() && train.size() == run.epochs.size() &&
      static_cast<double>(val.size()) >= t.Get("convergence.leakage.min_epochs")) {
    double worst = 0;
    bool all = true;
    for (std::size_t i = 1; i < val.size() && all; ++i) {
      if (train.values[i] <= 0 || val.values[i] < 0) {
        all = false;
        break;
      }
      const double ratio = val.values[i] / train.values[i];
      worst = std::max(worst, ratio);
      all = ratio < ratio_limit;
    }
    if (all) {
      Finding f = ConvergenceFinding(
          "convergence.leakage", Severity::kWarning,
          "validation loss is below " + Pct(ratio_limit) + " of training loss in every epoch",
          {{"max_val_train_ratio", worst}, {"threshold", ratio_limit}},
          "A validation set this much easier than training usually overlaps it: the "
          "reported results (and the stop they justify) would be wrong.",
          "Check the split for duplicates between train and validation (dedupe by "
          "hash before splitting, e.g. `sklearn.model_selection.train_test_split` on "
          "unique samples) and that no label leaks into the features.");
      f.epochs = val.epochs;
      sink.Add(std::move(f));
      return;
    }
  }
  // (b) Validation accuracy near perfect after the first epoch, above training accuracy.
  if (run.epochs.empty()) return;
  const EpochView& first = run.epochs[0];
  const std::optional<double> val_acc = first.Val("accuracy");
  if (!val_acc || *val_acc < 0 || *val_acc > 1) return;  // a fraction, not a percentage
  if (*val_acc < t.Get("convergence.leakage.instant_accuracy")) return;
  const std::optional<double> train_acc = first.Train("accuracy");
  if (train_acc && *train_acc > *val_acc - t.Get("convergence.leakage.accuracy_margin")) return;
  Finding f = ConvergenceFinding(
      "convergence.leakage", Severity::kWarning,
      "validation accuracy " + Pct(*val_acc) + " after the first epoch",
      {{"val_accuracy", *val_acc},
       {"train_accuracy", train_acc ? Json(*train_acc) : Json()},
       {"threshold", t.Get("convergence.leakage.instant_accuracy")},
       {"margin", t.Get("convergence.leakage.accuracy_margin")}},
      "Near-perfect validation accuracy after one epoch usually means the answer is "
      "in the input or the validation set overlaps training.",
      "Check the split for duplicates between train and validation and that no "
      "target column (or a proxy of it) is among the features.");
  f.epochs = {first.record.epoch};
  sink.Add(std::move(f));
}

constexpr CheckInfo kConvergenceChecks[] = {
    {"convergence.past_optimal_stop", Category::kConvergence, PastOptimalStop,
     "the metric stopped improving beyond its noise: training ran past the optimal stop"},
    {"convergence.plateau", Category::kConvergence, Plateau,
     "the training loss is flat over the last epochs after having learned"},
    {"convergence.no_progress", Category::kConvergence, NoProgress,
     "the training loss never improved"},
    {"convergence.divergence", Category::kConvergence, Divergence,
     "the training loss is non-finite or rising well above its best"},
    {"convergence.loss_explosion", Category::kConvergence, LossExplosion,
     "a step loss was non-finite or far above the typical loss"},
    {"convergence.overfitting", Category::kConvergence, Overfitting,
     "validation loss rises while training loss falls, with a large generalisation gap"},
    {"convergence.oscillation", Category::kConvergence, Oscillation,
     "the loss swings up and down from epoch to epoch"},
    {"convergence.noisy_loss", Category::kConvergence, NoisyLoss,
     "the step loss varies far more than its mean within epochs"},
    {"convergence.leakage", Category::kConvergence, Leakage,
     "validation is far easier than training from the start: a leaking split"},
};

}  // namespace

std::span<const CheckInfo> ConvergenceChecks() { return kConvergenceChecks; }

}  // namespace atlas::diagnostics
