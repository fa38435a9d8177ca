// Bodies the http tests send and answer with: compressed request bodies, a plain-text response.
#pragma once

#include <string>

#include "http/http.hpp"

namespace atlas::http::testing {

// Compresses with zlib: `window_bits` 16 + MAX_WBITS makes gzip, MAX_WBITS makes zlib (deflate).
std::string ZlibCompress(const std::string& input, int window_bits);
std::string Gzip(const std::string& input);
// A zstd frame that carries its content size, as ZSTD_compress writes it.
std::string Zstd(const std::string& input);
// A zstd frame without a content size, as a streaming compressor writes it.
std::string ZstdStreamed(const std::string& input);

// A 200 text/plain response with `body`.
Response Text(std::string body);

}  // namespace atlas::http::testing
