// What travels through the queue: a step record, a rare record as JSON text, or the finish
// marker whose client_stats the sender fills in when it serialises it.
#pragma once

#include <string>
#include <variant>

#include "atlas/record.hpp"

namespace atlas::core {

struct JsonRecord {
  std::string kind;  // one of kJsonRecordKinds
  std::string json;  // the caller's object text, without "kind" and "seq"
};

struct FinishMarker {
  FinishStatus status = FinishStatus::kCompleted;
  std::string reason;
  double ts = 0;
};

using QueuedRecord = std::variant<StepRecord, JsonRecord, FinishMarker>;

}  // namespace atlas::core
