// A fixed pool of read-only connections, so queries run beside the writer instead of behind it
// (WAL lets readers see the last committed state while a write transaction is open).
//
// Thread-safe: Acquire() may be called from any thread and blocks until a connection is free;
// the Lease it returns gives its holder sole use of that connection until the Lease is
// destroyed. The pool owns the connections. Close() must not race with leases: the store calls
// it only once every call that could hold one has finished.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "atlas/status.hpp"
#include "store/sqlite/db.hpp"
#include "store/sqlite/thread_annotations.hpp"

namespace atlas::store::sqlite {

class ReaderPool {
 public:
  class Lease {
   public:
    Lease(ReaderPool& pool, Connection& conn) : pool_(pool), conn_(conn) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_.Release(conn_); }
    Connection& connection() { return conn_; }

   private:
    ReaderPool& pool_;
    Connection& conn_;
  };

  // Opens `count` read-only connections to the (already created and migrated) database.
  static Result<std::unique_ptr<ReaderPool>> Open(const std::string& path, int count,
                                                  int busy_timeout_ms);

  ReaderPool(const ReaderPool&) = delete;
  ReaderPool& operator=(const ReaderPool&) = delete;
  ~ReaderPool() = default;

  Lease Acquire() ATLAS_EXCLUDES(mu_);
  Status Close() ATLAS_EXCLUDES(mu_);

 private:
  explicit ReaderPool(std::vector<std::unique_ptr<Connection>> connections);
  void Release(Connection& conn) ATLAS_EXCLUDES(mu_);

  // Every connection of the pool, leased or not; fixed after construction until Close().
  std::vector<std::unique_ptr<Connection>> connections_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<Connection*> idle_ ATLAS_GUARDED_BY(mu_);  // the connections nobody holds
};

}  // namespace atlas::store::sqlite
