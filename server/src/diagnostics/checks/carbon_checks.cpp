// The carbon checks (docs/diagnostics.md, "Carbon checks").
#include <span>

#include "diagnostics/check.hpp"

namespace atlas::diagnostics {

std::span<const CheckInfo> CarbonChecks() { return {}; }

}  // namespace atlas::diagnostics
