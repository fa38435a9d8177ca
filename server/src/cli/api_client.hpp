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

 private:
  std::string base_url_;
};

// Percent-encodes one URL component (a run id or a query value).
std::string UrlEncode(const std::string& text);

}  // namespace atlas::cli
