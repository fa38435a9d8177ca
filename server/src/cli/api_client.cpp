#include "cli/api_client.hpp"

#include <curl/curl.h>

#include <cstdio>
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
struct ListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

std::string DefaultServerUrl() {
  if (const char* url = std::getenv("ATLAS_URL"); url && *url) return url;
  return "http://127.0.0.1:" + std::to_string(kDefaultPort);
}

int ReportFailure(const Status& status) {
  std::fprintf(stderr, "atlas: %s\n", status.message().c_str());
  return status.code() == StatusCode::kNotFound ? 2 : 1;
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

Result<model::Json> ApiClient::Get(const std::string& path) const { return Send(path, nullptr); }

Result<model::Json> ApiClient::Post(const std::string& path, const model::Json& body) const {
  return Send(path, &body);
}

Result<model::Json> ApiClient::Send(const std::string& path, const model::Json* body) const {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Status::Internal("curl_easy_init failed");
  std::unique_ptr<curl_slist, ListDeleter> headers;
  std::string payload;
  if (body != nullptr) {
    headers.reset(curl_slist_append(nullptr, "Content-Type: application/json"));
    payload = body->dump();
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(payload.size()));
  }
  std::string answer;
  const std::string url = base_url_ + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  const CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK) {
    return Status::Unavailable("cannot reach atlasd at " + base_url_ + ": " +
                               curl_easy_strerror(code) +
                               " (start it with `atlas serve`, or set ATLAS_URL)");
  }
  long http_status = 0;  // NOLINT(google-runtime-int): libcurl's type
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &http_status);
  model::Json json = model::Json::parse(answer, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Status::Internal("atlasd answered " + std::to_string(http_status) +
                            " with a body that is not JSON");
  }
  if (http_status >= 200 && http_status < 300) return json;
  std::string reason = json.value("reason", std::string("no reason given"));
  const std::string field = json.value("field", std::string());
  if (!field.empty()) reason = field + ": " + reason;
  if (http_status == 404) return Status::NotFound(reason);
  if (http_status == 409) return Status::Conflict(reason);
  return Status::InvalidArgument("atlasd answered " + std::to_string(http_status) + ": " + reason);
}

}  // namespace atlas::cli
