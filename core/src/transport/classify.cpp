// Outcome classification (atlas/transport.hpp).
#include "atlas/transport.hpp"

namespace atlas {

Outcome Classify(const Result<HttpResponse>& result) {
  if (!result.ok()) return Outcome::kRetryable;
  const long status = result->status;  // NOLINT(google-runtime-int)
  if (status >= 200 && status < 300) return Outcome::kDelivered;
  constexpr long kRequestTimeout = 408;   // NOLINT(google-runtime-int)
  constexpr long kTooManyRequests = 429;  // NOLINT(google-runtime-int)
  if (status == kRequestTimeout || status == kTooManyRequests || status >= 500) {
    return Outcome::kRetryable;
  }
  return Outcome::kRejected;
}

}  // namespace atlas
