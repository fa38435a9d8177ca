// Thin RAII wrappers over the SQLite C API, private to the SQLite store.
//
// A Connection owns one sqlite3 handle and a cache of prepared statements keyed by their SQL
// text, so every statement is prepared once per connection and reused (bound by index, reset).
// A Query borrows one cached statement for one execution and resets it when it goes out of
// scope. A Transaction rolls back unless committed. None of these types is thread-safe: a
// Connection (and everything borrowed from it) is used by one thread at a time, which the
// store guarantees with its writer mutex and its reader pool. Nothing here throws.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "atlas/status.hpp"
#include "model/records.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace atlas::store::sqlite {

// What the store writes for a NaN into a REAL column: SQLite turns a bound NaN double into
// NULL, which would be indistinguishable from an absent value, while a REAL-affinity column
// keeps non-numeric text as TEXT. Readers turn this text back into NaN.
inline constexpr std::string_view kNaNText = "NaN";

// `status` with "<context>: " put before its message, keeping its code.
Status WithContext(const Status& status, std::string_view context);

// The JSON text of `value`; invalid UTF-8 is replaced instead of throwing.
std::string DumpJson(const model::Json& value);
// Parses JSON text read from the database; a corrupt value is kInternal naming `what`.
Result<model::Json> ParseJson(std::string_view text, std::string_view what);

class Connection {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // Opens (and for kReadWrite creates) the database file at `path`. The handle is opened
  // without SQLite's own mutex because the store never shares a connection between threads.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, Mode mode,
                                                  int busy_timeout_ms);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Finalizes every cached statement and closes the handle; later use fails.
  Status Close();

  // Runs `sql` (one or more statements whose results are discarded) without caching it; for
  // schema changes and pragmas, never for per-record work.
  Status Exec(const std::string& sql);

  // The prepared statement for `sql`, prepared on the first request and cached after that.
  Result<sqlite3_stmt*> Prepare(const std::string& sql);

  // A Status for the SQLite result code `rc`, with the connection's error message and `context`.
  Status Error(int rc, std::string_view context) const;

  // The number of rows the last INSERT, UPDATE or DELETE changed.
  std::int64_t Changes() const;
  // True when no transaction is open.
  bool AutoCommit() const;
  sqlite3* handle() const { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

// One execution of a cached statement. Bind indexes are 1-based and column indexes 0-based,
// as in SQLite. The first binding failure is kept and reported by Step(). The statement is
// reset and its bindings cleared on destruction, so it can be borrowed again.
class Query {
 public:
  Query(const Connection& conn, sqlite3_stmt* stmt) : conn_(conn), stmt_(stmt) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  ~Query();

  void BindInt(int index, std::int64_t value);
  void BindInt(int index, const std::optional<std::int64_t>& value);
  // Binds a REAL value; NaN is written as kNaNText, nullopt as NULL.
  void BindReal(int index, double value);
  void BindReal(int index, const std::optional<double>& value);
  // Binds a plain double as SQLite's REAL, for range bounds (+/-infinity included, never NaN).
  void BindBound(int index, double value);
  // The text is copied by SQLite, so temporaries are fine.
  void BindText(int index, std::string_view value);
  void BindNull(int index);

  // Advances the statement: true when a row is available, false when it is done.
  Result<bool> Step();
  // Steps a statement that returns no rows.
  Status Run();
  // Calls `on_row()` (returning Status) for every row until the statement is done or a call
  // fails.
  template <typename OnRow>
  Status ForEachRow(OnRow&& on_row) {
    while (true) {
      Result<bool> row = Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::Ok();
      if (Status status = on_row(); !status.ok()) return status;
    }
  }

  bool IsNull(int column) const;
  std::int64_t Int(int column) const;
  std::optional<std::int64_t> OptInt(int column) const;
  // Reads a REAL column written by BindReal: NULL is nullopt, kNaNText is NaN.
  std::optional<double> OptReal(int column) const;
  // As OptReal, with NULL read as 0.
  double Real(int column) const;
  std::string Text(int column) const;
  std::string_view TextView(int column) const;  // valid until the next Step()
  // Parses a JSON text column; NULL reads as `if_null`.
  Result<model::Json> JsonColumn(int column, std::string_view what,
                                 const model::Json& if_null = model::Json::object()) const;

 private:
  void Check(int rc);

  const Connection& conn_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = 0;  // SQLITE_OK
};

// A transaction on one connection that rolls back unless Commit() succeeds.
class Transaction {
 public:
  enum class Kind { kDeferred, kImmediate };

  explicit Transaction(Connection& conn) : conn_(conn) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // BEGIN (deferred, for consistent multi-statement reads) or BEGIN IMMEDIATE (takes the write
  // lock up front, so a writer never fails half-way on a lock upgrade).
  Status Begin(Kind kind);
  Status Commit();
  // Rolls back now; a no-op when nothing is open.
  void Rollback();

 private:
  Status RunCached(const std::string& sql);

  Connection& conn_;
  bool open_ = false;
};

}  // namespace atlas::store::sqlite
