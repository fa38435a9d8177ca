#include "codec/json_writer.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

namespace atlas::core::json {
namespace {

// The server's limits (server/src/protocol): names of user values, and timestamps beyond which
// a value is surely milliseconds sent by mistake.
constexpr std::size_t kMaxMetricNameChars = 128;
constexpr double kMaxUnixSeconds = 1e11;

void AppendInt(std::string& out, std::int64_t v) {
  std::array<char, 24> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), end);
}

void AppendKey(std::string& out, std::string_view key) {
  out += ',';
  out += '"';
  out += key;  // our keys need no escaping
  out += "\":";
}

std::size_t CountUtf8Chars(std::string_view s) {
  std::size_t chars = 0;
  for (const char c : s) {
    if ((static_cast<unsigned char>(c) & 0xc0u) != 0x80u) ++chars;
  }
  return chars;
}

Status CheckMetricNames(const StepRecord& record) {
  for (std::size_t i = 0; i < record.metrics.size(); ++i) {
    const std::string& name = record.metrics[i].name;
    const std::size_t chars = CountUtf8Chars(name);
    if (!IsValidUtf8(name) || chars == 0 || chars > kMaxMetricNameChars) {
      return Status::InvalidArgument("metric name must be 1-128 characters of UTF-8");
    }
    if (FindStepField(name)) {
      return Status::InvalidArgument("metric \"" + name + "\" is a step field; use Set()");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (record.metrics[j].name == name) {
        return Status::InvalidArgument("metric \"" + name + "\" given twice");
      }
    }
  }
  return Status::Ok();
}

Status CheckStepRecord(const StepRecord& record) {
  if (record.step < 0) return Status::InvalidArgument("step must be >= 0");
  if (record.epoch && *record.epoch < 0) return Status::InvalidArgument("epoch must be >= 0");
  if (!(record.ts > 0 && record.ts < kMaxUnixSeconds)) {
    return Status::InvalidArgument("ts must be Unix seconds");
  }
  for (std::size_t i = 0; i < kStepFieldCount; ++i) {
    const auto field = static_cast<StepField>(i);
    // NaN compares false, so it passes, as on the server.
    if (record.Has(field) && StepFieldIsNonNegative(field) && record.values[i] < 0) {
      return Status::InvalidArgument(std::string(kStepFieldNames[i]) + " must be >= 0");
    }
  }
  return CheckMetricNames(record);
}

// The position just past the '{' that opens `text`, or npos when `text` does not start (after
// white space) with '{'.
std::size_t ObjectBodyStart(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || text[first] != '{') return std::string_view::npos;
  return first + 1;
}

// `text` cut to the server's limit and made valid UTF-8 (a finish reason may hold a traceback
// with bytes of any encoding; losing a few characters beats losing the finish record).
std::string SanitizedText(std::string_view text) {
  constexpr std::size_t kMaxTextBytes = 65536;
  std::string out(text.substr(0, kMaxTextBytes));
  if (IsValidUtf8(out)) return out;
  for (char& c : out) {
    if ((static_cast<unsigned char>(c) & 0x80u) != 0) c = '?';
  }
  return out;
}

}  // namespace

void AppendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    return;
  }
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), end);
}

bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80u) {
      ++i;
      continue;
    }
    if ((c & 0xe0u) == 0xc0u) {
      extra = 1;
      cp = c & 0x1fu;
    } else if ((c & 0xf0u) == 0xe0u) {
      extra = 2;
      cp = c & 0x0fu;
    } else if ((c & 0xf8u) == 0xf0u) {
      extra = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0u) != 0x80u) return false;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    constexpr std::array<std::uint32_t, 4> kMinForLength = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[extra] || cp > 0x10ffffu || (cp >= 0xd800u && cp <= 0xdfffu)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

void AppendString(std::string& out, std::string_view s) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20u) {
          out += "\\u00";
          out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xfu];
          out += kHex[static_cast<unsigned char>(c) & 0xfu];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

Status AppendStepRecord(std::string& out, const StepRecord& record, std::int64_t seq) {
  Status valid = CheckStepRecord(record);
  if (!valid.ok()) return valid;
  out += R"({"kind":"step","seq":)";
  AppendInt(out, seq);
  AppendKey(out, "step");
  AppendInt(out, record.step);
  if (record.epoch) {
    AppendKey(out, "epoch");
    AppendInt(out, *record.epoch);
  }
  AppendKey(out, "ts");
  AppendNumber(out, record.ts);
  for (std::size_t i = 0; i < kStepFieldCount; ++i) {
    if (!record.Has(static_cast<StepField>(i))) continue;
    AppendKey(out, kStepFieldNames[i]);
    AppendNumber(out, record.values[i]);
  }
  if (!record.metrics.empty()) {
    AppendKey(out, "metrics");
    out += '{';
    for (std::size_t i = 0; i < record.metrics.size(); ++i) {
      if (i > 0) out += ',';
      AppendString(out, record.metrics[i].name);
      out += ':';
      AppendNumber(out, record.metrics[i].value);
    }
    out += '}';
  }
  out += '}';
  return Status::Ok();
}

Status AppendJsonRecord(std::string& out, std::string_view kind, std::string_view object_json,
                        std::int64_t seq) {
  const auto parsed = nlohmann::json::parse(object_json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Status::InvalidArgument(std::string(kind) + " record: not a JSON object");
  }
  if (parsed.contains("kind") || parsed.contains("seq")) {
    return Status::InvalidArgument(std::string(kind) +
                                   " record: \"kind\" and \"seq\" are set by the client");
  }
  // Splice the caller's text instead of re-dumping the parsed value: that keeps its numbers and
  // its "NaN" strings exactly as written and costs no second serialisation.
  const std::size_t body = ObjectBodyStart(object_json);
  out += R"({"kind":)";
  AppendString(out, kind);
  out += R"(,"seq":)";
  AppendInt(out, seq);
  if (!parsed.empty()) out += ',';
  const std::string_view rest = object_json.substr(body);
  out.append(rest.substr(0, rest.find_last_not_of(" \t\r\n") + 1));
  return Status::Ok();
}

std::optional<std::size_t> RecordIndexOf(std::string_view field) {
  constexpr std::string_view kPrefix = "records[";
  if (field.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::string_view rest = field.substr(kPrefix.size());
  std::size_t index = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), index);
  if (ec != std::errc() || end == rest.data() || end == rest.data() + rest.size() || *end != ']') {
    return std::nullopt;
  }
  return index;
}

std::optional<std::string> WithoutRecord(std::string_view batch_body, std::size_t index) {
  auto body = nlohmann::json::parse(batch_body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return std::nullopt;
  auto records = body.find("records");
  if (records == body.end() || !records->is_array() || index >= records->size()) {
    return std::nullopt;
  }
  records->erase(index);
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AppendFinishRecord(std::string& out, FinishStatus status, std::string_view reason, double ts,
                        std::string_view client_stats_json, std::int64_t seq) {
  out += R"({"kind":"finish","seq":)";
  AppendInt(out, seq);
  AppendKey(out, "ts");
  AppendNumber(out, ts);
  AppendKey(out, "status");
  AppendString(out, ToString(status));
  if (!reason.empty()) {
    AppendKey(out, "reason");
    AppendString(out, SanitizedText(reason));
  }
  AppendKey(out, "client_stats");
  out += client_stats_json;
  out += '}';
}

}  // namespace atlas::core::json
