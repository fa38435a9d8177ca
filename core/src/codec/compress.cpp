#include "codec/compress.hpp"

#include <zlib.h>
#include <zstd.h>

#include <string>

namespace atlas::core {
namespace {

// Level 3 is zstd's default: several times faster than gzip at a better ratio; level 6 is
// zlib's default.
constexpr int kZstdLevel = 3;
constexpr int kGzipLevel = 6;
constexpr int kGzipWindowBits = 15 + 16;  // 15 = 32 KiB window; +16 = gzip wrapper, not zlib
constexpr int kGzipMemLevel = 8;

Result<std::string> CompressZstd(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), kZstdLevel);
  if (ZSTD_isError(n) != 0) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

Result<std::string> CompressGzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, kGzipLevel, Z_DEFLATED, kGzipWindowBits, kGzipMemLevel,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::Internal("zlib: deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
  // zlib's API takes non-const input pointers but does not write through them.
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));  // NOLINT
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());  // NOLINT
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const uLong total = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return Status::Internal("zlib: deflate did not finish");
  out.resize(total);
  return out;
}

}  // namespace

std::string_view ContentEncoding(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
    case Compression::kNone:
      break;
  }
  return "";
}

Result<std::string> Compress(Compression c, std::string_view data) {
  switch (c) {
    case Compression::kGzip:
      return CompressGzip(data);
    case Compression::kZstd:
      return CompressZstd(data);
    case Compression::kNone:
      break;
  }
  return std::string(data);
}

}  // namespace atlas::core
