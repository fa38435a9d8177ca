#include "util/crc32c.hpp"

#include <gtest/gtest.h>

#include <string>

namespace atlas::core::crc32c {
namespace {

TEST(Crc32c, KnownValues) {
  // The check value of CRC-32C, and the vectors of RFC 3720 (iSCSI), B.4.
  EXPECT_EQ(Value("123456789"), 0xe3069283u);
  EXPECT_EQ(Value(std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(Value(std::string(32, '\xff')), 0x62a8ab43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending += static_cast<char>(i);
  EXPECT_EQ(Value(ascending), 0x46dd794eu);
}

TEST(Crc32c, ExtendEqualsWhole) {
  EXPECT_EQ(Extend(Value("hello "), "world"), Value("hello world"));
}

TEST(Crc32c, MaskRoundTripsAndChangesTheValue) {
  const std::uint32_t crc = Value("foo");
  EXPECT_NE(Mask(crc), crc);
  EXPECT_NE(Mask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Unmask(Mask(Mask(crc)))), crc);
}

}  // namespace
}  // namespace atlas::core::crc32c
