// HttpClient: the agent's outbound HTTP, behind an interface so tests can see every request.
// CurlHttpClient is the real one (libcurl).
//
// Threading: CurlHttpClient is thread-safe (a fresh easy handle per request); a request blocks
// the calling thread until the response ends, a timeout fires or `on_body` returns false.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atlas/status.hpp"

namespace atlas::agent {

struct HttpPost {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{10000};
  // The connection counts as stalled when no byte arrives for this long.
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds total_timeout{120000};
  // Secrets to blank out of any error message (API keys), so they never reach a log.
  std::vector<std::string> secrets;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // POSTs and hands each chunk of a 2xx response body to `on_body` as it arrives (returning
  // false cancels). A non-2xx answer, a timeout or a network failure is kUnavailable with a
  // message naming the status and the server's error text (cut to 500 bytes); a cancel is
  // kUnavailable "cancelled".
  virtual Status Post(const HttpPost& request,
                      const std::function<bool(std::string_view)>& on_body) = 0;
};

// `cancel`, when given, aborts requests in flight once it becomes true (atlasd's shutdown).
std::unique_ptr<HttpClient> MakeCurlHttpClient(const std::atomic<bool>* cancel = nullptr);

// `text` with every non-empty secret replaced by "[redacted]".
std::string Redact(std::string text, const std::vector<std::string>& secrets);

}  // namespace atlas::agent
