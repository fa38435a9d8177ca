// Thresholds: every number a check compares against, in one table, each with its source.
//
// The table (thresholds.cpp, kThresholdTable) is the single place a threshold is defined and is
// what docs/diagnostics.md documents. A project may override any entry (PUT
// /api/v1/projects/{id}/thresholds); Thresholds::WithOverrides validates the override against
// the table. Immutable after construction; safe to share between threads.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "atlas/status.hpp"

namespace atlas::diagnostics {

struct ThresholdInfo {
  std::string_view key;  // "<check id>.<name>", e.g. "layer.dead.unit_active_fraction"
  double value;
  std::string_view unit;  // "fraction", "ratio", "epochs", "x", ...
  std::string_view description;
  std::string_view source;  // paper, tool or "Atlas default (why)"
};

// The whole table, in documentation order.
std::span<const ThresholdInfo> ThresholdTable();

class Thresholds {
 public:
  // The table's defaults.
  Thresholds();
  // The defaults with `overrides` ({"key": number, ...}) applied; kInvalidArgument naming the
  // key when a key is unknown or a value is not a finite number.
  static Result<Thresholds> WithOverrides(const nlohmann::json& overrides);

  // The value of `key`. A key missing from the table is a programming error: it aborts in debug
  // builds and returns NaN (so every comparison is false and the check stays silent) otherwise.
  double Get(std::string_view key) const;
  // The value of a key that counts something (samples, epochs) as a whole number: 0 when it is
  // not positive, at most 2^32 - 1.
  std::size_t Count(std::string_view key) const;

  // {"key": value} of the entries that differ from the defaults.
  nlohmann::json Overrides() const;

 private:
  std::map<std::string, double, std::less<>> values_;
};

}  // namespace atlas::diagnostics
