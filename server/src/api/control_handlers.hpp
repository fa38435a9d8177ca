// The control endpoints of API v1 (issue 7): actions from people and tools, the audit log, and
// the observer's control poll. Handlers are plain functions of a request and the
// ControlService, which must outlive the router; thread-safe as the service is.
#pragma once

#include "control/service.hpp"
#include "http/http.hpp"

namespace atlas::api {

// POST /api/v1/runs/{id}/actions: 201 {"action", "state"}; 400/422 for a bad body, 404 for an
// unknown run, 409 for a finished run or an action the run's state does not allow.
http::Response SubmitAction(const http::Request& req, control::ControlService& control);
// GET /api/v1/runs/{id}/actions: the audit log and the control state.
http::Response ListActions(const http::Request& req, control::ControlService& control);
// POST /api/v1/runs/{id}/control: the observer's poll (acks, registration, decisions in; the
// pending actions out).
http::Response ExchangeControl(const http::Request& req, control::ControlService& control);
// GET /api/v1/runs/{id}/control?after=N: the pending actions, for clients that only read.
http::Response PollControl(const http::Request& req, control::ControlService& control);

void AddControlRoutes(http::Router& router, control::ControlService& control);

}  // namespace atlas::api
