#include "live/live_handlers.hpp"

#include <charconv>
#include <optional>
#include <string>

#include <fmt/format.h>

namespace atlas::live {
namespace {

std::optional<std::uint64_t> LastEventId(const http::Request& request) {
  const std::string text = request.Header("last-event-id")
                               .value_or(request.Query("last_event_id").value_or(std::string()));
  if (text.empty()) return std::nullopt;
  std::uint64_t id = 0;
  const char* const end = text.data() + text.size();
  const auto [parsed_end, error] = std::from_chars(text.data(), end, id);
  // An id this server never gave out is ignored: the client gets live events from now on.
  if (error != std::errc() || parsed_end != end) return std::nullopt;
  return id;
}

http::Response Stream(const http::Request& request, Hub& hub, std::string topic) {
  http::Response response;
  response.content_type = "text/event-stream";
  response.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
  response.body = fmt::format("retry: {}\n: connected to {}\n\n", kRetryMillis, topic);
  response.heartbeat = ": heartbeat\n\n";
  const std::optional<std::uint64_t> last_id = LastEventId(request);
  response.on_stream = [&hub, topic = std::move(topic),
                        last_id](const std::shared_ptr<http::StreamSink>& sink) {
    hub.Subscribe(topic, sink, last_id);
  };
  return response;
}

http::Response NotFound(const Status& status) {
  const bool missing = status.code() == StatusCode::kNotFound;
  return http::ErrorResponse(missing ? 404 : 503, missing ? "not_found" : "unavailable", "id",
                             status.message());
}

}  // namespace

http::Response RunLiveStream(const http::Request& request, Hub& hub, store::Store& store) {
  const std::string& run_id = request.params.at("id");
  Result<model::Run> run = store.GetRun(run_id);
  if (!run.ok()) return NotFound(run.status());
  return Stream(request, hub, Hub::RunTopic(run_id));
}

http::Response RunsLiveStream(const http::Request& request, Hub& hub) {
  return Stream(request, hub, std::string(Hub::kRunsTopic));
}

}  // namespace atlas::live
