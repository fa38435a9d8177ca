// The architecture fingerprint: a stable hash of a model's module tree (types and shapes), so
// that two runs of the same architecture share a project memory whatever their names, batch
// sizes or hyperparameters.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "model/records.hpp"

namespace atlas::agent {

// "" when `modules` is empty; otherwise 16 lower-case hex digits (FNV-1a, 64 bits) over each
// module's depth, type, parameter count and per-sample input and output shapes (the leading
// batch dimension dropped), in registration order. Module names are left out, so renaming an
// attribute does not change the fingerprint; the tree's shape and the layers' sizes do.
std::string ArchitectureFingerprint(const std::vector<model::ModuleInfo>& modules);

}  // namespace atlas::agent
