#include "testing/fake_transport.hpp"

#include <zlib.h>
#include <zstd.h>

#include <nlohmann/json.hpp>

namespace atlas::testing {
namespace {

Result<std::string> InflateGzip(const std::string& body) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return Status::Internal("inflateInit2");
  std::string out;
  std::string chunk(1 << 16, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));  // NOLINT
  zs.avail_in = static_cast<uInt>(body.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk.data());  // NOLINT
    zs.avail_out = static_cast<uInt>(chunk.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(chunk.data(), chunk.size() - zs.avail_out);
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return Status::InvalidArgument("bad gzip body");
  return out;
}

Result<std::string> DecompressZstd(const std::string& body) {
  const unsigned long long size = ZSTD_getFrameContentSize(body.data(), body.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Status::InvalidArgument("bad zstd body");
  }
  std::string out(size, '\0');
  const std::size_t n = ZSTD_decompress(out.data(), out.size(), body.data(), body.size());
  if (ZSTD_isError(n) != 0) return Status::InvalidArgument("bad zstd body");
  out.resize(n);
  return out;
}

}  // namespace

Result<std::string> Decompress(const std::string& content_encoding, const std::string& body) {
  if (content_encoding.empty()) return body;
  if (content_encoding == "gzip") return InflateGzip(body);
  if (content_encoding == "zstd") return DecompressZstd(body);
  return Status::InvalidArgument("unknown encoding " + content_encoding);
}

std::vector<std::int64_t> SeqsOf(const std::string& json) {
  std::vector<std::int64_t> seqs;
  const auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("records")) return seqs;
  for (const auto& record : parsed["records"]) seqs.push_back(record.at("seq").get<std::int64_t>());
  return seqs;
}

Result<HttpResponse> FakeTransport::ServerAnswer(const std::string& url, const std::string& json) {
  HttpResponse response;
  if (url.size() >= 8 && url.compare(url.size() - 8, 8, "/records") == 0) {
    response.status = 200;
    response.body = nlohmann::json{{"accepted", SeqsOf(json).size()}, {"duplicates", 0}}.dump();
  } else {
    response.status = 201;
    response.body = R"({"resumed":false})";
  }
  return response;
}

void FakeTransport::SetResponder(Responder responder) {
  const std::lock_guard<std::mutex> lock(mu_);
  responder_ = std::move(responder);
}

void FakeTransport::SetBlocking(bool block) {
  const std::lock_guard<std::mutex> lock(mu_);
  blocking_ = block;
}

void FakeTransport::Release() {
  const std::lock_guard<std::mutex> lock(mu_);
  blocking_ = false;
  ++release_generation_;
  cv_.notify_all();
}

std::vector<FakeTransport::Call> FakeTransport::calls() {
  const std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

std::size_t FakeTransport::call_count() {
  const std::lock_guard<std::mutex> lock(mu_);
  return calls_.size();
}

bool FakeTransport::WaitForCalls(std::size_t n, std::chrono::milliseconds safety_limit) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, safety_limit, [&] { return calls_.size() >= n; });
}

std::vector<std::int64_t> FakeTransport::delivered_seqs() {
  const std::lock_guard<std::mutex> lock(mu_);
  return delivered_;
}

bool FakeTransport::cancelled() {
  const std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

Result<HttpResponse> FakeTransport::Post(const HttpRequest& request,
                                         std::chrono::milliseconds /*timeout*/) {
  std::unique_lock<std::mutex> lock(mu_);
  if (cancelled_) return Status::Unavailable("cancelled");
  auto json = Decompress(request.content_encoding, request.body);
  const std::size_t index = calls_.size();
  calls_.push_back(Call{request, json.ok() ? *json : std::string()});
  cv_.notify_all();
  if (blocking_) {
    const std::uint64_t generation = release_generation_;
    cv_.wait(lock, [&] { return cancelled_ || release_generation_ != generation; });
    if (cancelled_) return Status::Unavailable("cancelled");
  }
  if (!json.ok()) return HttpResponse{400, R"({"error":"bad body"})"};
  Result<HttpResponse> answer =
      responder_ ? responder_(index, request.url, *json) : ServerAnswer(request.url, *json);
  if (answer.ok() && answer->status >= 200 && answer->status < 300) {
    for (const std::int64_t seq : SeqsOf(*json)) delivered_.push_back(seq);
  }
  return answer;
}

void FakeTransport::Cancel() {
  const std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  cv_.notify_all();
}

}  // namespace atlas::testing
