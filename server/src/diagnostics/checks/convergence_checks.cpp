// The convergence checks (docs/diagnostics.md, "Convergence checks").
#include <span>

#include "diagnostics/check.hpp"

namespace atlas::diagnostics {

std::span<const CheckInfo> ConvergenceChecks() { return {}; }

}  // namespace atlas::diagnostics
