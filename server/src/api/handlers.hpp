// The API v1 handlers, one function per endpoint (registered in routes.cpp).
#pragma once

#include "api/routes.hpp"
#include "http/http.hpp"
#include "store/store.hpp"

namespace atlas::api {

// Ingest (ingest_handlers.cpp).
http::Response CreateRun(const http::Request& req, store::Store& store, const ApiOptions& opt);
http::Response PostRecords(const http::Request& req, store::Store& store, const ApiOptions& opt);
http::Response PostFinish(const http::Request& req, store::Store& store, const ApiOptions& opt);

// Queries (query_handlers.cpp).
http::Response ListProjects(const http::Request& req, store::Store& store);
http::Response ListRuns(const http::Request& req, store::Store& store);
http::Response GetRun(const http::Request& req, store::Store& store);
http::Response ListSeries(const http::Request& req, store::Store& store);
http::Response GetSeries(const http::Request& req, store::Store& store);
http::Response ListEpochs(const http::Request& req, store::Store& store);
http::Response ListLayerStats(const http::Request& req, store::Store& store);
http::Response ListEvents(const http::Request& req, store::Store& store);
http::Response ListProfiles(const http::Request& req, store::Store& store);

}  // namespace atlas::api
