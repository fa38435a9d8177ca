// The read side of API v1: projects, runs, series, epochs, layer statistics, events, profiles.
#include <algorithm>
#include <limits>

#include "api/diagnostics_handlers.hpp"
#include "api/handlers.hpp"
#include "api/json_views.hpp"
#include "api/responses.hpp"
#include "store/downsample.hpp"

namespace atlas::api {
namespace {

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<model::RunSortKey> ParseSortKey(const std::string& s) {
  if (s == "created_at") return model::RunSortKey::kCreatedAt;
  if (s == "name") return model::RunSortKey::kName;
  if (s == "status") return model::RunSortKey::kStatus;
  if (s == "last_step") return model::RunSortKey::kLastStep;
  return std::nullopt;
}

}  // namespace

http::Response ListProjects(const http::Request& /*req*/, store::Store& store) {
  auto projects = store.ListProjects();
  if (!projects.ok()) return StoreError(projects.status());
  model::Json list = model::Json::array();
  for (const auto& p : *projects) list.push_back(ProjectJson(p));
  return JsonResponse(200, {{"projects", std::move(list)}});
}

http::Response ListRuns(const http::Request& req, store::Store& store) {
  model::RunQuery query;
  if (auto project = req.Query("project")) {
    if (AllDigits(*project)) {
      query.project_id = std::stoll(*project);
    } else {
      query.project_name = *project;
    }
  }
  if (auto name = req.Query("name")) query.name_contains = *name;
  if (auto status = req.Query("status")) {
    query.status = model::ParseRunStatus(*status);
    if (!query.status) {
      return http::ErrorResponse(400, "bad_query", "status",
                                 "must be one of: running, completed, failed, stopped");
    }
  }
  if (auto sort = req.Query("sort")) {
    auto key = ParseSortKey(*sort);
    if (!key) {
      return http::ErrorResponse(400, "bad_query", "sort",
                                 "must be one of: created_at, name, status, last_step");
    }
    query.sort = *key;
  }
  if (auto order = req.Query("order")) {
    if (*order != "asc" && *order != "desc") {
      return http::ErrorResponse(400, "bad_query", "order", "must be asc or desc");
    }
    query.descending = *order == "desc";
  }
  auto limit_or_error = IntQuery(req, "limit", 50, 1, 500);
  if (auto* bad = std::get_if<http::Response>(&limit_or_error)) return *bad;
  auto limit = std::get<0>(limit_or_error);
  auto offset_or_error = IntQuery(req, "offset", 0, 0, kMaxInt);
  if (auto* bad = std::get_if<http::Response>(&offset_or_error)) return *bad;
  auto offset = std::get<0>(offset_or_error);
  query.limit = limit;
  query.offset = offset;

  auto page = store.ListRuns(query);
  if (!page.ok()) return StoreError(page.status());
  model::Json runs = model::Json::array();
  for (const auto& run : page->runs) runs.push_back(RunSummaryJson(run));
  AddDiagnosisSummaries(store, runs);
  return JsonResponse(
      200,
      {{"runs", std::move(runs)}, {"total", page->total}, {"limit", limit}, {"offset", offset}});
}

http::Response GetRun(const http::Request& req, store::Store& store) {
  auto run = store.GetRun(req.params.at("id"));
  if (!run.ok()) return StoreError(run.status());
  Json detail = Json::array({RunDetailJson(*run)});
  AddDiagnosisSummaries(store, detail);
  return JsonResponse(200, detail[0]);
}

http::Response ListSeries(const http::Request& req, store::Store& store) {
  auto names = store.ListSeries(req.params.at("id"));
  if (!names.ok()) return StoreError(names.status());
  return JsonResponse(200, {{"run_id", req.params.at("id")}, {"series", *names}});
}

http::Response GetSeries(const http::Request& req, store::Store& store) {
  store::SeriesQuery query;
  query.metric = req.params.at("metric");
  const std::string axis = req.Query("x").value_or("step");
  if (axis != "step" && axis != "time") {
    return http::ErrorResponse(400, "bad_query", "x", "must be step or time");
  }
  query.axis = axis == "step" ? store::SeriesAxis::kStep : store::SeriesAxis::kTime;
  auto from_or_error = NumberQuery(req, "from");
  if (auto* bad = std::get_if<http::Response>(&from_or_error)) return *bad;
  auto from = std::get<0>(from_or_error);
  auto to_or_error = NumberQuery(req, "to");
  if (auto* bad = std::get_if<http::Response>(&to_or_error)) return *bad;
  auto to = std::get<0>(to_or_error);
  auto points_or_error = IntQuery(req, "points", 1000, 1, 10000);
  if (auto* bad = std::get_if<http::Response>(&points_or_error)) return *bad;
  auto points = std::get<0>(points_or_error);
  query.from = from;
  query.to = to;

  // The store downsamples: the SQLite store answers step fields from pre-aggregated blocks, so
  // a full-range query of a long run does not read every step.
  Result<store::SeriesBuckets> series =
      store.DownsampleSeries(req.params.at("id"), query, static_cast<std::size_t>(points));
  if (!series.ok()) return StoreError(series.status());

  const std::vector<store::Bucket>& buckets = series->buckets;
  model::Json xs = model::Json::array(), mins = model::Json::array(), maxs = model::Json::array(),
              lasts = model::Json::array(), counts = model::Json::array();
  for (const auto& b : buckets) {
    xs.push_back(b.x);
    mins.push_back(NumberJson(b.min));
    maxs.push_back(NumberJson(b.max));
    lasts.push_back(NumberJson(b.last));
    counts.push_back(b.count);
  }
  return JsonResponse(200, {{"run_id", req.params.at("id")},
                            {"metric", query.metric},
                            {"x_axis", axis},
                            {"points_in_range", series->points_in_range},
                            {"x", std::move(xs)},
                            {"min", std::move(mins)},
                            {"max", std::move(maxs)},
                            {"last", std::move(lasts)},
                            {"count", std::move(counts)}});
}

http::Response ListEpochs(const http::Request& req, store::Store& store) {
  auto epochs = store.ListEpochs(req.params.at("id"));
  if (!epochs.ok()) return StoreError(epochs.status());
  model::Json list = model::Json::array();
  for (const auto& e : *epochs) list.push_back(EpochJson(e));
  return JsonResponse(200, {{"epochs", std::move(list)}});
}

http::Response ListLayerStats(const http::Request& req, store::Store& store) {
  store::LayerStatsQuery query;
  query.layer = req.Query("layer");
  auto from_step_or_error = IntQuery(req, "from_step", 0, 0, kMaxInt);
  if (auto* bad = std::get_if<http::Response>(&from_step_or_error)) return *bad;
  auto from_step = std::get<0>(from_step_or_error);
  auto to_step_or_error = IntQuery(req, "to_step", kMaxInt, 0, kMaxInt);
  if (auto* bad = std::get_if<http::Response>(&to_step_or_error)) return *bad;
  auto to_step = std::get<0>(to_step_or_error);
  auto limit_or_error = IntQuery(req, "limit", 10000, 1, 100000);
  if (auto* bad = std::get_if<http::Response>(&limit_or_error)) return *bad;
  auto limit = std::get<0>(limit_or_error);
  query.from_step = from_step;
  query.to_step = to_step;
  query.limit = limit;
  auto samples = store.ListLayerStats(req.params.at("id"), query);
  if (!samples.ok()) return StoreError(samples.status());
  model::Json list = model::Json::array();
  for (const auto& s : *samples) list.push_back(LayerStatsJson(s));
  return JsonResponse(200, {{"samples", std::move(list)}});
}

http::Response ListEvents(const http::Request& req, store::Store& store) {
  store::EventQuery query;
  query.type = req.Query("type");
  auto limit_or_error = IntQuery(req, "limit", 1000, 1, 100000);
  if (auto* bad = std::get_if<http::Response>(&limit_or_error)) return *bad;
  auto limit = std::get<0>(limit_or_error);
  query.limit = limit;
  auto events = store.ListEvents(req.params.at("id"), query);
  if (!events.ok()) return StoreError(events.status());
  model::Json list = model::Json::array();
  for (const auto& e : *events) list.push_back(EventJson(e));
  return JsonResponse(200, {{"events", std::move(list)}});
}

http::Response ListProfiles(const http::Request& req, store::Store& store) {
  auto profiles = store.ListProfiles(req.params.at("id"));
  if (!profiles.ok()) return StoreError(profiles.status());
  model::Json list = model::Json::array();
  for (const auto& p : *profiles) list.push_back(ProfileJson(p));
  return JsonResponse(200, {{"profiles", std::move(list)}});
}

}  // namespace atlas::api
