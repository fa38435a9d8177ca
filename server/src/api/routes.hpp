// The routes of atlasd's API v1 (docs/protocol.md): ingest, queries, health and version.
//
// Handlers are plain functions of a request and the services they need; `store` must outlive
// the router. Thread-safe as far as the Store is.
#pragma once

#include <string>

#include "control/service.hpp"
#include "http/http.hpp"
#include "protocol/parse.hpp"
#include "store/store.hpp"

namespace atlas::api {

struct ApiOptions {
  protocol::Limits limits;
  std::string version;  // the server's version, e.g. "0.1.0"
  // Control (issue 7): when set, the action and control endpoints are served and ingest
  // replies carry the run's pending actions. Borrowed; must outlive the router.
  control::ControlService* control = nullptr;
};

void AddRoutes(http::Router& router, store::Store& store, const ApiOptions& options);

}  // namespace atlas::api
