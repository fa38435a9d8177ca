// Request body compression (gzip via zlib, or zstd), as atlasd's Content-Encoding accepts.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "atlas/client.hpp"
#include "atlas/status.hpp"

namespace atlas::core {

// The Content-Encoding header value of `c` ("" for none).
std::string_view ContentEncoding(Compression c);

// `data` compressed with `c` (a copy of it for kNone).
Result<std::string> Compress(Compression c, std::string_view data);

}  // namespace atlas::core
