#include "sqlite_backend.hpp"

#include <utility>

#include "store/sqlite/sqlite_store.hpp"

namespace atlas::store::testing {

StoreBackend SqliteBackend() {
  return {"Sqlite", [](const std::filesystem::path& dir, std::function<double()> clock) {
            SqliteOptions options;
            options.path = (dir / "atlas.db").string();
            options.clock = std::move(clock);
            return OpenSqliteStore(options);
          }};
}

}  // namespace atlas::store::testing
