// The SQLite side of the diagnostics tables (migration 3) and the step scan that rebuilds a
// run's diagnostics view, as functions over one Connection.
//
// Writes run on the writer connection (the caller holds the store's writer mutex) in one
// IMMEDIATE transaction each; reads on a pooled reader inside the store's read transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "atlas/status.hpp"
#include "model/records.hpp"
#include "store/sqlite/db.hpp"
#include "store/store.hpp"

namespace atlas::store::sqlite {

Status ScanStepRecords(Connection& conn, const std::string& run_id,
                       const std::function<void(const model::StepRecord&)>& visit);

Status WriteDiagnosis(Connection& conn, const DiagnosisRecord& record);
Result<std::optional<DiagnosisRecord>> ReadDiagnosis(Connection& conn, const std::string& run_id);
Result<std::vector<DiagnosisRecord>> ReadDiagnosisSummaries(
    Connection& conn, const std::vector<std::string>& run_ids);

Result<model::Json> ReadProjectThresholds(Connection& conn, std::int64_t project_id);
Status WriteProjectThresholds(Connection& conn, std::int64_t project_id,
                              const model::Json& overrides, double now);

}  // namespace atlas::store::sqlite
