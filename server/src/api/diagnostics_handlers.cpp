#include "api/diagnostics_handlers.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "api/json_views.hpp"
#include "api/responses.hpp"
#include "diagnostics/check.hpp"
#include "diagnostics/finding.hpp"
#include "diagnostics/thresholds.hpp"

namespace atlas::api {
namespace {

// The project named by the path: a numeric id, or a name.
Result<std::int64_t> ResolveProject(store::Store& store, const std::string& ref) {
  Result<std::vector<model::Project>> projects = store.ListProjects();
  if (!projects.ok()) return projects.status();
  const bool numeric = !ref.empty() && std::all_of(ref.begin(), ref.end(),
                                                   [](char c) { return c >= '0' && c <= '9'; });
  for (const model::Project& p : *projects) {
    if ((numeric && std::to_string(p.id) == ref) || p.name == ref) return p.id;
  }
  return Status::NotFound(fmt::format("project '{}' does not exist", ref));
}

bool KnownThreshold(std::string_view key) {
  const auto table = diagnostics::ThresholdTable();
  return std::any_of(table.begin(), table.end(),
                     [&](const diagnostics::ThresholdInfo& t) { return t.key == key; });
}

Json ThresholdsBody(std::int64_t project_id, const Json& overrides) {
  Json effective = Json::object();
  for (const auto& t : diagnostics::ThresholdTable()) {
    auto it = overrides.find(std::string(t.key));
    effective[std::string(t.key)] = it != overrides.end() ? *it : Json(t.value);
  }
  return {{"project_id", project_id}, {"overrides", overrides}, {"effective", effective}};
}

}  // namespace

http::Response GetRunDiagnostics(const http::Request& req, analysis::AnalysisService& analysis) {
  Result<Json> document = analysis.Diagnosis(req.params.at("id"));
  if (!document.ok()) return StoreError(document.status());
  return JsonResponse(200, *document);
}

http::Response ListChecks(const http::Request& /*req*/) {
  Json checks = Json::array();
  for (const diagnostics::CheckInfo& check : diagnostics::AllChecks()) {
    checks.push_back({{"id", check.id},
                      {"category", diagnostics::ToString(check.category)},
                      {"summary", check.summary}});
  }
  return JsonResponse(200, {{"checks", std::move(checks)}});
}

http::Response ListThresholds(const http::Request& /*req*/) {
  Json thresholds = Json::array();
  for (const diagnostics::ThresholdInfo& t : diagnostics::ThresholdTable()) {
    thresholds.push_back({{"key", t.key},
                          {"value", NumberJson(t.value)},
                          {"unit", t.unit},
                          {"description", t.description},
                          {"source", t.source}});
  }
  return JsonResponse(200, {{"thresholds", std::move(thresholds)}});
}

http::Response GetProjectThresholds(const http::Request& req, store::Store& store,
                                    analysis::AnalysisService& analysis) {
  Result<std::int64_t> project = ResolveProject(store, req.params.at("id"));
  if (!project.ok()) return StoreError(project.status());
  Result<Json> overrides = analysis.ProjectOverrides(*project);
  if (!overrides.ok()) return StoreError(overrides.status());
  return JsonResponse(200, ThresholdsBody(*project, *overrides));
}

http::Response PutProjectThresholds(const http::Request& req, store::Store& store,
                                    analysis::AnalysisService& analysis) {
  if (auto rejected = RequireJsonBody(req)) return *rejected;
  Result<std::int64_t> project = ResolveProject(store, req.params.at("id"));
  if (!project.ok()) return StoreError(project.status());
  const Json body = Json::parse(req.body, nullptr, false);
  if (body.is_discarded()) {
    return http::ErrorResponse(400, "malformed_json", "", "the body is not valid JSON");
  }
  // {"overrides": {...}} or the overrides object itself.
  const Json& overrides = body.contains("overrides") ? body["overrides"] : body;
  if (!overrides.is_object()) {
    return http::ErrorResponse(400, "invalid_field", "overrides",
                               "must be an object of threshold keys to numbers");
  }
  for (const auto& [key, value] : overrides.items()) {
    if (!KnownThreshold(key)) {
      return http::ErrorResponse(
          400, "invalid_field", key,
          "unknown threshold (GET /api/v1/diagnostics/thresholds lists them)");
    }
    if (!value.is_number() || !std::isfinite(value.get<double>())) {
      return http::ErrorResponse(400, "invalid_field", key, "must be a finite number");
    }
  }
  if (Status set = analysis.SetProjectOverrides(*project, overrides); !set.ok()) {
    if (set.code() == StatusCode::kInvalidArgument) {
      return http::ErrorResponse(400, "invalid_field", "overrides", set.message());
    }
    return StoreError(set);
  }
  Result<Json> stored = analysis.ProjectOverrides(*project);
  if (!stored.ok()) return StoreError(stored.status());
  return JsonResponse(200, ThresholdsBody(*project, *stored));
}

void AddDiagnosisSummaries(store::Store& store, model::Json& runs) {
  std::vector<std::string> ids;
  for (auto& run : runs) {
    run["diagnosis"] = nullptr;
    ids.push_back(run.value("id", std::string()));
  }
  Result<std::vector<store::DiagnosisRecord>> summaries = store.ListDiagnosisSummaries(ids);
  if (!summaries.ok()) return;
  for (const store::DiagnosisRecord& d : *summaries) {
    for (auto& run : runs) {
      if (run.value("id", std::string()) != d.run_id) continue;
      run["diagnosis"] = {{"grade", d.grade},
                          {"score", NumberJson(d.score)},
                          {"wasted_fraction", NumberJson(d.wasted_fraction)},
                          {"kwh", NumberJson(d.kwh)},
                          {"kg_co2", NumberJson(d.kg_co2)},
                          {"eur", NumberJson(d.eur)},
                          {"computed_at", d.computed_at}};
    }
  }
}

}  // namespace atlas::api
