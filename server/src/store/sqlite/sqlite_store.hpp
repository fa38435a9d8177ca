// The embedded SQLite implementation of store::Store, atlasd's default storage.
//
// One database file in WAL mode. Writes go through one read-write connection serialised by a
// mutex, one IMMEDIATE transaction per call; reads use a small pool of read-only connections,
// so they never wait for a write to finish. The schema is created and upgraded by numbered
// migrations when the store opens; a database written by a newer atlasd is refused.
// The returned Store is thread-safe (see store.hpp) and owns the database connections.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "atlas/status.hpp"
#include "store/store.hpp"

namespace atlas::store {

struct SqliteOptions {
  // The database file; its parent directory is created when missing. Must be a file (the
  // readers open their own connections to it), so ":memory:" is refused.
  std::string path;
  // The server clock in Unix seconds, for created_at and applied_at; the system clock when
  // empty. Tests inject a manual one.
  std::function<double()> clock;
  // How many read-only connections serve queries concurrently (at least 1).
  int reader_connections = 4;
  // How long a connection waits for a lock another process holds before giving up.
  int busy_timeout_ms = 5000;
};

// Opens (creating and migrating when needed) the database at `options.path`.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

// The schema version a database has after OpenSqliteStore.
int SqliteSchemaVersion();

}  // namespace atlas::store
