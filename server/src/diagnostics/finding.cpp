// Names of the finding categories and severities, as the JSON document and the docs spell them.
#include "diagnostics/finding.hpp"

#include <array>

namespace atlas::diagnostics {
namespace {

constexpr std::array<std::string_view, kCategoryCount> kCategoryNames = {
    "layer", "gradient", "architecture", "convergence", "device", "carbon"};
constexpr std::array<std::string_view, 3> kSeverityNames = {"info", "warning", "critical"};

}  // namespace

std::string_view ToString(Category c) { return kCategoryNames[static_cast<std::size_t>(c)]; }

std::string_view ToString(Severity s) { return kSeverityNames[static_cast<std::size_t>(s)]; }

std::optional<Category> ParseCategory(std::string_view s) {
  for (std::size_t i = 0; i < kCategoryNames.size(); ++i) {
    if (kCategoryNames[i] == s) return static_cast<Category>(i);
  }
  return std::nullopt;
}

std::optional<Severity> ParseSeverity(std::string_view s) {
  for (std::size_t i = 0; i < kSeverityNames.size(); ++i) {
    if (kSeverityNames[i] == s) return static_cast<Severity>(i);
  }
  return std::nullopt;
}

}  // namespace atlas::diagnostics
