// Helpers shared by the API handlers: JSON responses, error mapping, query parameters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "atlas/status.hpp"
#include "http/http.hpp"
#include "http/json_response.hpp"
#include "model/records.hpp"
#include "protocol/parse.hpp"

namespace atlas::api {

// JSON responses and the Store's error mapping live in the HTTP layer, shared with the agent
// and the MCP server.
using http::JsonResponse;
using http::StoreError;

// Maps a protocol parse error to 400, 413 or 422.
http::Response ParseErrorResponse(const protocol::ParseError& error);

// 415 unless the request declares a JSON body.
std::optional<http::Response> RequireJsonBody(const http::Request& request);

// A query parameter parsed as an integer in [min, max]; absent -> fallback. On a bad value the
// variant holds the 400 response naming the parameter.
std::variant<std::int64_t, http::Response> IntQuery(const http::Request& request,
                                                    const std::string& name, std::int64_t fallback,
                                                    std::int64_t min, std::int64_t max);

// As IntQuery for an optional number (from/to ranges).
std::variant<std::optional<double>, http::Response> NumberQuery(const http::Request& request,
                                                                const std::string& name);

}  // namespace atlas::api
