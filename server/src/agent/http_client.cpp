#include "agent/http_client.hpp"

#include <curl/curl.h>

#include <mutex>

#include <fmt/format.h>

namespace atlas::agent {
namespace {

constexpr std::size_t kErrorBodyLimit = 500;

struct Transfer {
  CURL* handle = nullptr;
  const std::function<bool(std::string_view)>* on_body = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  long status = 0;
  std::string error_body;
  bool cancelled = false;
};

std::size_t OnWrite(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (t->status == 0) curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &t->status);
  if (t->status < 200 || t->status >= 300) {
    if (t->error_body.size() < kErrorBodyLimit) t->error_body.append(data, n);
    return n;
  }
  if (!(*t->on_body)(std::string_view(data, n))) {
    t->cancelled = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->cancel != nullptr && t->cancel->load()) {
    t->cancelled = true;
    return 1;
  }
  return 0;
}

// The server's error message when the body is JSON of the usual shapes
// ({"error": {"message": ...}} for both OpenAI and Anthropic), else the body itself.
std::string ErrorText(const std::string& body) {
  const std::size_t key = body.find("\"message\"");
  if (key != std::string::npos) {
    const std::size_t open = body.find('"', body.find(':', key) + 1);
    const std::size_t close = open == std::string::npos ? open : body.find('"', open + 1);
    if (close != std::string::npos) return body.substr(open + 1, close - open - 1);
  }
  return body.substr(0, kErrorBodyLimit);
}

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(const std::atomic<bool>* cancel) : cancel_(cancel) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  Status Post(const HttpPost& request,
              const std::function<bool(std::string_view)>& on_body) override {
    CURL* handle = curl_easy_init();
    if (handle == nullptr) return Status::Internal("cannot create a libcurl handle");
    Transfer t{handle, &on_body, cancel_, 0, {}, false};
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : request.headers) {
      headers = curl_slist_append(headers, fmt::format("{}: {}", name, value).c_str());
    }
    const long idle_s = std::max<long>(1, static_cast<long>(request.idle_timeout.count() / 1000));
    curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &OnWrite);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(handle, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(request.connect_timeout.count()));
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(request.total_timeout.count()));
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, idle_s);
    const CURLcode rc = curl_easy_perform(handle);
    if (t.status == 0) curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &t.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(handle);

    if (t.cancelled) return Status::Unavailable("cancelled");
    if (rc != CURLE_OK) {
      return Status::Unavailable(
          Redact(fmt::format("{} failed: {}", HostOf(request.url), curl_easy_strerror(rc)),
                 request.secrets));
    }
    if (t.status < 200 || t.status >= 300) {
      return Status::Unavailable(Redact(fmt::format("{} answered HTTP {}: {}", HostOf(request.url),
                                                    t.status, ErrorText(t.error_body)),
                                        request.secrets));
    }
    return Status::Ok();
  }

 private:
  // scheme://host[:port], so messages never carry a query string.
  static std::string HostOf(const std::string& url) {
    const std::size_t scheme = url.find("://");
    const std::size_t start = scheme == std::string::npos ? 0 : scheme + 3;
    const std::size_t end = url.find('/', start);
    return url.substr(0, end);
  }

  const std::atomic<bool>* cancel_;
};

}  // namespace

std::unique_ptr<HttpClient> MakeCurlHttpClient(const std::atomic<bool>* cancel) {
  return std::make_unique<CurlHttpClient>(cancel);
}

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    for (std::size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "[redacted]");
    }
  }
  return text;
}

}  // namespace atlas::agent
