// The HTTP types handlers see: a decoded request in, a response out.
//
// Handlers are plain functions of a Request (the body already decompressed and size-checked by
// the server) returning a Response; they know nothing of sockets. The Router maps a method and a
// path pattern such as "/api/v1/runs/{id}" to a handler and fills Request::params.
#pragma once

#include <functional>
#include <map>
#include <memory>
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
  // Request headers, names lower-cased (a repeated header keeps its last value).
  std::map<std::string, std::string> headers;

  // The query parameter `name`, or nullopt.
  std::optional<std::string> Query(const std::string& name) const;
  // The header `lower_case_name`, or nullopt.
  std::optional<std::string> Header(const std::string& lower_case_name) const;
};

// The write side of a streaming response (Server-Sent Events), implemented by the server.
//
// Ownership: the server owns the stream's connection; whoever pushes holds a weak_ptr (a hub)
// or a shared_ptr for the duration of one push. Threading: every member function is
// thread-safe and never blocks on the network: Push only queues.
class StreamSink {
 public:
  virtual ~StreamSink() = default;

  // Queues `chunk` for writing. Returns false when the stream has ended, or when its queue
  // already holds ServerOptions::stream_queue_limit unwritten chunks: the client is too slow
  // to keep up, so the stream is closed (the client reconnects and catches up).
  virtual bool Push(std::shared_ptr<const std::string> chunk) = 0;
  // Ends the stream once the chunks already queued are written.
  virtual void Close() = 0;
  virtual bool closed() const = 0;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers

  // Set by a handler that answers with a stream. The head goes out without a Content-Length
  // (the body ends when the connection closes), `body` is the stream's first chunk, and then
  // `on_stream` receives the sink to push to (on the connection's strand, once). The stream
  // ends when the sink is closed, the client goes away, a write times out or the server stops.
  std::function<void(const std::shared_ptr<StreamSink>&)> on_stream;
  // Written when the stream has been silent for ServerOptions::stream_heartbeat, so that
  // proxies keep the connection and the client notices a dead server; empty for none.
  std::string heartbeat;
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
