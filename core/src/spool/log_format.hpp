// The spool's on-disk format, after LevelDB's log format (doc/log_format.md), without its 32 KiB
// blocks: a spool is written by one process and read from front to back, so a frame never needs
// to be found again after a corrupt one.
//
//   file  := magic frame*
//   magic := "ATLSPL01"
//   frame := crc:u32 length:u32 type:u8 payload[length]        (integers little-endian)
//   crc   := masked CRC32C (util/crc32c.hpp) of type and payload
//   payload := records:u32 path_length:u16 path body
//
// The first frame of a spool is the run-create request (type 1; path "/api/v1/runs", body its
// JSON); every later frame a record batch (type 2; path "/api/v1/runs/<id>/records", body the
// batch JSON, uncompressed, `records` the number of records in it). A reader stops at the first
// frame that is incomplete (a torn tail, from a crash during a write) or whose CRC or length does
// not check out (corruption) and reports which; both are counted, never fatal.
// Pure code plus a reader over a SequentialFile; one thread per reader.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "atlas/env.hpp"
#include "atlas/status.hpp"

namespace atlas::core::spool {

inline constexpr std::string_view kMagic = "ATLSPL01";
inline constexpr std::size_t kHeaderBytes = 9;
// A frame larger than this is taken as a corrupt length field.
inline constexpr std::uint32_t kMaxPayloadBytes = 1u << 30;

enum class FrameType : std::uint8_t { kRunCreate = 1, kRecords = 2 };

struct Frame {
  FrameType type = FrameType::kRecords;
  std::uint32_t records = 0;
  std::string path;
  std::string body;
};

// The bytes of `frame` as stored, header included.
std::string EncodeFrame(const Frame& frame);

enum class ReadResult {
  kFrame,    // a frame was read
  kEnd,      // the end of the file, at a frame boundary
  kTorn,     // the file ends inside a frame
  kCorrupt,  // bad magic, CRC, length or payload
  kIoError,  // the file could not be read (see status())
};

// Reads frames from a file positioned at `start_offset` (0: the reader checks the magic).
class LogReader {
 public:
  LogReader(SequentialFile* file, std::uint64_t start_offset)
      : file_(file), offset_(start_offset) {}

  ReadResult Next(Frame* frame);
  // The offset just past the last intact frame (or the magic).
  std::uint64_t offset() const { return offset_; }
  // What went wrong for kTorn, kCorrupt and kIoError.
  const std::string& problem() const { return problem_; }
  const Status& status() const { return status_; }

 private:
  // Reads exactly n bytes into out; false at a short read (sets *eof_at_start when none came).
  bool ReadExactly(std::size_t n, std::string* out, bool* eof_at_start);
  ReadResult Fail(ReadResult result, std::string problem);

  SequentialFile* file_;
  std::uint64_t offset_;
  std::string problem_;
  Status status_;
};

}  // namespace atlas::core::spool
