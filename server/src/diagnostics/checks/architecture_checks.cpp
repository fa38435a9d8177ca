// The architecture checks (docs/diagnostics.md, "Architecture").
#include <span>

#include "diagnostics/check.hpp"

namespace atlas::diagnostics {

std::span<const CheckInfo> ArchitectureChecks() { return {}; }

}  // namespace atlas::diagnostics
