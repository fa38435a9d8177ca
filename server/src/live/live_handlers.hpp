// The Server-Sent Events endpoints (docs/protocol.md, "Live updates"):
//   GET /api/v1/runs/{id}/live  the run's events (steps, epoch, layers, diagnostics, status,
//                               action); 404 for an unknown run
//   GET /api/v1/live            the runs table's events (run)
// Each answers with a stream subscribed to the Hub; Last-Event-ID (header, or the
// `last_event_id` query parameter for clients that cannot set headers) replays what was missed.
#pragma once

#include "http/http.hpp"
#include "live/hub.hpp"
#include "store/store.hpp"

namespace atlas::live {

// How long a client waits before reconnecting (the SSE `retry:` field).
inline constexpr int kRetryMillis = 3000;

http::Response RunLiveStream(const http::Request& request, Hub& hub, store::Store& store);
http::Response RunsLiveStream(const http::Request& request, Hub& hub);

}  // namespace atlas::live
