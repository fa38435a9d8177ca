#include "transport/poster.hpp"

#include <nlohmann/json.hpp>

#include "codec/compress.hpp"

namespace atlas::core {
namespace {

// Fills result->error with the server's error text, e.g. "HTTP 422: records[3].loss: must be
// >= 0", and result->field, from an error body {"error","field","reason"}.
void ReadHttpError(const HttpResponse& response, PostResult* result) {
  result->error = "HTTP " + std::to_string(response.status);
  const auto body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return;
  const auto field = body.find("field");
  const auto reason = body.find("reason");
  if (field != body.end() && field->is_string() && !field->get<std::string>().empty()) {
    result->field = field->get<std::string>();
    result->error += ": " + result->field;
  }
  if (reason != body.end() && reason->is_string()) {
    result->error += ": " + reason->get<std::string>();
  }
}

std::int64_t ReadDuplicates(const std::string& body) {
  const auto reply = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) return 0;
  const auto it = reply.find("duplicates");
  return it != reply.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

}  // namespace

std::string JoinUrl(std::string_view base, std::string_view path) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  std::string url(base);
  url += path;
  return url;
}

PostResult PostJson(Transport& transport, const std::string& url, std::string_view json,
                    Compression compression, std::chrono::milliseconds timeout) {
  HttpRequest request;
  request.url = url;
  auto compressed = Compress(compression, json);
  if (compressed.ok()) {
    request.body = std::move(compressed).value();
    request.content_encoding = ContentEncoding(compression);
  } else {
    request.body = std::string(json);  // sending it plain beats not sending it
  }
  const Result<HttpResponse> response = transport.Post(request, timeout);
  PostResult result;
  result.outcome = Classify(response);
  if (!response.ok()) {
    result.error = response.status().message();
    return result;
  }
  result.http_status = response->status;
  if (result.outcome == Outcome::kDelivered) {
    result.duplicates = ReadDuplicates(response->body);
    result.reply = response->body;
  } else {
    ReadHttpError(*response, &result);
  }
  return result;
}

}  // namespace atlas::core
