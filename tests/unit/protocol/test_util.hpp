// Helpers shared by the protocol tests: unwrapping parse results with readable failures, and
// building request bodies.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <variant>

#include <gtest/gtest.h>

#include "protocol/parse.hpp"

namespace atlas::protocol {

inline std::string_view KindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kMalformed:
      return "kMalformed";
    case ErrorKind::kInvalid:
      return "kInvalid";
    case ErrorKind::kTooLarge:
      return "kTooLarge";
  }
  return "?";
}

// gtest prints errors through this, so a failed expectation shows the whole error.
inline void PrintTo(const ParseError& error, std::ostream* os) {
  *os << KindName(error.kind) << " at '" << error.field << "': " << error.reason;
}

// The parsed value; fails the test (and returns a default T) when parsing failed.
template <typename T>
T Expect(Parsed<T> parsed) {
  if (const auto* error = std::get_if<ParseError>(&parsed)) {
    ADD_FAILURE() << "unexpected parse error: " << ::testing::PrintToString(*error);
    return T{};
  }
  return std::get<T>(std::move(parsed));
}

// The error; fails the test (and returns a default error) when parsing succeeded.
template <typename T>
ParseError ExpectError(const Parsed<T>& parsed) {
  if (const auto* error = std::get_if<ParseError>(&parsed)) return *error;
  ADD_FAILURE() << "parsed, but an error was expected";
  return ParseError{ErrorKind::kMalformed, "<parsed>", "<parsed>"};
}

// {"records": [<records>]}
inline std::string Batch(std::string_view records) {
  return "{\"records\": [" + std::string(records) + "]}";
}

}  // namespace atlas::protocol
