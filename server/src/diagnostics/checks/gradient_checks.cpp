// The gradient checks (docs/diagnostics.md, "Gradient").
#include <span>

#include "diagnostics/check.hpp"

namespace atlas::diagnostics {

std::span<const CheckInfo> GradientChecks() { return {}; }

}  // namespace atlas::diagnostics
