#include "http/url.hpp"

#include <cstddef>
#include <utility>

namespace atlas::http {
namespace {

// The value of one hex digit, or -1.
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Calls `on_piece` for each piece of `input` between separators (empty pieces included).
template <typename F>
void ForEachPiece(std::string_view input, char separator, F&& on_piece) {
  std::size_t start = 0;
  while (true) {
    const std::size_t end = input.find(separator, start);
    if (end == std::string_view::npos) {
      on_piece(input.substr(start));
      return;
    }
    on_piece(input.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view input, bool plus_is_space) {
  std::string out;
  out.reserve(input.size());
  for (std::size_t i = 0; i < input.size(); ++i) {
    const char c = input[i];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
      continue;
    }
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (input.size() - i < 3) return std::nullopt;  // a '%' needs two hex digits after it
    const int high = HexValue(input[i + 1]);
    const int low = HexValue(input[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

std::optional<TargetParts> SplitTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) return TargetParts{target, {}};
  return TargetParts{target.substr(0, question), target.substr(question + 1)};
}

std::optional<std::vector<std::string>> DecodePathSegments(std::string_view raw_path) {
  if (!raw_path.empty() && raw_path.front() == '/') raw_path.remove_prefix(1);
  std::vector<std::string> segments;
  bool malformed = false;
  ForEachPiece(raw_path, '/', [&](std::string_view piece) {
    std::optional<std::string> decoded = PercentDecode(piece, /*plus_is_space=*/false);
    if (!decoded) {
      malformed = true;
      return;
    }
    segments.push_back(std::move(*decoded));
  });
  if (malformed) return std::nullopt;
  return segments;
}

std::optional<std::string> DecodePath(std::string_view raw_path) {
  return PercentDecode(raw_path, /*plus_is_space=*/false);
}

std::optional<std::map<std::string, std::string>> ParseQuery(std::string_view raw_query) {
  std::map<std::string, std::string> query;
  bool malformed = false;
  ForEachPiece(raw_query, '&', [&](std::string_view piece) {
    if (piece.empty() || malformed) return;
    const std::size_t equals = piece.find('=');
    const std::string_view raw_key = piece.substr(0, equals);
    const std::string_view raw_value =
        equals == std::string_view::npos ? std::string_view{} : piece.substr(equals + 1);
    std::optional<std::string> key = PercentDecode(raw_key, /*plus_is_space=*/true);
    std::optional<std::string> value = PercentDecode(raw_value, /*plus_is_space=*/true);
    if (!key || !value) {
      malformed = true;
      return;
    }
    query[std::move(*key)] = std::move(*value);
  });
  if (malformed) return std::nullopt;
  return query;
}

}  // namespace atlas::http
