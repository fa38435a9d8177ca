// Internal building blocks of the protocol parser: JSON paths, the parsed document, and a Reader
// that checks one field at a time and remembers the first error.
//
// Not part of the protocol component's interface (parse.hpp is). A Reader and the Paths built
// during one parse belong to the calling thread; nothing here is shared between threads except
// that each thread keeps one reusable simdjson parser (see Document).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "model/records.hpp"
#include "protocol/parse.hpp"

namespace atlas::protocol::detail {

namespace dom = simdjson::dom;

// A position in the request body such as `records[3].layers[0].grad_norm`. Paths live on the
// stack: each one points at its parent, so a child must not outlive the Path it was made from.
// Building one costs a few words; the text is only produced when an error is reported.
class Path {
 public:
  Path() = default;  // the document itself; renders as ""

  Path Key(std::string_view key) const { return Path(this, key, 0, true); }
  Path Index(std::size_t index) const { return Path(this, {}, index, false); }

  std::string ToString() const;

 private:
  Path(const Path* parent, std::string_view key, std::size_t index, bool is_key)
      : parent_(parent), key_(key), index_(index), is_key_(is_key) {}

  void AppendTo(std::string& out) const;

  const Path* parent_ = nullptr;
  std::string_view key_;  // into the parsed document or a static key table; outlives the Path
  std::size_t index_ = 0;
  bool is_key_ = false;
};

// A parsed request body. Bodies up to kRetainedBodyBytes are parsed by a parser kept per thread
// (its buffers are reused, so the hot ingest path does not allocate them per request); larger
// bodies get a parser of their own that is freed with the Document, so one huge batch does not
// pin hundreds of MiB per thread. At most one Document may be alive per thread at a time.
class Document {
 public:
  static constexpr std::size_t kRetainedBodyBytes = std::size_t{4} << 20;

  // Parses `body`; on failure `error` holds a kMalformed error with simdjson's message.
  bool Parse(std::string_view body, dom::element& root, ParseError& error);

 private:
  std::unique_ptr<dom::parser> owned_;
};

// The name of a JSON value's type for messages: "object", "array", "string", "number",
// "boolean" or "null".
std::string_view TypeName(const dom::element& value);

// Converts an opaque JSON value to model::Json once, keeping integers as integers. A key that
// repeats inside an object keeps its last value.
model::Json ToJson(const dom::element& value);

// Checks one value at a time against the protocol's rules. Every check returns true when the
// value is acceptable and false after recording why it is not; only the first error is kept,
// and callers stop at the first false, so the error names the first problem in the body.
class Reader {
 public:
  explicit Reader(const Limits& limits) : limits_(limits) {}

  const Limits& limits() const { return limits_; }

  // Records an error at `path` (when none is recorded yet) and returns false.
  bool Fail(const Path& path, std::string reason, ErrorKind kind = ErrorKind::kInvalid);
  ParseError TakeError() { return std::move(error_); }

  bool Required(const Path& path) { return Fail(path, "required"); }
  bool Duplicate(const Path& path) { return Fail(path, "appears more than once"); }

  bool Object(const dom::element& value, const Path& path, dom::object& out);
  bool Array(const dom::element& value, const Path& path, dom::array& out);
  // An array of at most `max_items` elements.
  bool BoundedArray(const dom::element& value, const Path& path, std::size_t max_items,
                    dom::array& out);
  // An object stored as given (config, extra, data, ...).
  bool OpaqueObject(const dom::element& value, const Path& path, model::Json& out);

  // An integral JSON number (3.0 counts; 3.5 does not) that fits an int64 and is >= `min`.
  bool Int(const dom::element& value, const Path& path, std::int64_t min, std::int64_t& out);
  // A time in Unix seconds: a JSON number > 0.
  bool Timestamp(const dom::element& value, const Path& path, double& out);
  // A plain JSON number, >= 0 when `non_negative`.
  bool Number(const dom::element& value, const Path& path, bool non_negative, double& out);
  // A telemetry value: a JSON number or one of the strings "NaN", "Infinity", "-Infinity".
  // When `non_negative`, values below zero (-Infinity included) are rejected; NaN is accepted.
  bool Telemetry(const dom::element& value, const Path& path, bool non_negative, double& out);

  // A string of at most limits().max_string_bytes bytes.
  bool String(const dom::element& value, const Path& path, std::string_view& out);
  // A string of at most `max_bytes` bytes.
  bool Text(const dom::element& value, const Path& path, std::size_t max_bytes,
            std::string_view& out);
  // A string of `min_chars` to `max_chars` Unicode characters (and at most max_string_bytes).
  bool Name(const dom::element& value, const Path& path, std::size_t min_chars,
            std::size_t max_chars, std::string_view& out);
  // A string equal to one of `choices`.
  bool OneOf(const dom::element& value, const Path& path, std::span<const std::string_view> choices,
             std::string_view& out);

  // Reads an object of name -> telemetry value with names of 1-128 characters, rejecting a
  // name that repeats. `reject_step_fields` turns a name of model::kStepFields into an error.
  bool NamedValues(const dom::element& value, const Path& path, bool reject_step_fields,
                   std::vector<std::pair<std::string, double>>& out);

 private:
  bool TypeError(const dom::element& value, const Path& path, std::string_view expected);

  const Limits& limits_;
  ParseError error_;
  bool failed_ = false;
};

// The position of `key` in `keys`, or nullopt.
std::optional<std::size_t> KeyIndex(std::span<const std::string_view> keys, std::string_view key);

// The index of the first item of `items` whose name (`name_of(item)`, a string_view) equals
// the name of an earlier item, or nullopt. Small inputs are compared pairwise, which beats
// hashing for the handful of names a record usually has; large ones go through a hash set.
template <typename Items, typename NameOf>
std::optional<std::size_t> FirstRepeat(const Items& items, NameOf name_of) {
  constexpr std::size_t kPairwiseLimit = 16;
  const std::size_t n = items.size();
  if (n <= kPairwiseLimit) {
    for (std::size_t i = 1; i < n; ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (name_of(items[i]) == name_of(items[j])) return i;
      }
    }
    return std::nullopt;
  }
  std::unordered_set<std::string_view> seen;
  seen.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!seen.insert(name_of(items[i])).second) return i;
  }
  return std::nullopt;
}

// "a, b, c": the choices of an enumeration for messages.
std::string JoinChoices(std::span<const std::string_view> choices);

// A set of keys of one object kind, as bits: bit i stands for keys[i].
using KeyMask = std::uint64_t;
constexpr KeyMask Bit(std::size_t index) { return KeyMask{1} << index; }

// Reads every field of `object` whose key is one of `keys` by calling
// `read_field(index, value, field_path)`. A key not in `keys` is an error (with `unknown_reason`,
// or a list of the allowed keys when that is empty), as is a key given twice. A null value means
// the field is absent: it is not passed on. `present` gets the bit of each non-null field.
template <std::size_t N, typename ReadField>
bool ReadFields(Reader& reader, const dom::object& object, const Path& path,
                const std::array<std::string_view, N>& keys, std::string_view unknown_reason,
                KeyMask& present, ReadField&& read_field) {
  static_assert(N <= 64, "KeyMask holds 64 keys");
  KeyMask seen = 0;
  for (const dom::key_value_pair field : object) {
    const Path field_path = path.Key(field.key);
    const std::optional<std::size_t> index = KeyIndex(keys, field.key);
    if (!index) {
      if (!unknown_reason.empty()) return reader.Fail(field_path, std::string(unknown_reason));
      return reader.Fail(field_path, "unknown field; allowed: " + JoinChoices(keys));
    }
    const KeyMask bit = Bit(*index);
    if ((seen & bit) != 0) return reader.Duplicate(field_path);
    seen |= bit;
    if (field.value.is_null()) continue;
    present |= bit;
    if (!read_field(*index, field.value, field_path)) return false;
  }
  return true;
}

// Reports the first key of `keys` (in table order) that is in `required` but not in `present`.
template <std::size_t N>
bool RequireFields(Reader& reader, const Path& path, const std::array<std::string_view, N>& keys,
                   KeyMask present, KeyMask required) {
  const KeyMask missing = required & ~present;
  if (missing == 0) return true;
  for (std::size_t i = 0; i < N; ++i) {
    if ((missing & Bit(i)) != 0) return reader.Required(path.Key(keys[i]));
  }
  return true;
}

}  // namespace atlas::protocol::detail
