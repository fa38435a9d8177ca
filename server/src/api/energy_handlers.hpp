// GET /api/v1/runs/{id}/energy: the run's energy, carbon and cost per epoch, component and
// layer (docs/protocol.md, "GET /api/v1/runs/{id}/energy"; docs/energy.md).
//
// A plain handler: it reads the run through the Store (thread-safe) and builds the document
// with the pure functions of energy/attribution.hpp.
#pragma once

#include "http/http.hpp"
#include "store/store.hpp"

namespace atlas::api {

http::Response GetRunEnergy(const http::Request& req, store::Store& store);

}  // namespace atlas::api
