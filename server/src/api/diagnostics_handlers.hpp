// The diagnostics endpoints of API v1 (docs/protocol.md, "Diagnostics"):
//   GET /api/v1/runs/{id}/diagnostics        the run's diagnosis document (404: unknown run)
//   GET /api/v1/diagnostics/checks           the catalogue of checks: id, category, summary
//   GET /api/v1/diagnostics/thresholds       the threshold table with values and sources
//   GET /api/v1/projects/{id}/thresholds     the project's overrides and effective values
//   PUT /api/v1/projects/{id}/thresholds     replaces the overrides; 400 names a bad key
// and the diagnosis figures the runs list and a run's detail carry (AddDiagnosisSummaries).
#pragma once

#include "analysis/service.hpp"
#include "http/http.hpp"
#include "model/records.hpp"
#include "store/store.hpp"

namespace atlas::api {

http::Response GetRunDiagnostics(const http::Request& req, analysis::AnalysisService& analysis);
http::Response ListChecks(const http::Request& req);
http::Response ListThresholds(const http::Request& req);
http::Response GetProjectThresholds(const http::Request& req, store::Store& store,
                                    analysis::AnalysisService& analysis);
http::Response PutProjectThresholds(const http::Request& req, store::Store& store,
                                    analysis::AnalysisService& analysis);

// Sets "diagnosis" on each run object of `runs` (an array of run JSON objects with "id"): the
// stored grade, score, wasted_fraction, kwh, kg_co2, eur and computed_at, or null when the run
// has none yet. A store failure leaves every diagnosis null (the list still answers).
void AddDiagnosisSummaries(store::Store& store, model::Json& runs);

}  // namespace atlas::api
