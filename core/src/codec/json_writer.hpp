// Protocol v1 JSON for the records a client sends, written by hand on the sender thread.
//
// Step records are the bulk of the traffic, so they are written straight into the batch body
// (no DOM, no allocation beyond the body's growth). Doubles use the shortest text that reads
// back as the same value; non-finite values are the strings "NaN", "Infinity", "-Infinity".
// Each Append* function checks the record against the server's rules first and appends nothing
// when it would be refused, so one bad record never makes the server reject a whole batch.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "atlas/record.hpp"
#include "atlas/status.hpp"

namespace atlas::core::json {

// Appends `v` as a JSON number, or as "NaN"/"Infinity"/"-Infinity".
void AppendNumber(std::string& out, double v);
// Appends `s` as a JSON string (quoted, escaped). `s` must be valid UTF-8.
void AppendString(std::string& out, std::string_view s);
bool IsValidUtf8(std::string_view s);

// Appends {"kind":"step","seq":..,...}. Fails (appending nothing) when the server would refuse
// the record: a negative step or epoch, a bad ts, a negative value of a non-negative field, a
// metric name that is empty, too long, not UTF-8, a step field name or repeated.
Status AppendStepRecord(std::string& out, const StepRecord& record, std::int64_t seq);

// Appends {"kind":<kind>,"seq":..,<the fields of `object_json`>}. Fails when `object_json` is
// not a JSON object or holds "kind" or "seq".
Status AppendJsonRecord(std::string& out, std::string_view kind, std::string_view object_json,
                        std::int64_t seq);

// Appends a finish record; `client_stats_json` is an object text.
void AppendFinishRecord(std::string& out, FinishStatus status, std::string_view reason, double ts,
                        std::string_view client_stats_json, std::int64_t seq);

// The index N of a server error field "records[N]..." (the record a refused batch names).
std::optional<std::size_t> RecordIndexOf(std::string_view field);
// `batch_body` without its record number `index`, or nullopt when the body is not a batch that
// has it. Used only after the server refused a batch (a slow path: it re-serialises the batch).
std::optional<std::string> WithoutRecord(std::string_view batch_body, std::size_t index);

// The envelope of a batch body: kBatchPrefix, records separated by ',', kBatchSuffix.
inline constexpr std::string_view kBatchPrefix = R"({"records":[)";
inline constexpr std::string_view kBatchSuffix = "]}";

}  // namespace atlas::core::json
