// Request body decompression by Content-Encoding (identity, gzip, deflate, zstd).
//
// Pure functions of their input; safe from any thread. Decompression streams into the output and
// stops as soon as it would exceed the caller's limit, so a small "zip bomb" costs at most
// `limit` bytes of memory. Stacked encodings ("gzip, zstd") are undone last to first, each step
// under the same limit.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "http/http.hpp"

namespace atlas::http {

enum class DecodeFailure {
  kUnsupportedEncoding,  // an encoding we do not know: 415
  kMalformed,            // corrupt or truncated compressed data: 400
  kTooLarge,             // the decoded body would exceed the limit: 413
  kInternal,             // the decompressor could not allocate its state: 500
};

struct DecodeError {
  DecodeFailure failure;
  std::string reason;  // for the client, e.g. "gzip stream is truncated"
};

struct DecodedBody {
  std::string body;                  // the decoded bytes when `error` is empty
  std::optional<DecodeError> error;  // set when decoding failed

  bool ok() const { return !error.has_value(); }
};

// Decodes `body` according to the Content-Encoding header value `content_encoding` (a
// comma-separated list, case-insensitive; empty or "identity" means none). The decoded body may
// be at most `limit` bytes. An empty body decodes to an empty body under any known encoding.
DecodedBody DecodeBody(std::string_view content_encoding, std::string body, std::size_t limit);

// The error response for a failed decode: 415 unsupported_media_type (field "Content-Encoding"),
// 400 malformed_body, 413 payload_too_large or 500 internal (field "body").
Response DecodeErrorResponse(const DecodeError& error);

}  // namespace atlas::http
