// The SQLite store as a backend of the store tests: a database file in the test's directory.
#pragma once

#include "store_suite.hpp"

namespace atlas::store::testing {

StoreBackend SqliteBackend();

}  // namespace atlas::store::testing
