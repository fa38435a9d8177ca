#include "cli/api_client.hpp"

#include <curl/curl.h>

#include <cstdlib>
#include <memory>

#include "cli/serve.hpp"

namespace atlas::cli {
namespace {

std::size_t AppendBody(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};

}  // namespace

std::string DefaultServerUrl() {
  if (const char* url = std::getenv("ATLAS_URL"); url && *url) return url;
  return "http://127.0.0.1:" + std::to_string(kDefaultPort);
}

std::string UrlEncode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Result<model::Json> ApiClient::Get(const std::string& path) const {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Status::Internal("curl_easy_init failed");
  std::string body;
  const std::string url = base_url_ + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK) {
    return Status::Unavailable("cannot reach atlasd at " + base_url_ + ": " +
                               curl_easy_strerror(code) +
                               " (start it with `atlas serve`, or set ATLAS_URL)");
  }
  long http_status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &http_status);
  model::Json json = model::Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Status::Internal("atlasd answered " + std::to_string(http_status) +
                            " with a body that is not JSON");
  }
  if (http_status < 200 || http_status >= 300) {
    const std::string reason = json.value("reason", std::string("no reason given"));
    if (http_status == 404) return Status::NotFound(reason);
    return Status::InvalidArgument("atlasd answered " + std::to_string(http_status) + ": " +
                                   reason);
  }
  return json;
}

}  // namespace atlas::cli
