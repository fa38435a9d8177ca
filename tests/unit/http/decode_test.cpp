#include "http/decode.hpp"

#define ZLIB_CONST
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <stdexcept>
#include <string>

#include "bodies.hpp"
#include "nlohmann/json.hpp"

namespace atlas::http {
namespace {

using testing::Gzip;
using testing::ZlibCompress;
using testing::ZstdStreamed;

// Compressible but not trivial text.
std::string Sample(std::size_t size) {
  std::string out;
  out.reserve(size);
  for (std::size_t i = 0; out.size() < size; ++i)
    out += "step " + std::to_string(i * 7919 % 1000) + "\n";
  out.resize(size);
  return out;
}

constexpr std::size_t kLimit = 1u << 20;

TEST(DecodeBody, IdentityAndNoEncodingPassThrough) {
  for (const char* encoding : {"", "identity", " Identity "}) {
    const DecodedBody decoded = DecodeBody(encoding, "plain", kLimit);
    ASSERT_TRUE(decoded.ok()) << encoding;
    EXPECT_EQ(decoded.body, "plain");
  }
}

TEST(DecodeBody, GzipRoundTrip) {
  const std::string original = Sample(300000);
  const DecodedBody decoded = DecodeBody("gzip", Gzip(original), kLimit);
  ASSERT_TRUE(decoded.ok()) << decoded.error->reason;
  EXPECT_EQ(decoded.body, original);
}

TEST(DecodeBody, EncodingNamesAreCaseInsensitive) {
  const DecodedBody decoded = DecodeBody("GZip", Gzip("hello"), kLimit);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded.body, "hello");
}

TEST(DecodeBody, GzipWithSeveralMembers) {
  const DecodedBody decoded = DecodeBody("gzip", Gzip("first ") + Gzip("second"), kLimit);
  ASSERT_TRUE(decoded.ok()) << decoded.error->reason;
  EXPECT_EQ(decoded.body, "first second");
}

TEST(DecodeBody, DeflateRoundTrip) {
  const std::string original = Sample(5000);
  const DecodedBody decoded = DecodeBody("deflate", ZlibCompress(original, MAX_WBITS), kLimit);
  ASSERT_TRUE(decoded.ok()) << decoded.error->reason;
  EXPECT_EQ(decoded.body, original);
}

TEST(DecodeBody, ZstdRoundTripWithoutContentSize) {
  const std::string original = Sample(300000);
  const std::string compressed = ZstdStreamed(original);
  ASSERT_EQ(ZSTD_getFrameContentSize(compressed.data(), compressed.size()),
            ZSTD_CONTENTSIZE_UNKNOWN);
  const DecodedBody decoded = DecodeBody("zstd", compressed, kLimit);
  ASSERT_TRUE(decoded.ok()) << decoded.error->reason;
  EXPECT_EQ(decoded.body, original);
}

TEST(DecodeBody, StackedEncodingsAreUndoneLastToFirst) {
  const DecodedBody decoded = DecodeBody("gzip, zstd", ZstdStreamed(Gzip("layered")), kLimit);
  ASSERT_TRUE(decoded.ok()) << decoded.error->reason;
  EXPECT_EQ(decoded.body, "layered");
}

TEST(DecodeBody, EmptyBodyDecodesToEmpty) {
  const DecodedBody decoded = DecodeBody("zstd", "", kLimit);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded.body.empty());
}

TEST(DecodeBody, TruncatedStreamsAreMalformed) {
  const std::string original = Sample(100000);
  const std::string gzip = Gzip(original);
  const std::string zstd = ZstdStreamed(original);
  for (const std::size_t keep :
       {std::size_t{1}, std::size_t{10}, gzip.size() / 2, gzip.size() - 1}) {
    const DecodedBody decoded = DecodeBody("gzip", gzip.substr(0, keep), kLimit);
    ASSERT_FALSE(decoded.ok()) << "gzip cut at " << keep;
    EXPECT_EQ(decoded.error->failure, DecodeFailure::kMalformed) << "gzip cut at " << keep;
  }
  for (const std::size_t keep :
       {std::size_t{1}, std::size_t{10}, zstd.size() / 2, zstd.size() - 1}) {
    const DecodedBody decoded = DecodeBody("zstd", zstd.substr(0, keep), kLimit);
    ASSERT_FALSE(decoded.ok()) << "zstd cut at " << keep;
    EXPECT_EQ(decoded.error->failure, DecodeFailure::kMalformed) << "zstd cut at " << keep;
  }
}

TEST(DecodeBody, CorruptDataIsMalformed) {
  std::string gzip = Gzip(Sample(10000));
  gzip[gzip.size() / 2] = static_cast<char>(gzip[gzip.size() / 2] ^ 0x55);
  const DecodedBody bad_gzip = DecodeBody("gzip", gzip, kLimit);
  ASSERT_FALSE(bad_gzip.ok());
  EXPECT_EQ(bad_gzip.error->failure, DecodeFailure::kMalformed);

  const DecodedBody not_zstd = DecodeBody("zstd", "definitely not zstd", kLimit);
  ASSERT_FALSE(not_zstd.ok());
  EXPECT_EQ(not_zstd.error->failure, DecodeFailure::kMalformed);

  const DecodedBody trailing = DecodeBody("gzip", Gzip("x") + "junk", kLimit);
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.error->failure, DecodeFailure::kMalformed);
}

TEST(DecodeBody, GzipBombStopsAtTheLimit) {
  const std::string bomb = Gzip(std::string(64u << 20, '\0'));  // 64 MiB of zeros
  // The compressed bomb fits well under the limit; only its decoded size trips it.
  ASSERT_LT(bomb.size(), kLimit / 2);
  const DecodedBody decoded = DecodeBody("gzip", bomb, kLimit);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error->failure, DecodeFailure::kTooLarge);
  EXPECT_NE(decoded.error->reason.find(std::to_string(kLimit)), std::string::npos);
}

TEST(DecodeBody, ZstdBombStopsAtTheLimit) {
  const std::string bomb = ZstdStreamed(std::string(64u << 20, 'a'));
  ASSERT_LT(bomb.size(), kLimit / 2);
  const DecodedBody decoded = DecodeBody("zstd", bomb, kLimit);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error->failure, DecodeFailure::kTooLarge);
}

TEST(DecodeBody, ExactlyTheLimitIsAllowed) {
  const std::string original(kLimit, 'z');
  const DecodedBody gzip = DecodeBody("gzip", Gzip(original), kLimit);
  ASSERT_TRUE(gzip.ok());
  EXPECT_EQ(gzip.body.size(), kLimit);
  const DecodedBody zstd = DecodeBody("zstd", ZstdStreamed(original), kLimit);
  ASSERT_TRUE(zstd.ok()) << zstd.error->reason;
  EXPECT_EQ(zstd.body.size(), kLimit);
  EXPECT_FALSE(DecodeBody("zstd", ZstdStreamed(original + "!"), kLimit).ok());
}

TEST(DecodeBody, UnknownEncodingIsUnsupported) {
  const DecodedBody decoded = DecodeBody("br", "whatever", kLimit);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error->failure, DecodeFailure::kUnsupportedEncoding);
  // Even when a known encoding is listed with it.
  EXPECT_FALSE(DecodeBody("gzip, compress", Gzip("x"), kLimit).ok());
}

TEST(DecodeErrorResponse, MapsEachFailureToItsStatus) {
  const Response unsupported =
      DecodeErrorResponse({DecodeFailure::kUnsupportedEncoding, "unsupported \"br\""});
  EXPECT_EQ(unsupported.status, 415u);
  const nlohmann::json body = nlohmann::json::parse(unsupported.body);
  EXPECT_EQ(body["error"], "unsupported_media_type");
  EXPECT_EQ(body["field"], "Content-Encoding");
  EXPECT_EQ(body["reason"], "unsupported \"br\"");
  EXPECT_EQ(DecodeErrorResponse({DecodeFailure::kMalformed, "x"}).status, 400u);
  EXPECT_EQ(DecodeErrorResponse({DecodeFailure::kTooLarge, "x"}).status, 413u);
  EXPECT_EQ(DecodeErrorResponse({DecodeFailure::kInternal, "x"}).status, 500u);
}

}  // namespace
}  // namespace atlas::http
