// The small behaviours of the public record types (atlas/record.hpp).
#include "atlas/record.hpp"

namespace atlas {

std::optional<StepField> FindStepField(std::string_view name) {
  for (std::size_t i = 0; i < kStepFieldCount; ++i) {
    if (kStepFieldNames[i] == name) return static_cast<StepField>(i);
  }
  return std::nullopt;
}

std::string_view ToString(FinishStatus s) {
  switch (s) {
    case FinishStatus::kCompleted:
      return "completed";
    case FinishStatus::kFailed:
      return "failed";
    case FinishStatus::kStopped:
      return "stopped";
  }
  return "completed";
}

}  // namespace atlas
