#include "model/records.hpp"

namespace atlas::model {

std::optional<StepField> FindStepField(std::string_view name) {
  for (const auto& info : kStepFields) {
    if (info.name == name) return info.field;
  }
  return std::nullopt;
}

std::string_view ToString(RunStatus s) {
  switch (s) {
    case RunStatus::kRunning:
      return "running";
    case RunStatus::kCompleted:
      return "completed";
    case RunStatus::kFailed:
      return "failed";
    case RunStatus::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::optional<RunStatus> ParseRunStatus(std::string_view s) {
  for (auto status :
       {RunStatus::kRunning, RunStatus::kCompleted, RunStatus::kFailed, RunStatus::kStopped}) {
    if (ToString(status) == s) return status;
  }
  return std::nullopt;
}

}  // namespace atlas::model
