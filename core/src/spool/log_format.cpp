#include "spool/log_format.hpp"

#include <array>
#include <cstring>

#include "util/crc32c.hpp"

namespace atlas::core::spool {
namespace {

constexpr std::size_t kPayloadPrefixBytes = 6;  // records:u32 path_length:u16

void PutU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xffu);
}

void PutU16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v & 0xffu);
  out += static_cast<char>((v >> 8) & 0xffu);
}

std::uint32_t GetU32(std::string_view in) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::uint16_t GetU16(std::string_view in) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(in[0]) |
                                    (static_cast<unsigned char>(in[1]) << 8));
}

bool KnownType(std::uint8_t type) {
  return type == static_cast<std::uint8_t>(FrameType::kRunCreate) ||
         type == static_cast<std::uint8_t>(FrameType::kRecords);
}

}  // namespace

std::string EncodeFrame(const Frame& frame) {
  std::string payload;
  payload.reserve(kPayloadPrefixBytes + frame.path.size() + frame.body.size());
  PutU32(payload, frame.records);
  PutU16(payload, static_cast<std::uint16_t>(frame.path.size()));
  payload += frame.path;
  payload += frame.body;

  const char type = static_cast<char>(frame.type);
  const std::uint32_t crc =
      crc32c::Mask(crc32c::Extend(crc32c::Value(std::string_view(&type, 1)), payload));
  std::string out;
  out.reserve(kHeaderBytes + payload.size());
  PutU32(out, crc);
  PutU32(out, static_cast<std::uint32_t>(payload.size()));
  out += type;
  out += payload;
  return out;
}

bool LogReader::ReadExactly(std::size_t n, std::string* out, bool* eof_at_start) {
  out->resize(n);
  std::size_t got = 0;
  while (got < n) {
    auto read = file_->Read(n - got, out->data() + got);
    if (!read.ok()) {
      status_ = read.status();
      return false;
    }
    if (*read == 0) break;
    got += *read;
  }
  if (eof_at_start != nullptr) *eof_at_start = got == 0;
  return got == n;
}

ReadResult LogReader::Fail(ReadResult result, std::string problem) {
  problem_ = std::move(problem);
  return result;
}

ReadResult LogReader::Next(Frame* frame) {
  std::string bytes;
  bool eof = false;
  if (offset_ == 0) {
    if (!ReadExactly(kMagic.size(), &bytes, &eof)) {
      if (!status_.ok()) return Fail(ReadResult::kIoError, status_.message());
      return eof ? ReadResult::kEnd : Fail(ReadResult::kTorn, "the file ends inside its magic");
    }
    if (bytes != kMagic) return Fail(ReadResult::kCorrupt, "not an atlas spool (bad magic)");
    offset_ = kMagic.size();
  }
  if (!ReadExactly(kHeaderBytes, &bytes, &eof)) {
    if (!status_.ok()) return Fail(ReadResult::kIoError, status_.message());
    return eof ? ReadResult::kEnd : Fail(ReadResult::kTorn, "the file ends inside a frame header");
  }
  const std::string_view header = bytes;
  const std::uint32_t stored_crc = crc32c::Unmask(GetU32(header));
  const std::uint32_t length = GetU32(header.substr(4));
  const auto type = static_cast<std::uint8_t>(bytes[8]);
  if (length > kMaxPayloadBytes || length < kPayloadPrefixBytes) {
    return Fail(ReadResult::kCorrupt, "bad frame length");
  }
  std::string payload;
  if (!ReadExactly(length, &payload, nullptr)) {
    if (!status_.ok()) return Fail(ReadResult::kIoError, status_.message());
    return Fail(ReadResult::kTorn, "the file ends inside a frame");
  }
  const char type_char = static_cast<char>(type);
  const std::uint32_t crc = crc32c::Extend(crc32c::Value(std::string_view(&type_char, 1)), payload);
  if (crc != stored_crc) return Fail(ReadResult::kCorrupt, "checksum mismatch");
  if (!KnownType(type)) return Fail(ReadResult::kCorrupt, "unknown frame type");
  const std::string_view view(payload);
  const std::uint16_t path_length = GetU16(view.substr(4));
  if (kPayloadPrefixBytes + path_length > payload.size()) {
    return Fail(ReadResult::kCorrupt, "bad path length");
  }
  frame->type = static_cast<FrameType>(type);
  frame->records = GetU32(view);
  frame->path = std::string(view.substr(kPayloadPrefixBytes, path_length));
  frame->body = std::string(view.substr(kPayloadPrefixBytes + path_length));
  offset_ += kHeaderBytes + length;
  return ReadResult::kFrame;
}

}  // namespace atlas::core::spool
