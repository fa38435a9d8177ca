// A small blocking client of atlasd's API v1 for the CLI commands (libcurl).
#pragma once

#include <string>

#include "atlas/status.hpp"
#include "model/records.hpp"

namespace atlas::cli {

// The server URL: $ATLAS_URL, else http://127.0.0.1:<default port>.
std::string DefaultServerUrl();

class ApiClient {
 public:
  explicit ApiClient(std::string base_url) : base_url_(std::move(base_url)) {}

  // GETs `path` (e.g. "/api/v1/runs?limit=5") and parses the JSON body. A non-2xx answer comes
  // back as a Status carrying the server's reason; an unreachable server as kUnavailable.
  Result<model::Json> Get(const std::string& path) const;
  // POSTs `body` as JSON to `path`, with Get's answers; a 409 comes back as kConflict.
  Result<model::Json> Post(const std::string& path, const model::Json& body) const;

 private:
  Result<model::Json> Send(const std::string& path, const model::Json* body) const;

  std::string base_url_;
};

// Prints "atlas: <message>" to stderr; the command's exit code for it: 2 when something was not
// found, 1 otherwise.
int ReportFailure(const Status& status);

// Percent-encodes one URL component (a run id or a query value).
std::string UrlEncode(const std::string& text);

}  // namespace atlas::cli
