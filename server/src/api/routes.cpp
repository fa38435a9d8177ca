#include "api/routes.hpp"

#include "api/control_handlers.hpp"
#include "api/diagnostics_handlers.hpp"
#include "api/energy_handlers.hpp"
#include "api/handlers.hpp"
#include "api/responses.hpp"
#include "live/live_handlers.hpp"

namespace atlas::api {

void AddRoutes(http::Router& router, store::Store& store, const ApiOptions& options) {
  store::Store* s = &store;
  const ApiOptions opt = options;
  using Req = const http::Request&;

  router.Add("GET", "/healthz", [](Req) { return JsonResponse(200, {{"status", "ok"}}); });
  router.Add("GET", "/api/v1/version", [opt](Req) {
    return JsonResponse(
        200,
        {{"name", "atlasd"}, {"version", opt.version}, {"protocol", protocol::kProtocolVersion}});
  });

  router.Add("POST", "/api/v1/runs", [s, opt](Req r) { return CreateRun(r, *s, opt); });
  router.Add("GET", "/api/v1/runs", [s](Req r) { return ListRuns(r, *s); });
  router.Add("GET", "/api/v1/runs/{id}", [s](Req r) { return GetRun(r, *s); });
  router.Add("POST", "/api/v1/runs/{id}/records",
             [s, opt](Req r) { return PostRecords(r, *s, opt); });
  router.Add("POST", "/api/v1/runs/{id}/finish",
             [s, opt](Req r) { return PostFinish(r, *s, opt); });
  router.Add("GET", "/api/v1/runs/{id}/series", [s](Req r) { return ListSeries(r, *s); });
  router.Add("GET", "/api/v1/runs/{id}/series/{metric}", [s](Req r) { return GetSeries(r, *s); });
  router.Add("GET", "/api/v1/runs/{id}/epochs", [s](Req r) { return ListEpochs(r, *s); });
  router.Add("GET", "/api/v1/runs/{id}/layers", [s](Req r) { return ListLayerStats(r, *s); });
  router.Add("GET", "/api/v1/runs/{id}/events", [s](Req r) { return ListEvents(r, *s); });
  router.Add("GET", "/api/v1/runs/{id}/profiles", [s](Req r) { return ListProfiles(r, *s); });
  router.Add("GET", "/api/v1/runs/{id}/energy", [s](Req r) { return GetRunEnergy(r, *s); });
  router.Add("GET", "/api/v1/projects", [s](Req r) { return ListProjects(r, *s); });
  if (options.control != nullptr) AddControlRoutes(router, *options.control);
  if (live::Hub* hub = options.hub; hub != nullptr) {
    router.Add("GET", "/api/v1/runs/{id}/live",
               [s, hub](Req r) { return live::RunLiveStream(r, *hub, *s); });
    router.Add("GET", "/api/v1/live", [hub](Req r) { return live::RunsLiveStream(r, *hub); });
  }
  if (analysis::AnalysisService* a = options.analysis; a != nullptr) {
    router.Add("GET", "/api/v1/runs/{id}/diagnostics",
               [a](Req r) { return GetRunDiagnostics(r, *a); });
    router.Add("GET", "/api/v1/diagnostics/checks", [](Req r) { return ListChecks(r); });
    router.Add("GET", "/api/v1/diagnostics/thresholds", [](Req r) { return ListThresholds(r); });
    router.Add("GET", "/api/v1/projects/{id}/thresholds",
               [s, a](Req r) { return GetProjectThresholds(r, *s, *a); });
    router.Add("PUT", "/api/v1/projects/{id}/thresholds",
               [s, a](Req r) { return PutProjectThresholds(r, *s, *a); });
  }
}

}  // namespace atlas::api
