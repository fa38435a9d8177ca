// The layer checks (docs/diagnostics.md, "Layer").
#include <span>

#include "diagnostics/check.hpp"

namespace atlas::diagnostics {

std::span<const CheckInfo> LayerChecks() { return {}; }

}  // namespace atlas::diagnostics
