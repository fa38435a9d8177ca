// Percent-decoding of request targets: the path, its segments and the query string.
//
// These are pure functions of their input (no state, safe from any thread). A malformed escape
// ("%", "%4", "%zz") makes the whole input invalid: the caller answers 400 rather than guess
// what the client meant.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atlas::http {

// `input` with every "%XY" replaced by the byte 0xXY, or nullopt when an escape is malformed.
// With `plus_is_space`, '+' decodes to ' ' (the form encoding used in query strings; in a path a
// '+' is a literal plus).
std::optional<std::string> PercentDecode(std::string_view input, bool plus_is_space);

// A request target in origin form ("/a/b?x=1") split at the first '?'.
struct TargetParts {
  std::string_view path;   // raw (still encoded), starts with '/'
  std::string_view query;  // raw, without the '?'; empty when there is none
};

// Splits an origin-form target; nullopt when the target does not start with '/'.
std::optional<TargetParts> SplitTarget(std::string_view target);

// The segments of a raw path ("/a/b%2Fc/" -> {"a", "b/c", ""}), each percent-decoded after the
// split, so an encoded slash stays inside its segment. nullopt on a malformed escape.
std::optional<std::vector<std::string>> DecodePathSegments(std::string_view raw_path);

// The decoded path as one string ("/a/b%20c" -> "/a/b c"), or nullopt on a malformed escape.
std::optional<std::string> DecodePath(std::string_view raw_path);

// Parses "a=1&b=x+y&c" into {a: "1", b: "x y", c: ""}. Keys and values are percent-decoded with
// '+' as space; a repeated key keeps its last value; empty pieces ("a=1&&b=2") are skipped.
// nullopt on a malformed escape.
std::optional<std::map<std::string, std::string>> ParseQuery(std::string_view raw_query);

}  // namespace atlas::http
