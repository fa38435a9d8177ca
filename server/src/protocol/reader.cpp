#include "protocol/reader.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

namespace atlas::protocol::detail {
namespace {

using simdjson::dom::element_type;

// Keys and quoted values in messages are cut to this many bytes, so an error about a 1 MiB key
// does not echo the key back.
constexpr std::size_t kMaxEchoBytes = 64;
// Names of user metrics and of train/val values.
constexpr std::size_t kMaxValueNameChars = 128;

bool IsNumber(element_type type) {
  return type == element_type::INT64 || type == element_type::UINT64 ||
         type == element_type::DOUBLE;
}

// The longest prefix of `s` of at most `max_bytes` that does not split a UTF-8 sequence.
std::string_view Utf8Prefix(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0U) == 0x80U) --end;
  return s.substr(0, end);
}

// `s` as a JSON string literal, shortened when long, for messages.
std::string Quote(std::string_view s) {
  const std::string_view prefix = Utf8Prefix(s, kMaxEchoBytes);
  std::string quoted = model::Json(std::string(prefix)).dump();
  if (prefix.size() < s.size()) quoted.insert(quoted.size() - 1, "...");
  return quoted;
}

// Keys written as `.key` in paths; others (empty, long, or with other characters) are written
// as `["key"]`.
bool IsPlainKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxEchoBytes) return false;
  for (const char c : key) {
    const bool plain =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!plain) return false;
  }
  return true;
}

std::size_t CountChars(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) ++n;
  }
  return n;
}

// Numbers in messages: the shortest text that reads back as the same double, and the
// protocol's spelling of the non-finite values.
std::string FormatNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return fmt::format("{}", v);
}

std::optional<double> NonFiniteFromString(std::string_view s) {
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "Infinity") return std::numeric_limits<double>::infinity();
  if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  return std::nullopt;
}

// Checks the length of a name already known to be a string.
bool CheckNameLength(Reader& reader, std::string_view name, const Path& path, std::size_t min_chars,
                     std::size_t max_chars) {
  const std::size_t chars = CountChars(name);
  if (chars >= min_chars && chars <= max_chars) return true;
  if (min_chars == 0) {
    return reader.Fail(path,
                       fmt::format("must be at most {} characters, got {}", max_chars, chars));
  }
  return reader.Fail(path,
                     fmt::format("must be {}-{} characters, got {}", min_chars, max_chars, chars));
}

// 2^63: doubles at or beyond it (in magnitude) do not fit an int64.
constexpr double kTwoPow63 = 9223372036854775808.0;

// Typed reads of an element whose type the caller has checked; they cannot fail then.
// (get_double converts either integer type too.)
std::int64_t Int64Of(const dom::element& value) { return value.get_int64().value_unsafe(); }
std::uint64_t Uint64Of(const dom::element& value) { return value.get_uint64().value_unsafe(); }
double DoubleOf(const dom::element& value) { return value.get_double().value_unsafe(); }
std::string_view StringOf(const dom::element& value) { return value.get_string().value_unsafe(); }
bool GetArray(const dom::element& value, dom::array& out) {
  return value.get_array().get(out) == simdjson::SUCCESS;
}
bool GetObject(const dom::element& value, dom::object& out) {
  return value.get_object().get(out) == simdjson::SUCCESS;
}

}  // namespace

// ----- Path -----

void Path::AppendTo(std::string& out) const {
  if (parent_ == nullptr) return;  // the root contributes nothing
  parent_->AppendTo(out);
  if (!is_key_) {
    out += fmt::format("[{}]", index_);
  } else if (IsPlainKey(key_)) {
    if (!out.empty()) out += '.';
    out += key_;
  } else {
    out += '[';
    out += Quote(key_);
    out += ']';
  }
}

std::string Path::ToString() const {
  std::string out;
  AppendTo(out);
  return out;
}

// ----- Document -----

bool Document::Parse(std::string_view body, dom::element& root, ParseError& error) {
  dom::parser* parser = nullptr;
  if (body.size() <= kRetainedBodyBytes) {
    thread_local dom::parser shared;
    parser = &shared;
  } else {
    owned_ = std::make_unique<dom::parser>();
    parser = owned_.get();
  }
  // An empty string_view may carry a null pointer, which memcpy must not see even for 0 bytes.
  const char* data = body.data() != nullptr ? body.data() : "";
  // realloc_if_needed: the body has no SIMDJSON_PADDING after it, so simdjson copies it into
  // its own padded buffer (reused across calls on the shared parser).
  auto result = parser->parse(data, body.size(), /*realloc_if_needed=*/true);
  if (result.error() != simdjson::SUCCESS) {
    error = ParseError{ErrorKind::kMalformed, "",
                       fmt::format("not valid JSON: {}", simdjson::error_message(result.error()))};
    return false;
  }
  root = result.value_unsafe();
  return true;
}

// ----- free functions -----

std::string_view TypeName(const dom::element& value) {
  switch (value.type()) {
    case element_type::ARRAY:
      return "array";
    case element_type::OBJECT:
      return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "number";
    case element_type::STRING:
      return "string";
    case element_type::BOOL:
      return "boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

model::Json ToJson(const dom::element& value) {
  switch (value.type()) {
    case element_type::ARRAY: {
      model::Json out = model::Json::array();
      dom::array array;
      if (!GetArray(value, array)) return out;
      for (const dom::element child : array) out.push_back(ToJson(child));
      return out;
    }
    case element_type::OBJECT: {
      model::Json out = model::Json::object();
      dom::object object;
      if (!GetObject(value, object)) return out;
      for (const dom::key_value_pair field : object) {
        out[std::string(field.key)] = ToJson(field.value);
      }
      return out;
    }
    case element_type::INT64:
      return Int64Of(value);
    case element_type::UINT64:
      return Uint64Of(value);
    case element_type::DOUBLE:
      return DoubleOf(value);
    case element_type::STRING:
      return std::string(StringOf(value));
    case element_type::BOOL:
      return value.get_bool().value_unsafe();
    case element_type::NULL_VALUE:
      return nullptr;
  }
  return nullptr;
}

std::optional<std::size_t> KeyIndex(std::span<const std::string_view> keys, std::string_view key) {
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == key) return i;
  }
  return std::nullopt;
}

std::string JoinChoices(std::span<const std::string_view> choices) {
  std::string out;
  for (const std::string_view choice : choices) {
    if (!out.empty()) out += ", ";
    out += choice;
  }
  return out;
}

// ----- Reader -----

bool Reader::Fail(const Path& path, std::string reason, ErrorKind kind) {
  if (!failed_) {
    failed_ = true;
    error_ = ParseError{kind, path.ToString(), std::move(reason)};
  }
  return false;
}

bool Reader::TypeError(const dom::element& value, const Path& path, std::string_view expected) {
  return Fail(path, fmt::format("expected {}, got {}", expected, TypeName(value)));
}

bool Reader::Object(const dom::element& value, const Path& path, dom::object& out) {
  if (!GetObject(value, out)) return TypeError(value, path, "an object");
  return true;
}

bool Reader::Array(const dom::element& value, const Path& path, dom::array& out) {
  if (!GetArray(value, out)) return TypeError(value, path, "an array");
  return true;
}

bool Reader::BoundedArray(const dom::element& value, const Path& path, std::size_t max_items,
                          dom::array& out) {
  if (!Array(value, path, out)) return false;
  const std::size_t n = out.size();
  if (n > max_items) {
    return Fail(path, fmt::format("has {} elements; at most {} are allowed", n, max_items));
  }
  return true;
}

bool Reader::OpaqueObject(const dom::element& value, const Path& path, model::Json& out) {
  if (value.type() != element_type::OBJECT) return TypeError(value, path, "an object");
  out = ToJson(value);
  return true;
}

bool Reader::Int(const dom::element& value, const Path& path, std::int64_t min, std::int64_t& out) {
  std::int64_t v = 0;
  switch (value.type()) {
    case element_type::INT64:
      v = Int64Of(value);
      break;
    case element_type::UINT64:  // simdjson uses UINT64 only above INT64_MAX
      return Fail(path, fmt::format("must be at most {}, got {}",
                                    std::numeric_limits<std::int64_t>::max(), Uint64Of(value)));
    case element_type::DOUBLE: {
      const double d = DoubleOf(value);
      if (std::trunc(d) != d) {
        return Fail(path, fmt::format("expected an integer, got {}", FormatNumber(d)));
      }
      if (d >= kTwoPow63 || d < -kTwoPow63) {
        return Fail(path, fmt::format("{} is out of the 64-bit integer range", FormatNumber(d)));
      }
      v = static_cast<std::int64_t>(d);
      break;
    }
    default:
      return TypeError(value, path, "an integer");
  }
  if (v < min) return Fail(path, fmt::format("must be >= {}, got {}", min, v));
  out = v;
  return true;
}

bool Reader::Timestamp(const dom::element& value, const Path& path, double& out) {
  // Times beyond this (the year 5138) are almost surely milliseconds or nanoseconds sent by
  // mistake; rejecting them names the bug instead of storing nonsense.
  constexpr double kMaxUnixSeconds = 1e11;
  if (!IsNumber(value.type())) return TypeError(value, path, "a number (Unix seconds)");
  const double v = DoubleOf(value);
  if (v <= 0) return Fail(path, fmt::format("must be > 0 (Unix seconds), got {}", FormatNumber(v)));
  if (v >= kMaxUnixSeconds) {
    return Fail(path, fmt::format("must be Unix seconds; {} looks like milliseconds or finer",
                                  FormatNumber(v)));
  }
  out = v;
  return true;
}

bool Reader::Number(const dom::element& value, const Path& path, bool non_negative, double& out) {
  if (!IsNumber(value.type())) return TypeError(value, path, "a number");
  const double v = DoubleOf(value);
  if (non_negative && v < 0)
    return Fail(path, fmt::format("must be >= 0, got {}", FormatNumber(v)));
  out = v;
  return true;
}

bool Reader::Telemetry(const dom::element& value, const Path& path, bool non_negative,
                       double& out) {
  double v = 0;
  if (IsNumber(value.type())) {
    v = DoubleOf(value);
  } else if (value.type() == element_type::STRING) {
    const auto non_finite = NonFiniteFromString(StringOf(value));
    if (!non_finite) {
      return Fail(path,
                  "expected a number, got string; non-finite values are written \"NaN\", "
                  "\"Infinity\" or \"-Infinity\"");
    }
    v = *non_finite;
  } else {
    return TypeError(value, path, "a number");
  }
  // NaN compares false, so it passes: a NaN throughput is a measurement failure to show, not
  // invalid input.
  if (non_negative && v < 0)
    return Fail(path, fmt::format("must be >= 0, got {}", FormatNumber(v)));
  out = v;
  return true;
}

bool Reader::String(const dom::element& value, const Path& path, std::string_view& out) {
  return Text(value, path, limits_.max_string_bytes, out);
}

bool Reader::Text(const dom::element& value, const Path& path, std::size_t max_bytes,
                  std::string_view& out) {
  if (value.type() != element_type::STRING) return TypeError(value, path, "a string");
  const std::string_view s = StringOf(value);
  if (s.size() > max_bytes) {
    return Fail(path, fmt::format("must be at most {} bytes, got {}", max_bytes, s.size()));
  }
  out = s;
  return true;
}

bool Reader::Name(const dom::element& value, const Path& path, std::size_t min_chars,
                  std::size_t max_chars, std::string_view& out) {
  return String(value, path, out) && CheckNameLength(*this, out, path, min_chars, max_chars);
}

bool Reader::OneOf(const dom::element& value, const Path& path,
                   std::span<const std::string_view> choices, std::string_view& out) {
  if (!String(value, path, out)) return false;
  if (KeyIndex(choices, out)) return true;
  return Fail(path, fmt::format("must be one of: {}; got {}", JoinChoices(choices), Quote(out)));
}

bool Reader::NamedValues(const dom::element& value, const Path& path, bool reject_step_fields,
                         std::vector<std::pair<std::string, double>>& out) {
  dom::object object;
  if (!Object(value, path, object)) return false;
  out.reserve(object.size());
  for (const dom::key_value_pair field : object) {
    const Path field_path = path.Key(field.key);
    if (!CheckNameLength(*this, field.key, field_path, 1, kMaxValueNameChars)) return false;
    if (reject_step_fields && model::FindStepField(field.key)) {
      return Fail(field_path,
                  fmt::format("{} is a step field; use the top-level field", Quote(field.key)));
    }
    double v = 0;
    if (!Telemetry(field.value, field_path, /*non_negative=*/false, v)) return false;
    out.emplace_back(std::string(field.key), v);
  }
  const auto repeat =
      FirstRepeat(out, [](const auto& named) { return std::string_view{named.first}; });
  if (repeat) return Duplicate(path.Key(out[*repeat].first));
  return true;
}

}  // namespace atlas::protocol::detail
