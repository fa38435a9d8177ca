#include "http/decode.hpp"

#define ZLIB_CONST  // next_in is a pointer to const, so no const_cast is needed
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "fmt/format.h"

namespace atlas::http {
namespace {

// Output grows by at most this much per decompressor call.
constexpr std::size_t kOutputChunk = 64u << 10;
// A zstd frame may ask the decoder for a window this large (8 MiB, what level 19 uses); larger
// windows (--long, --ultra) would let a tiny body make us allocate up to 128 MiB per request.
constexpr int kZstdWindowLogMax = 23;
// zlib counts input in uInt; larger bodies are fed in pieces of this size.
constexpr std::size_t kZlibInputPiece = 1u << 30;

enum class Encoding { kGzip, kDeflate, kZstd };

DecodedBody Failure(DecodeFailure failure, std::string reason) {
  return DecodedBody{{}, DecodeError{failure, std::move(reason)}};
}

DecodedBody TooLarge(std::size_t limit) {
  return Failure(DecodeFailure::kTooLarge,
                 fmt::format("decoded body exceeds the limit of {} bytes", limit));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

std::optional<Encoding> EncodingNamed(std::string_view name) {
  if (name == "gzip" || name == "x-gzip") return Encoding::kGzip;
  if (name == "deflate") return Encoding::kDeflate;
  if (name == "zstd") return Encoding::kZstd;
  return std::nullopt;
}

// The encodings of a Content-Encoding value in the order they were applied, without "identity";
// or the unknown name as the error.
DecodedBody ParseEncodings(std::string_view header, std::vector<Encoding>& encodings) {
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t comma = header.find(',', start);
    if (comma == std::string_view::npos) comma = header.size();
    const std::string name = Lower(Trim(header.substr(start, comma - start)));
    start = comma + 1;
    if (name.empty() || name == "identity") continue;
    const std::optional<Encoding> encoding = EncodingNamed(name);
    if (!encoding) {
      return Failure(DecodeFailure::kUnsupportedEncoding,
                     fmt::format("unsupported Content-Encoding \"{}\" (use gzip or zstd)", name));
    }
    encodings.push_back(*encoding);
  }
  return DecodedBody{};
}

// How many more bytes the output may take in one step: up to one byte past `limit`, so that
// exceeding the limit is observable without overflowing when `limit` is huge.
std::size_t OutputRoom(std::size_t produced, std::size_t limit) {
  const std::size_t left = limit - produced;
  return left >= kOutputChunk ? kOutputChunk : left + 1;
}

class ZStream {
 public:
  // `window_bits` selects the format: 16 + MAX_WBITS for gzip, MAX_WBITS for zlib (deflate).
  explicit ZStream(int window_bits) { init_rc_ = inflateInit2(&stream_, window_bits); }
  ~ZStream() {
    if (init_rc_ == Z_OK) inflateEnd(&stream_);
  }
  ZStream(const ZStream&) = delete;
  ZStream& operator=(const ZStream&) = delete;

  bool initialised() const { return init_rc_ == Z_OK; }
  z_stream& get() { return stream_; }

 private:
  z_stream stream_{};
  int init_rc_ = Z_STREAM_ERROR;
};

DecodedBody Inflate(std::string_view input, Encoding encoding, std::size_t limit) {
  const bool gzip = encoding == Encoding::kGzip;
  const char* name = gzip ? "gzip" : "deflate";
  ZStream zs(gzip ? 16 + MAX_WBITS : MAX_WBITS);
  if (!zs.initialised()) return Failure(DecodeFailure::kInternal, "zlib initialisation failed");
  z_stream& stream = zs.get();

  std::string out;
  std::size_t fed = 0;
  while (true) {
    if (stream.avail_in == 0 && fed < input.size()) {
      const std::size_t piece = std::min(input.size() - fed, kZlibInputPiece);
      stream.next_in = reinterpret_cast<const Bytef*>(input.data() + fed);
      stream.avail_in = static_cast<uInt>(piece);
      fed += piece;
    }
    const std::size_t before = out.size();
    const std::size_t room = OutputRoom(before, limit);
    out.resize(before + room);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    stream.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&stream, Z_NO_FLUSH);
    out.resize(before + room - stream.avail_out);
    if (out.size() > limit) return TooLarge(limit);

    if (rc == Z_STREAM_END) {
      if (stream.avail_in == 0 && fed == input.size()) return DecodedBody{std::move(out), {}};
      // A gzip file may hold several members back to back (RFC 1952, 2.2); zlib has one stream.
      if (!gzip) return Failure(DecodeFailure::kMalformed, "deflate stream has trailing data");
      if (inflateReset(&stream) != Z_OK) {
        return Failure(DecodeFailure::kInternal, "zlib reset failed");
      }
      continue;
    }
    if (rc == Z_MEM_ERROR) return Failure(DecodeFailure::kInternal, "zlib is out of memory");
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Failure(DecodeFailure::kMalformed,
                     fmt::format("{} data is corrupt: {}", name,
                                 stream.msg != nullptr ? stream.msg : "invalid stream"));
    }
    // No end of stream, all input consumed and output room left over: the stream is cut short.
    if (stream.avail_in == 0 && fed == input.size() && stream.avail_out > 0) {
      return Failure(DecodeFailure::kMalformed, fmt::format("{} stream is truncated", name));
    }
  }
}

struct ZstdDCtxDeleter {
  void operator()(ZSTD_DCtx* dctx) const { ZSTD_freeDCtx(dctx); }
};

DecodedBody Unzstd(std::string_view input, std::size_t limit) {
  const std::unique_ptr<ZSTD_DCtx, ZstdDCtxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) return Failure(DecodeFailure::kInternal, "zstd initialisation failed");
  if (ZSTD_isError(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kZstdWindowLogMax))) {
    return Failure(DecodeFailure::kInternal, "zstd configuration failed");
  }

  std::string out;
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  while (true) {
    const std::size_t before = out.size();
    const std::size_t room = OutputRoom(before, limit);
    out.resize(before + room);
    ZSTD_outBuffer ob{out.data() + before, room, 0};
    const std::size_t rc = ZSTD_decompressStream(dctx.get(), &ob, &in);
    out.resize(before + ob.pos);
    if (ZSTD_isError(rc)) {
      if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge) {
        return Failure(DecodeFailure::kMalformed,
                       "zstd frame needs a window over 8 MiB (compress without --long/--ultra)");
      }
      return Failure(DecodeFailure::kMalformed,
                     fmt::format("zstd data is corrupt: {}", ZSTD_getErrorName(rc)));
    }
    if (out.size() > limit) return TooLarge(limit);
    if (in.pos == in.size) {
      // 0: the last frame is complete and flushed (another frame may follow while input lasts).
      if (rc == 0) return DecodedBody{std::move(out), {}};
      // Output room left over means the decoder has nothing more to give without more input.
      if (ob.pos < room) return Failure(DecodeFailure::kMalformed, "zstd stream is truncated");
    }
  }
}

DecodedBody DecodeOne(Encoding encoding, std::string_view input, std::size_t limit) {
  if (encoding == Encoding::kZstd) return Unzstd(input, limit);
  return Inflate(input, encoding, limit);
}

}  // namespace

DecodedBody DecodeBody(std::string_view content_encoding, std::string body, std::size_t limit) {
  std::vector<Encoding> encodings;
  DecodedBody parsed = ParseEncodings(content_encoding, encodings);
  if (!parsed.ok()) return parsed;

  DecodedBody current{std::move(body), {}};
  if (current.body.empty()) return current;
  // Encodings are listed in the order they were applied, so they are undone from the back.
  for (auto it = encodings.rbegin(); it != encodings.rend(); ++it) {
    current = DecodeOne(*it, current.body, limit);
    if (!current.ok()) return current;
  }
  return current;
}

Response DecodeErrorResponse(const DecodeError& error) {
  switch (error.failure) {
    case DecodeFailure::kUnsupportedEncoding:
      return ErrorResponse(415, "unsupported_media_type", "Content-Encoding", error.reason);
    case DecodeFailure::kMalformed:
      return ErrorResponse(400, "malformed_body", "body", error.reason);
    case DecodeFailure::kTooLarge:
      return ErrorResponse(413, "payload_too_large", "body", error.reason);
    case DecodeFailure::kInternal:
      break;
  }
  return ErrorResponse(500, "internal", "body", error.reason);
}

}  // namespace atlas::http
