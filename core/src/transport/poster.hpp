// One protocol request: compress the JSON body, POST it, classify the answer and read the
// server's {"accepted","duplicates"} reply. Shared by the sender and SyncSpool. Stateless; the
// Transport it is given decides the threading.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "atlas/client.hpp"
#include "atlas/transport.hpp"

namespace atlas::core {

struct PostResult {
  Outcome outcome = Outcome::kRetryable;
  long http_status = 0;         // NOLINT(google-runtime-int): 0 when no answer came
  std::int64_t duplicates = 0;  // from the reply of a records request
  std::string error;            // what went wrong, "" when delivered
  std::string field;            // the server's "field" of a refused request, e.g. "records[3].ts"
  std::string reply;            // the body of a 2xx answer (it may carry control actions)
};

PostResult PostJson(Transport& transport, const std::string& url, std::string_view json,
                    Compression compression, std::chrono::milliseconds timeout);

// `base` without trailing slashes, followed by `path`.
std::string JoinUrl(std::string_view base, std::string_view path);

}  // namespace atlas::core
