#include "http/http.hpp"

#include <exception>
#include <set>

#include "fmt/format.h"
#include "http/url.hpp"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace atlas::http {
namespace {

// The segments of a route pattern: "/api/v1/runs/{id}" -> {"api", "v1", "runs", "{id}"}.
std::vector<std::string> PatternSegments(std::string_view pattern) {
  if (!pattern.empty() && pattern.front() == '/') pattern.remove_prefix(1);
  std::vector<std::string> segments;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = pattern.find('/', start);
    if (slash == std::string_view::npos) {
      segments.emplace_back(pattern.substr(start));
      return segments;
    }
    segments.emplace_back(pattern.substr(start, slash - start));
    start = slash + 1;
  }
}

bool IsCapture(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// The decoded path segments of a request. The raw path in the target is split before decoding,
// so "%2F" stays inside its segment; a Request built without a target (in tests) falls back to
// splitting the already-decoded `path`.
std::optional<std::vector<std::string>> RequestSegments(const Request& request) {
  if (!request.target.empty()) {
    const std::optional<TargetParts> parts = SplitTarget(request.target);
    if (!parts) return std::nullopt;
    return DecodePathSegments(parts->path);
  }
  return PatternSegments(request.path);
}

// Whether `segments` match `pattern`; on a match, the captures are written to `params`.
bool Match(const std::vector<std::string>& pattern, const std::vector<std::string>& segments,
           std::map<std::string, std::string>* params) {
  if (pattern.size() != segments.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (IsCapture(pattern[i])) {
      if (segments[i].empty()) return false;
    } else if (pattern[i] != segments[i]) {
      return false;
    }
  }
  if (params != nullptr) {
    params->clear();
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      if (IsCapture(pattern[i]))
        (*params)[pattern[i].substr(1, pattern[i].size() - 2)] = segments[i];
    }
  }
  return true;
}

Response MethodNotAllowed(const Request& request, const std::set<std::string>& allowed) {
  std::string allow;
  for (const std::string& method : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  Response response = ErrorResponse(
      405, "method_not_allowed", "method",
      fmt::format("{} is not allowed on {}; allowed: {}", request.method, request.path, allow));
  response.headers.emplace_back("Allow", allow);
  return response;
}

Response RunHandler(const Handler& handler, const Request& request) {
  try {
    return handler(request);
  } catch (const std::exception& e) {
    spdlog::error("handler for {} {} threw: {}", request.method, request.target, e.what());
  } catch (...) {
    spdlog::error("handler for {} {} threw a non-standard exception", request.method,
                  request.target);
  }
  return ErrorResponse(500, "internal", "", "the request handler failed; see the server log");
}

}  // namespace

std::optional<std::string> Request::Query(const std::string& name) const {
  const auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Request::Header(const std::string& lower_case_name) const {
  const auto it = headers.find(lower_case_name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

Response ErrorResponse(unsigned status, std::string_view error, std::string_view field,
                       std::string_view reason) {
  // Invalid UTF-8 (a client's bytes echoed in `reason`) is replaced rather than thrown on.
  const nlohmann::json body = {{"error", error}, {"field", field}, {"reason", reason}};
  Response response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

// The by-value `pattern` is the shared contract in http.hpp; only its segments are kept.
void Router::Add(std::string method,
                 std::string pattern,  // NOLINT(performance-unnecessary-value-param)
                 Handler handler) {
  routes_.push_back(Route{std::move(method), PatternSegments(pattern), std::move(handler)});
}

Response Router::Dispatch(Request& request) const {
  const std::optional<std::vector<std::string>> segments = RequestSegments(request);
  if (!segments) {
    return ErrorResponse(400, "bad_request", "target", "the request target is malformed");
  }
  std::set<std::string> allowed;
  for (const Route& route : routes_) {
    if (route.method == request.method) {
      if (Match(route.segments, *segments, &request.params))
        return RunHandler(route.handler, request);
    } else if (Match(route.segments, *segments, nullptr)) {
      allowed.insert(route.method);
    }
  }
  if (!allowed.empty()) return MethodNotAllowed(request, allowed);
  return ErrorResponse(404, "not_found", "path", fmt::format("no route for {}", request.path));
}

}  // namespace atlas::http
