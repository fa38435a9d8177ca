// Small parsing helpers for sysfs and procfs text. Private to the energy component.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atlas::energy {

// `text` without leading and trailing whitespace.
std::string_view Trim(std::string_view text);
// The unsigned integer `text` holds (after trimming), or nullopt.
std::optional<std::uint64_t> ParseU64(std::string_view text);
// The whitespace-separated words of `text`.
std::vector<std::string_view> Words(std::string_view text);
// The value after "<key>:" on the first line that starts with `key` (trimmed), or nullopt.
std::optional<std::string_view> KeyValue(std::string_view text, std::string_view key);

}  // namespace atlas::energy
