#include "store/sqlite/db.hpp"

#include <sqlite3.h>

#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>

namespace atlas::store::sqlite {

Status WithContext(const Status& status, std::string_view context) {
  std::string message = fmt::format("{}: {}", context, status.message());
  switch (status.code()) {
    case StatusCode::kOk:
      return status;
    case StatusCode::kInvalidArgument:
      return Status::InvalidArgument(std::move(message));
    case StatusCode::kNotFound:
      return Status::NotFound(std::move(message));
    case StatusCode::kConflict:
      return Status::Conflict(std::move(message));
    case StatusCode::kUnavailable:
      return Status::Unavailable(std::move(message));
    case StatusCode::kInternal:
      return Status::Internal(std::move(message));
    case StatusCode::kIoError:
      return Status::IoError(std::move(message));
  }
  return Status::Internal(std::move(message));
}

std::string DumpJson(const model::Json& value) {
  return value.dump(-1, ' ', false, model::Json::error_handler_t::replace);
}

Result<model::Json> ParseJson(std::string_view text, std::string_view what) {
  model::Json parsed = model::Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Status::Internal(fmt::format("stored {} is not valid JSON", what));
  }
  return parsed;
}

namespace {

Status StatusFor(int rc, std::string message) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(message));
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      // The store checks its own invariants in the schema; a violation means the input broke
      // one (for example, one layer named twice in one sample).
      return Status::InvalidArgument(std::move(message));
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_ERROR:
      return Status::Internal(std::move(message));
    default:
      return Status::IoError(std::move(message));
  }
}

}  // namespace

// --- Connection -------------------------------------------------------------------------------

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, Mode mode,
                                                     int busy_timeout_ms) {
  int flags = SQLITE_OPEN_NOMUTEX;
  flags |=
      mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = fmt::format("cannot open database '{}': {}", path,
                                      db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return StatusFor(rc, std::move(message));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return std::unique_ptr<Connection>(new Connection(db));
}

Connection::~Connection() { (void)Close(); }

Status Connection::Close() {
  if (db_ == nullptr) return Status::Ok();
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  statements_.clear();
  const int rc = sqlite3_close(db_);
  if (rc != SQLITE_OK) {
    // Every statement this code prepares is finalized above, so this is a bug; the handle is
    // handed to close_v2 so it is released once whatever still holds it lets go.
    Status status = Error(rc, "close");
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return status;
  }
  db_ = nullptr;
  return Status::Ok();
}

Status Connection::Exec(const std::string& sql) {
  if (db_ == nullptr) return Status::Unavailable("database connection is closed");
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string message = error != nullptr ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  return StatusFor(rc, fmt::format("{}: {}", sql.substr(0, 80), message));
}

Result<sqlite3_stmt*> Connection::Prepare(const std::string& sql) {
  if (db_ == nullptr) return Status::Unavailable("database connection is closed");
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, fmt::format("prepare '{}'", sql.substr(0, 120)));
  statements_.emplace(sql, stmt);
  return stmt;
}

Status Connection::Error(int rc, std::string_view context) const {
  const char* detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return StatusFor(rc, fmt::format("{}: {}", context, detail));
}

std::int64_t Connection::Changes() const { return sqlite3_changes64(db_); }

bool Connection::AutoCommit() const { return sqlite3_get_autocommit(db_) != 0; }

// --- Query ------------------------------------------------------------------------------------

Query::~Query() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Query::Check(int rc) {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Query::BindInt(int index, std::int64_t value) {
  Check(sqlite3_bind_int64(stmt_, index, value));
}

void Query::BindInt(int index, const std::optional<std::int64_t>& value) {
  if (value) {
    BindInt(index, *value);
  } else {
    BindNull(index);
  }
}

void Query::BindReal(int index, double value) {
  if (std::isnan(value)) {
    Check(sqlite3_bind_text(stmt_, index, kNaNText.data(), static_cast<int>(kNaNText.size()),
                            SQLITE_STATIC));
  } else {
    Check(sqlite3_bind_double(stmt_, index, value));
  }
}

void Query::BindReal(int index, const std::optional<double>& value) {
  if (value) {
    BindReal(index, *value);
  } else {
    BindNull(index);
  }
}

void Query::BindBound(int index, double value) { Check(sqlite3_bind_double(stmt_, index, value)); }

void Query::BindText(int index, std::string_view value) {
  Check(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
}

void Query::BindNull(int index) { Check(sqlite3_bind_null(stmt_, index)); }

Result<bool> Query::Step() {
  if (bind_rc_ != SQLITE_OK) return conn_.Error(bind_rc_, "bind");
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return conn_.Error(rc, sqlite3_sql(stmt_) != nullptr
                             ? std::string_view(sqlite3_sql(stmt_)).substr(0, 80)
                             : std::string_view("step"));
}

Status Query::Run() {
  Result<bool> row = Step();
  if (!row.ok()) return row.status();
  return Status::Ok();
}

bool Query::IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::int64_t Query::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::optional<std::int64_t> Query::OptInt(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int(column);
}

std::optional<double> Query::OptReal(int column) const {
  switch (sqlite3_column_type(stmt_, column)) {
    case SQLITE_NULL:
      return std::nullopt;
    case SQLITE_TEXT:
      if (TextView(column) == kNaNText) return std::numeric_limits<double>::quiet_NaN();
      break;
    default:
      break;
  }
  return sqlite3_column_double(stmt_, column);
}

double Query::Real(int column) const { return OptReal(column).value_or(0.0); }

std::string Query::Text(int column) const { return std::string(TextView(column)); }

std::string_view Query::TextView(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

Result<model::Json> Query::JsonColumn(int column, std::string_view what,
                                      const model::Json& if_null) const {
  if (IsNull(column)) return if_null;
  return ParseJson(TextView(column), what);
}

// --- Transaction ------------------------------------------------------------------------------

Transaction::~Transaction() { Rollback(); }

Status Transaction::RunCached(const std::string& sql) {
  Result<sqlite3_stmt*> stmt = conn_.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  Query query(conn_, *stmt);
  return query.Run();
}

Status Transaction::Begin(Kind kind) {
  Status status = RunCached(kind == Kind::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN");
  open_ = status.ok();
  return status;
}

Status Transaction::Commit() {
  Status status = RunCached("COMMIT");
  // A failed COMMIT (SQLITE_BUSY) leaves the transaction open; the destructor rolls it back.
  if (status.ok()) open_ = false;
  return status;
}

void Transaction::Rollback() {
  if (!open_) return;
  open_ = false;
  // Some errors (SQLITE_FULL, SQLITE_IOERR) already rolled the transaction back.
  if (conn_.handle() == nullptr || conn_.AutoCommit()) return;
  (void)RunCached("ROLLBACK");
}

}  // namespace atlas::store::sqlite
