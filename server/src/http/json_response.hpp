// JSON responses, and the HTTP error for a failed Status, shared by every component's handlers
// (api, agent, mcp) so that they all answer in the same shape (docs/protocol.md).
//
// Threading: pure functions of their arguments; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include "atlas/status.hpp"
#include "http/http.hpp"

namespace atlas::http {

// `body` serialised as the response's JSON body, with `status`. Invalid UTF-8 in a string is
// replaced rather than thrown on: stored strings were validated on the way in, so this only
// keeps a bug from turning into a 500.
Response JsonResponse(unsigned status, const nlohmann::json& body);

// Maps a failed Status (from the Store, or a service built on it) to its HTTP error:
// kNotFound 404, kConflict 409, kInvalidArgument 422, kUnavailable 503, anything else 500,
// with the status's message as the reason.
Response StoreError(const Status& status);

}  // namespace atlas::http
