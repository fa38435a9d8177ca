#include "analysis/view_builder.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "atlas/carbon.hpp"

namespace atlas::analysis {
namespace {

using diagnostics::LossPoint;
using diagnostics::StepAggregate;

void AddToAggregate(StepAggregate& agg, const model::StepRecord& step) {
  if (agg.steps == 0) {
    agg.first_step = step.step;
    agg.first_ts = step.ts;
  }
  ++agg.steps;
  agg.last_step = step.step;
  agg.last_ts = step.ts;
  for (std::size_t i = 0; i < agg.fields.size(); ++i) {
    if (step.fields[i]) agg.fields[i].Add(*step.fields[i]);
  }
}

// A positive integer from the first of `keys` that `object` holds as a number.
std::optional<std::int64_t> PositiveInt(const model::Json& object,
                                        std::initializer_list<const char*> keys) {
  if (!object.is_object()) return std::nullopt;
  for (const char* key : keys) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_number()) continue;
    const double value = it->get<double>();
    if (std::isfinite(value) && value >= 1) return static_cast<std::int64_t>(value);
  }
  return std::nullopt;
}

std::optional<double> PositiveNumber(const model::Json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  const double value = it->get<double>();
  if (!std::isfinite(value) || value <= 0) return std::nullopt;
  return value;
}

// The smallest and the largest loss of `points`, in step order (one point when they coincide).
void KeepExtremes(const std::vector<LossPoint>& points, std::vector<LossPoint>& out) {
  if (points.empty()) return;
  auto [lo, hi] =
      std::minmax_element(points.begin(), points.end(),
                          [](const LossPoint& a, const LossPoint& b) { return a.loss < b.loss; });
  if (lo == hi) {
    out.push_back(*lo);
    return;
  }
  if (lo->step > hi->step) std::swap(lo, hi);
  out.push_back(*lo);
  out.push_back(*hi);
}

}  // namespace

diagnostics::CarbonModel CarbonModelFor(const model::Json& config) {
  const carbon::Settings settings =
      carbon::ResolveSettings(config.is_object() ? config.dump() : std::string("{}"));
  diagnostics::CarbonModel model;
  model.pue = settings.pue;
  model.grid_g_co2_per_kwh = settings.g_co2_per_kwh;
  model.grid_source = settings.intensity_source;
  model.eur_per_tonne_co2 = settings.eur_per_tonne_co2;
  model.g_co2_per_car_km = settings.g_co2_per_car_km;
  model.budget_kg_co2 = settings.budget_kg_co2;
  return model;
}

ViewBuilder::ViewBuilder(const model::Run& run, ViewLimits limits)
    : limits_(limits), project_id_(run.project_id) {
  view_.run_id = run.id;
  view_.run_name = run.name;
  view_.project_name = run.project_name;
  view_.status = run.status;
  view_.finished = run.finished_at.has_value();
  view_.started_at = run.started_at;
  view_.last_ts = run.totals.last_ts;
  view_.host = run.host;
  view_.device = run.device;
  view_.config = run.config;
  view_.hyperparameters =
      run.hyperparameters.is_object() ? run.hyperparameters : model::Json::object();
  view_.carbon = CarbonModelFor(run.config);
  if (!run.architecture.empty()) view_.modules = diagnostics::BuildModuleTree(run.architecture);
}

void ViewBuilder::Seen(double ts) {
  if (!view_.last_ts || ts > *view_.last_ts) view_.last_ts = ts;
}

bool ViewBuilder::Apply(const model::RecordBatch& batch) {
  bool matters = false;
  for (const auto& r : batch.steps) ApplyStep(r);
  for (const auto& r : batch.epochs) {
    ApplyEpoch(r);
    matters = true;
  }
  for (const auto& r : batch.layer_stats) {
    ApplyLayerStats(r);
    matters = true;
  }
  for (const auto& r : batch.profiles) ApplyProfile(r);
  for (const auto& r : batch.events) ApplyEvent(r);
  for (const auto& r : batch.hyperparameters) {
    ApplyHyperparameters(r.values);
    matters = true;
  }
  for (const auto& r : batch.architectures) {
    ApplyArchitecture(r.modules);
    matters = true;
  }
  for (const auto& r : batch.finishes) {
    ApplyFinish(r.status, r.ts);
    matters = true;
  }
  return matters;
}

void ViewBuilder::ApplyStep(const model::StepRecord& step) {
  Seen(step.ts);
  AddToAggregate(view_.all_steps, step);
  if (step.epoch) AddToAggregate(by_epoch_[*step.epoch], step);
  const std::optional<double>& loss = step.at(model::StepField::kLoss);
  if (loss && std::isfinite(*loss)) AddLossPoint({step.step, *loss});
}

void ViewBuilder::AddLossPoint(LossPoint point) {
  if (stride_ == 1) {
    view_.loss_trace.push_back(point);
  } else {
    bucket_.push_back(point);
    if (bucket_.size() < stride_) return;
    KeepExtremes(bucket_, view_.loss_trace);
    bucket_.clear();
  }
  if (view_.loss_trace.size() >= limits_.loss_points) CompactLossTrace();
}

void ViewBuilder::CompactLossTrace() {
  // Every four points become the smallest and the largest of them, and later buckets cover
  // twice the steps, so the trace halves and keeps covering the whole run evenly.
  std::vector<LossPoint> compacted;
  compacted.reserve(view_.loss_trace.size() / 2 + 2);
  std::vector<LossPoint> group;
  for (const LossPoint& p : view_.loss_trace) {
    group.push_back(p);
    if (group.size() == 4) {
      KeepExtremes(group, compacted);
      group.clear();
    }
  }
  KeepExtremes(group, compacted);
  view_.loss_trace = std::move(compacted);
  stride_ = stride_ == 1 ? 4 : stride_ * 2;
}

void ViewBuilder::ApplyEpoch(const model::EpochRecord& epoch) {
  Seen(epoch.ts);
  diagnostics::EpochView ev;
  ev.record = epoch;
  for (const auto& entry : epoch.energy) ev.joules += entry.joules;
  auto& epochs = view_.epochs;
  auto it = std::lower_bound(
      epochs.begin(), epochs.end(), epoch.epoch,
      [](const diagnostics::EpochView& e, std::int64_t n) { return e.record.epoch < n; });
  // An epoch sent again (a resumed run repeating it) replaces the earlier record.
  if (it != epochs.end() && it->record.epoch == epoch.epoch) {
    *it = std::move(ev);
  } else {
    epochs.insert(it, std::move(ev));
  }
}

void ViewBuilder::ApplyLayerStats(const model::LayerStatsRecord& sample) {
  Seen(sample.ts);
  auto& samples = view_.layer_samples;
  auto it = std::upper_bound(
      samples.begin(), samples.end(), sample.step,
      [](std::int64_t step, const model::LayerStatsRecord& r) { return step < r.step; });
  samples.insert(it, sample);
  if (samples.size() <= limits_.layer_samples) return;
  // Thin out: keep every other sample (the first included), so the view spans the whole run
  // with recent samples denser than old ones.
  std::vector<model::LayerStatsRecord> kept;
  kept.reserve(samples.size() / 2 + 1);
  for (std::size_t i = 0; i < samples.size(); i += 2) kept.push_back(std::move(samples[i]));
  samples = std::move(kept);
}

void ViewBuilder::ApplyProfile(const model::ProfileRecord& profile) {
  Seen(profile.ts);
  view_.profiles.push_back(profile);
  if (view_.profiles.size() > limits_.profiles) view_.profiles.erase(view_.profiles.begin());
}

void ViewBuilder::ApplyEvent(const model::EventRecord& event) {
  Seen(event.ts);
  // Checks read the problems the observer reported; info and debug events are the user's log.
  if (event.level != "warning" && event.level != "error") return;
  view_.events.push_back(event);
  if (view_.events.size() > limits_.events) view_.events.erase(view_.events.begin());
}

void ViewBuilder::ApplyHyperparameters(const model::Json& values) {
  if (!values.is_object()) return;
  for (const auto& [key, value] : values.items()) view_.hyperparameters[key] = value;
}

void ViewBuilder::ApplyArchitecture(const std::vector<model::ModuleInfo>& modules) {
  view_.modules = diagnostics::BuildModuleTree(modules);
}

void ViewBuilder::ApplyFinish(model::RunStatus status, double ts) {
  view_.status = status;
  view_.finished = true;
  if (!view_.last_ts || ts > *view_.last_ts) view_.last_ts = ts;
}

diagnostics::RunTelemetry ViewBuilder::Snapshot() const {
  diagnostics::RunTelemetry view = view_;
  for (auto& epoch : view.epochs) {
    auto it = by_epoch_.find(epoch.record.epoch);
    if (it != by_epoch_.end()) epoch.steps = it->second;
  }
  const std::int64_t last_ended = view.epochs.empty() ? -1 : view.epochs.back().record.epoch;
  for (auto it = by_epoch_.upper_bound(last_ended); it != by_epoch_.end(); ++it) {
    view.open_epoch.Merge(it->second);
  }
  KeepExtremes(bucket_, view.loss_trace);
  view.planned_epochs = PositiveInt(view.hyperparameters, {"num_epochs", "epochs"});
  if (!view.planned_epochs)
    view.planned_epochs = PositiveInt(view.config, {"num_epochs", "epochs"});
  view.batch_size = PositiveNumber(view.hyperparameters, "batch_size");
  if (!view.batch_size) {
    const diagnostics::FieldStats& samples =
        diagnostics::Stat(view.all_steps.fields, model::StepField::kSamples);
    if (samples.count > 0 && samples.mean() > 0) view.batch_size = samples.mean();
  }
  return view;
}

}  // namespace atlas::analysis
