#include "api/responses.hpp"

#include <charconv>
#include <cmath>
#include <string_view>

namespace atlas::api {

http::Response ParseErrorResponse(const protocol::ParseError& error) {
  switch (error.kind) {
    case protocol::ErrorKind::kMalformed:
      return http::ErrorResponse(400, "malformed_json", error.field, error.reason);
    case protocol::ErrorKind::kTooLarge:
      return http::ErrorResponse(413, "payload_too_large", error.field, error.reason);
    case protocol::ErrorKind::kInvalid:
      break;
  }
  return http::ErrorResponse(422, "invalid_field", error.field, error.reason);
}

std::optional<http::Response> RequireJsonBody(const http::Request& request) {
  if (request.content_type == "application/json") return std::nullopt;
  return http::ErrorResponse(415, "unsupported_media_type", "Content-Type",
                             "expected application/json, got '" + request.content_type + "'");
}

std::variant<std::int64_t, http::Response> IntQuery(const http::Request& request,
                                                    const std::string& name, std::int64_t fallback,
                                                    std::int64_t min, std::int64_t max) {
  auto raw = request.Query(name);
  if (!raw) return fallback;
  std::int64_t value = 0;
  const char* end = raw->data() + raw->size();
  auto [ptr, ec] = std::from_chars(raw->data(), end, value);
  if (ec != std::errc() || ptr != end || value < min || value > max) {
    return http::ErrorResponse(400, "bad_query", name,
                               "expected an integer in [" + std::to_string(min) + ", " +
                                   std::to_string(max) + "], got '" + *raw + "'");
  }
  return value;
}

std::variant<std::optional<double>, http::Response> NumberQuery(const http::Request& request,
                                                                const std::string& name) {
  auto raw = request.Query(name);
  if (!raw) return std::optional<double>();
  double value = 0;
  const char* end = raw->data() + raw->size();
  auto [ptr, ec] = std::from_chars(raw->data(), end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) {
    return http::ErrorResponse(400, "bad_query", name,
                               "expected a finite number, got '" + *raw + "'");
  }
  return std::optional<double>(value);
}

}  // namespace atlas::api
