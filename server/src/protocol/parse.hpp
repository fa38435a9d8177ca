// Protocol v1 request bodies -> validated model types (docs/protocol.md is the contract).
//
// Parsing uses simdjson (the ingest path is hot). Every field is checked for presence, type and
// range; the first problem found is reported with the JSON path of the field ("records[3].loss")
// and a reason a person can act on. Unknown fields are errors, so typos do not vanish silently.
// Pure functions: thread-safe, no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "model/records.hpp"
#include "model/runs.hpp"

namespace atlas::protocol {

inline constexpr int kProtocolVersion = 1;

enum class ErrorKind {
  kMalformed,  // not JSON at all, or truncated: HTTP 400
  kInvalid,    // JSON, but a field is missing, of the wrong type or out of range: HTTP 422
  kTooLarge,   // more records than allowed in one batch: HTTP 413
};

struct ParseError {
  ErrorKind kind = ErrorKind::kInvalid;
  std::string field;  // JSON path of the offending field; "" for the whole body
  std::string reason;
};

template <typename T>
using Parsed = std::variant<T, ParseError>;

struct Limits {
  std::size_t max_records_per_batch = 100000;
  std::size_t max_string_bytes = 4096;  // names and every other bounded string
  std::size_t max_text_bytes = 65536;   // a finish reason or event message (may hold a traceback)
  std::size_t max_layers_per_sample = 10000;
  std::size_t max_modules = 100000;
};

// POST /api/v1/runs
Parsed<model::RunCreate> ParseRunCreate(std::string_view body, const Limits& limits = {});
// POST /api/v1/runs/{id}/records
Parsed<model::RecordBatch> ParseRecordBatch(std::string_view body, const Limits& limits = {});
// POST /api/v1/runs/{id}/finish (the same object as a "finish" record, without "kind")
Parsed<model::FinishRecord> ParseFinish(std::string_view body, const Limits& limits = {});

// A run id chosen by a client: 1-64 characters of [A-Za-z0-9._-].
bool IsValidRunId(std::string_view id);

}  // namespace atlas::protocol
