#include "http/json_response.hpp"

namespace atlas::http {

Response JsonResponse(unsigned status, const nlohmann::json& body) {
  Response response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

Response StoreError(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNotFound:
      return ErrorResponse(404, "not_found", "", status.message());
    case StatusCode::kConflict:
      return ErrorResponse(409, "conflict", "", status.message());
    case StatusCode::kInvalidArgument:
      return ErrorResponse(422, "invalid_field", "", status.message());
    case StatusCode::kUnavailable:
      return ErrorResponse(503, "unavailable", "", status.message());
    default:
      return ErrorResponse(500, "internal", "", status.message());
  }
}

}  // namespace atlas::http
