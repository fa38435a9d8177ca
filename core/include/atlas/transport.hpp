// Transport: one HTTP request at a time to atlasd, behind an interface.
//
// The real transport (NewCurlTransport) keeps one libcurl easy handle, so consecutive requests
// reuse the connection (keep-alive). Tests use a recording fake (core/testing). A Transport is
// used by one thread at a time, except Cancel, which any thread may call at any time.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "atlas/status.hpp"

namespace atlas {

struct HttpRequest {
  std::string url;               // absolute, e.g. "http://127.0.0.1:8787/api/v1/runs"
  std::string body;              // already encoded as content_encoding says
  std::string content_encoding;  // "", "gzip" or "zstd"
};

struct HttpResponse {
  long status = 0;  // NOLINT(google-runtime-int): libcurl reports the HTTP status as a long
  std::string body;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // POSTs `request` as application/json and waits at most `timeout` for the answer. Any HTTP
  // answer, 4xx and 5xx included, is an ok Result; a failure to get one (connection refused,
  // timeout, cancelled) is kUnavailable.
  virtual Result<HttpResponse> Post(const HttpRequest& request,
                                    std::chrono::milliseconds timeout) = 0;
  // Makes a Post in progress on another thread return kUnavailable promptly, and every later
  // Post fail at once. Used by Client::Shutdown when its deadline passes. Thread-safe.
  virtual void Cancel() = 0;
};

// The libcurl transport (CURLOPT_NOSIGNAL, connect and total timeouts, keep-alive).
std::unique_ptr<Transport> NewCurlTransport();

// How a request's outcome is handled: 2xx delivered; 408, 429, 5xx and network failures are
// retried later; any other answer is rejected for good (retrying would not change it).
enum class Outcome { kDelivered, kRetryable, kRejected };
Outcome Classify(const Result<HttpResponse>& result);

}  // namespace atlas
