// The routes of atlasd's API v1 (docs/protocol.md): ingest, queries, health and version.
//
// Handlers are plain functions of a request and the services they need; `store` must outlive
// the router. Thread-safe as far as the Store is.
#pragma once

#include <string>
#include <vector>

#include "control/service.hpp"
#include "http/http.hpp"
#include "live/hub.hpp"
#include "live/ingest_listener.hpp"
#include "protocol/parse.hpp"
#include "store/store.hpp"

namespace atlas::analysis {
class AnalysisService;
}  // namespace atlas::analysis

namespace atlas::api {

struct ApiOptions {
  protocol::Limits limits;
  std::string version;  // the server's version, e.g. "0.1.0"
  // Control (issue 7): when set, the action and control endpoints are served and ingest
  // replies carry the run's pending actions. Borrowed; must outlive the router.
  control::ControlService* control = nullptr;
  // Live push and diagnostics (issue 4). Borrowed; each must outlive the router. With `hub`, the
  // Server-Sent Events endpoints are served; with `analysis`, the diagnostics endpoints.
  live::Hub* hub = nullptr;
  analysis::AnalysisService* analysis = nullptr;
  // Told about every created run and every stored batch, after the store committed, on the
  // request's thread (live/ingest_listener.hpp): the analysis service, the live feed, and any
  // service that wants to follow ingest (add it in cli/serve.cpp).
  std::vector<live::IngestListener*> ingest_listeners;
};

void AddRoutes(http::Router& router, store::Store& store, const ApiOptions& options);

}  // namespace atlas::api
