// The HTTP types handlers see: a decoded request in, a response out.
//
// Handlers are plain functions of a Request (the body already decompressed and size-checked by
// the server) returning a Response; they know nothing of sockets. The Router maps a method and a
// path pattern such as "/api/v1/runs/{id}" to a handler and fills Request::params.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atlas::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received, e.g. "/api/v1/runs?limit=5"
  std::string path;    // percent-decoded path without the query, e.g. "/api/v1/runs"
  std::map<std::string, std::string> query;   // percent-decoded query parameters (last wins)
  std::map<std::string, std::string> params;  // path parameters filled by the Router
  std::string content_type;  // media type only, lower-cased, e.g. "application/json"
  std::string body;          // decompressed
  std::string remote;        // "ip:port" of the peer, for logs

  // The query parameter `name`, or nullopt.
  std::optional<std::string> Query(const std::string& name) const;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

using Handler = std::function<Response(const Request&)>;

// A JSON error body {"error": ..., "field": ..., "reason": ...} with the given status.
Response ErrorResponse(unsigned status, std::string_view error, std::string_view field,
                       std::string_view reason);

class Router {
 public:
  // `pattern` segments in braces ("{id}") match one path segment and are captured.
  void Add(std::string method, std::string pattern, Handler handler);

  // Runs the matching handler. An unknown path gives 404; a known path with another method
  // gives 405 with an Allow header. A handler that throws gives 500 (and is logged); the
  // server keeps serving.
  Response Dispatch(Request& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace atlas::http
