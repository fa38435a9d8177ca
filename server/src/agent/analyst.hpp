// The offline analyst: deterministic answers to the main questions about a run, composed from
// the same tools the language model uses, for when no provider is configured (or all failed).
//
// It recognises four intents from the question's words (why this grade, what to change first,
// how much was wasted and what it cost, how this run compares with another) and otherwise gives
// an overview of all three single-run answers. What to change first is the top problem (the
// findings of one check at one severity), ranked by severity, then by CO2 at stake; a compare
// answer names the cheaper run by the diagnoses' footprints. Every answer starts with
// kOfflineLabel, so a reader can never mistake it for a model's. Pure over the tools: the same
// run state and question always give the same text.
//
// Threading: as thread-safe as the registry's tools.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/tools.hpp"

namespace atlas::agent {

inline constexpr const char* kOfflineLabel =
    "[Offline analyst: a deterministic answer from Atlas's diagnostics, no language model]";

enum class Intent { kGrade, kFirstChange, kWaste, kCompare, kOverview };

std::string_view ToString(Intent intent);
Intent ClassifyQuestion(const std::string& question);

struct AnalystAnswer {
  Intent intent = Intent::kOverview;
  std::string text;                     // starts with kOfflineLabel
  std::vector<std::string> tools_used;  // in call order
};

// kNotFound for an unknown run; other tool failures come back as they are.
// `other_run_id` names the run to compare with; without it a compare question takes the
// newest earlier run of the same architecture, else of the same project.
Result<AnalystAnswer> AnswerOffline(const ToolRegistry& tools, const std::string& run_id,
                                    const std::string& question,
                                    const std::optional<std::string>& other_run_id);

}  // namespace atlas::agent
