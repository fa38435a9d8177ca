// The libcurl Transport. One easy handle, reused for every request, keeps the connection to
// atlasd open between batches (keep-alive). CURLOPT_NOSIGNAL because this runs on a background
// thread of a process (Python) that owns its signal handlers. Cancel works through the progress
// callback, which libcurl calls often while a transfer runs, so a cancelled request returns
// within a fraction of a second even while it waits for a connection.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "atlas/transport.hpp"

namespace atlas {
namespace {

constexpr long kConnectTimeoutMs = 5000;     // NOLINT(google-runtime-int)
constexpr long kMaxTimeoutMs = 0x7fffffffL;  // NOLINT(google-runtime-int)

// curl_global_init is not thread-safe on every libcurl build; do it once.
void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t AppendBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  body->append(data, size * count);
  return size * count;
}

class CurlTransport final : public Transport {
 public:
  CurlTransport() : handle_(curl_easy_init()) {}
  ~CurlTransport() override {
    if (handle_ != nullptr) curl_easy_cleanup(handle_);
  }
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<HttpResponse> Post(const HttpRequest& request,
                            std::chrono::milliseconds timeout) override {
    if (cancelled_.load(std::memory_order_acquire)) return Status::Unavailable("cancelled");
    if (handle_ == nullptr) return Status::Unavailable("libcurl could not create a handle");
    HttpResponse response;
    curl_slist* headers = BuildHeaders(request);
    Configure(request, timeout, headers, &response.body);
    const CURLcode rc = curl_easy_perform(handle_);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): the handle must not keep freed headers.
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      if (cancelled_.load(std::memory_order_acquire)) return Status::Unavailable("cancelled");
      return Status::Unavailable(std::string("POST ") + request.url + ": " +
                                 curl_easy_strerror(rc));
    }
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }

  void Cancel() override { cancelled_.store(true, std::memory_order_release); }

 private:
  static curl_slist* BuildHeaders(const HttpRequest& request) {
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    // Without this, libcurl waits for "100 Continue" before sending a large body.
    headers = curl_slist_append(headers, "Expect:");
    if (!request.content_encoding.empty()) {
      const std::string encoding = "Content-Encoding: " + request.content_encoding;
      headers = curl_slist_append(headers, encoding.c_str());
    }
    return headers;
  }

  // Options are set anew per request on the reused handle; the connection cache survives.
  void Configure(const HttpRequest& request, std::chrono::milliseconds timeout, curl_slist* headers,
                 std::string* body) {
    // NOLINTBEGIN(cppcoreguidelines-pro-type-vararg): libcurl's API is variadic.
    curl_easy_setopt(handle_, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle_, CURLOPT_POST, 1L);
    curl_easy_setopt(handle_, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(handle_, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle_, CURLOPT_TIMEOUT_MS, ClampMs(timeout.count()));
    curl_easy_setopt(handle_, CURLOPT_CONNECTTIMEOUT_MS,
                     std::min(kConnectTimeoutMs, ClampMs(timeout.count())));
    curl_easy_setopt(handle_, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, &AppendBody);
    curl_easy_setopt(handle_, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(handle_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(handle_, CURLOPT_XFERINFOFUNCTION, &Progress);
    curl_easy_setopt(handle_, CURLOPT_XFERINFODATA, this);
    // NOLINTEND(cppcoreguidelines-pro-type-vararg)
  }

  static long ClampMs(long long ms) {  // NOLINT(google-runtime-int)
    if (ms < 1) return 1;
    return ms > kMaxTimeoutMs ? kMaxTimeoutMs : static_cast<long>(ms);  // NOLINT
  }

  // Returning non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
  static int Progress(void* self, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/,
                      curl_off_t /*ultotal*/, curl_off_t /*ulnow*/) {
    return static_cast<CurlTransport*>(self)->cancelled_.load(std::memory_order_acquire) ? 1 : 0;
  }

  CURL* handle_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

std::unique_ptr<Transport> NewCurlTransport() {
  GlobalInitOnce();
  return std::make_unique<CurlTransport>();
}

}  // namespace atlas
