// Process-wide logging set-up for atlas and atlasd: to stderr, level from $ATLAS_LOG_LEVEL
// (trace, debug, info, warn, error; default info).
#pragma once

namespace atlas::cli {

void ConfigureLogging();

}  // namespace atlas::cli
