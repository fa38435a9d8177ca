// The device checks (docs/diagnostics.md, "Device checks").
#include <span>

#include "diagnostics/check.hpp"

namespace atlas::diagnostics {

std::span<const CheckInfo> DeviceChecks() { return {}; }

}  // namespace atlas::diagnostics
