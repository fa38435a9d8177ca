#include "bodies.hpp"

#define ZLIB_CONST
#include <zlib.h>
#include <zstd.h>

#include <stdexcept>
#include <utility>

namespace atlas::http::testing {

std::string ZlibCompress(const std::string& input, int window_bits) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out(deflateBound(&stream, static_cast<uLong>(input.size())), '\0');
  stream.next_in = reinterpret_cast<const Bytef*>(input.data());
  stream.avail_in = static_cast<uInt>(input.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  return out;
}

std::string Gzip(const std::string& input) { return ZlibCompress(input, 16 + MAX_WBITS); }

std::string ZstdStreamed(const std::string& input) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  std::string out(ZSTD_compressBound(input.size()), '\0');
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  const std::size_t rc = ZSTD_compressStream2(cctx, &ob, &in, ZSTD_e_end);
  ZSTD_freeCCtx(cctx);
  if (rc != 0) throw std::runtime_error("zstd did not finish in one call");
  out.resize(ob.pos);
  return out;
}

std::string Zstd(const std::string& input) {
  std::string out(ZSTD_compressBound(input.size()), '\0');
  const std::size_t size = ZSTD_compress(out.data(), out.size(), input.data(), input.size(), 3);
  if (ZSTD_isError(size)) throw std::runtime_error("zstd failed");
  out.resize(size);
  return out;
}

Response Text(std::string body) {
  Response response;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

}  // namespace atlas::http::testing
