// POST/GET /api/v1/runs/{id}/actions and POST/GET /api/v1/runs/{id}/control (docs/protocol.md,
// "Control"; docs/control.md). Plain functions over the ControlService.
#include "api/control_handlers.hpp"

#include "api/responses.hpp"

namespace atlas::api {
namespace {

http::Response RequestErrorResponse(const control::RequestError& error) {
  return http::ErrorResponse(error.status, error.status == 400 ? "malformed_json" : "invalid_field",
                             error.field, error.reason);
}

}  // namespace

http::Response SubmitAction(const http::Request& req, control::ControlService& control) {
  if (auto rejected = RequireJsonBody(req)) return *rejected;
  auto parsed = control::ParseActionRequest(req.body, "api");
  if (auto* error = std::get_if<control::RequestError>(&parsed)) {
    return RequestErrorResponse(*error);
  }
  auto result = control.Submit(req.params.at("id"), std::get<control::ActionRequest>(parsed));
  if (!result.ok()) return StoreError(result.status());
  return JsonResponse(201, *result);
}

http::Response ListActions(const http::Request& req, control::ControlService& control) {
  auto result = control.Describe(req.params.at("id"));
  if (!result.ok()) return StoreError(result.status());
  return JsonResponse(200, *result);
}

http::Response ExchangeControl(const http::Request& req, control::ControlService& control) {
  if (auto rejected = RequireJsonBody(req)) return *rejected;
  auto parsed = control::ParseExchange(req.body);
  if (auto* error = std::get_if<control::RequestError>(&parsed)) {
    return RequestErrorResponse(*error);
  }
  auto result = control.Exchange(req.params.at("id"), std::get<control::ExchangeRequest>(parsed));
  if (!result.ok()) return StoreError(result.status());
  return JsonResponse(200, *result);
}

http::Response PollControl(const http::Request& req, control::ControlService& control) {
  auto after = IntQuery(req, "after", 0, 0, INT64_MAX);
  if (auto* error = std::get_if<http::Response>(&after)) return *error;
  control::ExchangeRequest request;
  request.after = std::get<std::int64_t>(after);
  auto result = control.Exchange(req.params.at("id"), request);
  if (!result.ok()) return StoreError(result.status());
  return JsonResponse(200, *result);
}

void AddControlRoutes(http::Router& router, control::ControlService& control) {
  control::ControlService* c = &control;
  using Req = const http::Request&;
  router.Add("POST", "/api/v1/runs/{id}/actions", [c](Req r) { return SubmitAction(r, *c); });
  router.Add("GET", "/api/v1/runs/{id}/actions", [c](Req r) { return ListActions(r, *c); });
  router.Add("POST", "/api/v1/runs/{id}/control", [c](Req r) { return ExchangeControl(r, *c); });
  router.Add("GET", "/api/v1/runs/{id}/control", [c](Req r) { return PollControl(r, *c); });
}

}  // namespace atlas::api
