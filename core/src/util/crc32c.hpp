// CRC32C (Castagnoli), table-driven, written here rather than taken from zlib because zlib's
// crc32 is the other polynomial (IEEE) and LevelDB's log format, which the spool follows, uses
// CRC32C. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace atlas::core::crc32c {

// The CRC32C of `data` continued from `crc` (the CRC of the bytes before it; 0 to start).
std::uint32_t Extend(std::uint32_t crc, std::string_view data);
inline std::uint32_t Value(std::string_view data) { return Extend(0, data); }

// A CRC stored next to the data it covers is masked, as in LevelDB, so that computing the CRC
// of a string that contains embedded CRCs stays well-behaved.
inline constexpr std::uint32_t kMaskDelta = 0xa282ead8u;
inline std::uint32_t Mask(std::uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline std::uint32_t Unmask(std::uint32_t masked) {
  const std::uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace atlas::core::crc32c
