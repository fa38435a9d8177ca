// The A-F grade, the 0-100 scores per run, per category and per layer (docs/diagnostics.md,
// "Grade").
#include <algorithm>
#include <map>
#include <string>

#include "diagnostics/engine.hpp"

namespace atlas::diagnostics {
namespace {

// The same check on several layers weighs more than on one, but at most twice its worst
// finding: a model whose twelve ReLU layers are all dead has one problem, not twelve.
constexpr double kExtraLayerWeight = 0.25;
constexpr double kMaxCheckWeight = 2.0;

struct CheckTally {
  Category category = Category::kLayer;
  double worst = 0;  // the largest single penalty
  int findings = 0;
};

double Clamp(double score) { return std::clamp(score, 0.0, 100.0); }

}  // namespace

double RunPenalty(Severity s) {
  switch (s) {
    case Severity::kCritical:
      return 30;  // one critical finding caps the score at 70: grade C at best
    case Severity::kWarning:
      return 12;  // two warnings still grade B
    case Severity::kInfo:
      return 3;
  }
  return 0;
}

double LayerPenalty(Severity s) {
  switch (s) {
    case Severity::kCritical:
      return 60;
    case Severity::kWarning:
      return 30;
    case Severity::kInfo:
      return 10;
  }
  return 0;
}

char GradeOf(double score) {
  if (score >= 90) return 'A';
  if (score >= 75) return 'B';
  if (score >= 60) return 'C';
  if (score >= 45) return 'D';
  if (score >= 30) return 'E';
  return 'F';
}

void Grade(const RunTelemetry& run, Diagnosis& d) {
  // Findings arrive merged by (check, layer), so a problem repeated over epochs is one entry.
  std::map<std::string, CheckTally> tallies;
  for (const Finding& f : d.findings) {
    CheckTally& t = tallies[f.check];
    t.category = f.category;
    t.worst = std::max(t.worst, RunPenalty(f.severity));
    ++t.findings;
  }
  std::array<double, kCategoryCount> penalties{};
  double total = 0;
  for (const auto& [check, t] : tallies) {
    const double weight =
        std::min(kMaxCheckWeight, 1.0 + kExtraLayerWeight * static_cast<double>(t.findings - 1));
    const double penalty = t.worst * weight;
    penalties[static_cast<std::size_t>(t.category)] += penalty;
    total += penalty;
  }
  for (std::size_t c = 0; c < kCategoryCount; ++c) d.category_scores[c] = Clamp(100 - penalties[c]);
  d.score = Clamp(100 - total);
  d.grade = GradeOf(d.score);

  // Every layer the run describes gets a score, so the 3D view can colour the healthy ones too.
  d.layer_scores.clear();
  for (const ModuleNode& m : run.modules) {
    if (m.children.empty() && !m.info.name.empty()) d.layer_scores[m.info.name] = 100;
  }
  for (const model::LayerStatsRecord& sample : run.layer_samples) {
    for (const model::LayerStat& l : sample.layers) {
      if (!l.layer.empty()) d.layer_scores.emplace(l.layer, 100);
    }
  }
  for (const Finding& f : d.findings) {
    if (!f.layer || f.layer->empty()) continue;
    double& score = d.layer_scores.try_emplace(*f.layer, 100).first->second;
    score = Clamp(score - LayerPenalty(f.severity));
  }
}

}  // namespace atlas::diagnostics
