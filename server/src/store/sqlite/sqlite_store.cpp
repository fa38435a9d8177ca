#include "store/sqlite/sqlite_store.hpp"

#include <chrono>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "store/sqlite/actions.hpp"
#include "store/sqlite/agent_tables.hpp"
#include "store/sqlite/db.hpp"
#include "store/sqlite/diagnoses.hpp"
#include "store/sqlite/reader_pool.hpp"
#include "store/sqlite/reads.hpp"
#include "store/sqlite/replay.hpp"
#include "store/sqlite/rollups.hpp"
#include "store/sqlite/schema.hpp"
#include "store/sqlite/thread_annotations.hpp"
#include "store/sqlite/writer.hpp"

namespace atlas::store {
namespace {

using sqlite::Connection;
using sqlite::ReaderPool;
using sqlite::Transaction;
using sqlite::Writer;

double SystemClock() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Status Closed() { return Status::Unavailable("the store is closed"); }

Status ConfigureWriter(Connection& conn) {
  {
    Result<sqlite3_stmt*> stmt = conn.Prepare("PRAGMA journal_mode = WAL");
    if (!stmt.ok()) return stmt.status();
    sqlite::Query query(conn, *stmt);
    Result<bool> row = query.Step();
    if (!row.ok()) return row.status();
    if (!*row || query.TextView(0) != "wal") {
      return Status::IoError(
          fmt::format("cannot switch the database to WAL mode (journal mode is '{}')",
                      *row ? query.TextView(0) : std::string_view("unknown")));
    }
  }
  // NORMAL is durable in WAL mode except for the last transactions before a power loss, and
  // spares an fsync per commit. The page cache is sized for the ingest working set (the
  // b-tree pages of the steps table and its indexes).
  return conn.Exec(
      "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -32768; "
      "PRAGMA temp_store = MEMORY;");
}

// Each method takes `lifecycle_` shared for its whole duration, so Close(), which takes it
// exclusively, waits for calls in flight and then makes every later call fail cleanly.
class SqliteStore final : public Store {
 public:
  SqliteStore(std::unique_ptr<Writer> writer, std::unique_ptr<ReaderPool> readers)
      : writer_(std::move(writer)), readers_(std::move(readers)) {}

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  ~SqliteStore() override {
    Status status = Close();
    if (!status.ok() && status.code() != StatusCode::kUnavailable) {
      spdlog::warn("closing the SQLite store: {}", status.message());
    }
  }

  Result<model::CreateRunResult> CreateOrResumeRun(const model::RunCreate& req) override {
    return Write([&](Writer& writer) { return writer.CreateOrResumeRun(req); });
  }

  Result<model::IngestResult> Ingest(const std::string& run_id,
                                     const model::RecordBatch& batch) override {
    return Write([&](Writer& writer) { return writer.Ingest(run_id, batch); });
  }

  Result<std::vector<model::Project>> ListProjects() override {
    return Read([&](Connection& conn) { return sqlite::ReadProjects(conn); });
  }

  Result<model::RunPage> ListRuns(const model::RunQuery& query) override {
    return Read([&](Connection& conn) { return sqlite::ReadRunPage(conn, query); });
  }

  Result<model::Run> GetRun(const std::string& run_id) override {
    return Read(
        [&](Connection& conn) { return sqlite::ReadRun(conn, run_id, sqlite::RunView::kFull); });
  }

  Result<std::vector<std::string>> ListSeries(const std::string& run_id) override {
    return Read([&](Connection& conn) { return sqlite::ReadSeriesNames(conn, run_id); });
  }

  // `visit` runs while a reader connection is held; it must not call Close().
  Status ScanSeries(const std::string& run_id, const SeriesQuery& query,
                    const std::function<void(const SeriesPoint&)>& visit) override {
    return Read(
        [&](Connection& conn) { return sqlite::ScanSeriesPoints(conn, run_id, query, visit); });
  }

  // Step fields on the step axis come from the rollups (rollups.hpp); everything else is
  // scanned point by point, as Store's default does.
  Result<SeriesBuckets> DownsampleSeries(const std::string& run_id, const SeriesQuery& query,
                                         std::size_t max_points) override {
    if (query.axis != SeriesAxis::kStep || !model::FindStepField(query.metric)) {
      return Store::DownsampleSeries(run_id, query, max_points);
    }
    return Read([&](Connection& conn) {
      return sqlite::DownsampleStepField(conn, run_id, query, max_points);
    });
  }

  Result<std::vector<model::EpochRecord>> ListEpochs(const std::string& run_id) override {
    return Read([&](Connection& conn) { return sqlite::ReadEpochs(conn, run_id); });
  }

  Result<std::vector<model::LayerStatsRecord>> ListLayerStats(
      const std::string& run_id, const LayerStatsQuery& query) override {
    return Read([&](Connection& conn) { return sqlite::ReadLayerStats(conn, run_id, query); });
  }

  Result<std::vector<model::EventRecord>> ListEvents(const std::string& run_id,
                                                     const EventQuery& query) override {
    return Read([&](Connection& conn) { return sqlite::ReadEvents(conn, run_id, query); });
  }

  Result<std::vector<model::ProfileRecord>> ListProfiles(const std::string& run_id) override {
    return Read([&](Connection& conn) { return sqlite::ReadProfiles(conn, run_id); });
  }

  Result<StoredAction> AppendAction(const std::string& run_id, const NewAction& action) override {
    return Write(
        [&](Writer& writer) { return sqlite::InsertAction(writer.connection(), run_id, action); });
  }

  Result<std::vector<StoredAction>> ListActions(const std::string& run_id) override {
    return Read([&](Connection& conn) { return sqlite::ReadActions(conn, run_id); });
  }

  Status UpdateActions(const std::string& run_id,
                       const std::vector<ActionUpdate>& updates) override {
    return Write([&](Writer& writer) {
      return sqlite::ApplyActionUpdates(writer.connection(), run_id, updates);
    });
  }

  Status PutControlRegistration(const std::string& run_id,
                                const model::Json& registration) override {
    return Write([&](Writer& writer) {
      return sqlite::WriteControlRegistration(writer.connection(), run_id, registration);
    });
  }

  Result<model::Json> GetControlRegistration(const std::string& run_id) override {
    return Read([&](Connection& conn) { return sqlite::ReadControlRegistration(conn, run_id); });
  }

  Status ScanSteps(const std::string& run_id,
                   const std::function<void(const model::StepRecord&)>& visit) override {
    return Read([&](Connection& conn) { return sqlite::ScanStepRecords(conn, run_id, visit); });
  }

  // One read transaction: the reads below all see the same committed state.
  Status ReplayRun(const std::string& run_id, const EventQuery& events,
                   RunReplay& replay) override {
    return Read(
        [&](Connection& conn) { return sqlite::ReplayRunRecords(conn, run_id, events, replay); });
  }

  Status SaveDiagnosis(const DiagnosisRecord& record) override {
    return Write(
        [&](Writer& writer) { return sqlite::WriteDiagnosis(writer.connection(), record); });
  }

  Result<std::optional<DiagnosisRecord>> GetDiagnosis(const std::string& run_id) override {
    return Read([&](Connection& conn) { return sqlite::ReadDiagnosis(conn, run_id); });
  }

  Result<std::vector<DiagnosisRecord>> ListDiagnosisSummaries(
      const std::vector<std::string>& run_ids) override {
    return Read([&](Connection& conn) { return sqlite::ReadDiagnosisSummaries(conn, run_ids); });
  }

  Result<model::Json> GetProjectThresholds(std::int64_t project_id) override {
    return Read([&](Connection& conn) { return sqlite::ReadProjectThresholds(conn, project_id); });
  }

  Status SetProjectThresholds(std::int64_t project_id, const model::Json& overrides) override {
    return Write([&](Writer& writer) {
      return sqlite::WriteProjectThresholds(writer.connection(), project_id, overrides,
                                            writer.now());
    });
  }

  Status SaveBeliefs(const BeliefRecord& record) override {
    return Write([&](Writer& writer) { return sqlite::WriteBeliefs(writer.connection(), record); });
  }

  Result<std::optional<BeliefRecord>> GetBeliefs(const std::string& run_id) override {
    return Read([&](Connection& conn) { return sqlite::ReadBeliefs(conn, run_id); });
  }

  Result<std::vector<BeliefRecord>> ListBeliefsByFingerprint(const std::string& fingerprint,
                                                             std::int64_t limit) override {
    return Read([&](Connection& conn) {
      return sqlite::ReadBeliefsByFingerprint(conn, fingerprint, limit);
    });
  }

  Result<ProposalRecord> AppendProposal(const ProposalRecord& proposal) override {
    return Write(
        [&](Writer& writer) { return sqlite::InsertProposal(writer.connection(), proposal); });
  }

  Result<std::vector<ProposalRecord>> ListProposals(const std::string& run_id) override {
    return Read([&](Connection& conn) { return sqlite::ReadProposals(conn, run_id); });
  }

  Status ResolveProposal(const std::string& run_id, std::int64_t id,
                         const std::string& status) override {
    return Write([&](Writer& writer) {
      return sqlite::ResolveProposal(writer.connection(), run_id, id, status, writer.now());
    });
  }

  Status Close() override {
    std::unique_lock<std::shared_mutex> lifecycle(lifecycle_);
    if (closed_) return Closed();
    closed_ = true;
    // Readers first, so the checkpoint the writer does on close can copy the whole WAL.
    Status readers = readers_->Close();
    Status writer;
    {
      std::lock_guard<std::mutex> write(write_mu_);
      writer = writer_->Close();
    }
    return readers.ok() ? writer : readers;
  }

 private:
  // Runs `fn(writer)` with the writer mutex held.
  template <typename Fn>
  auto Write(Fn&& fn) -> decltype(fn(std::declval<Writer&>())) {
    std::shared_lock<std::shared_mutex> lifecycle(lifecycle_);
    if (closed_) return Closed();
    std::lock_guard<std::mutex> write(write_mu_);
    return fn(*writer_);
  }

  // Runs `fn(conn)` on a leased reader connection inside a read transaction, so the
  // statements `fn` issues all see the same committed state.
  template <typename Fn>
  auto Read(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
    std::shared_lock<std::shared_mutex> lifecycle(lifecycle_);
    if (closed_) return Closed();
    ReaderPool::Lease lease = readers_->Acquire();
    Transaction txn(lease.connection());
    if (Status s = txn.Begin(Transaction::Kind::kDeferred); !s.ok()) return s;
    auto result = fn(lease.connection());
    if (!result.ok()) return result;
    if (Status s = txn.Commit(); !s.ok()) return s;
    return result;
  }

  std::shared_mutex lifecycle_;
  bool closed_ ATLAS_GUARDED_BY(lifecycle_) = false;
  // Serialises every use of the writer connection; taken after lifecycle_ (shared).
  std::mutex write_mu_;
  std::unique_ptr<Writer> writer_ ATLAS_PT_GUARDED_BY(write_mu_);
  // Internally synchronised; closed only with lifecycle_ held exclusively.
  std::unique_ptr<ReaderPool> readers_;
};

Status CreateParentDirectory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return Status::Ok();
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  if (error) {
    return Status::IoError(
        fmt::format("cannot create directory '{}': {}", parent.string(), error.message()));
  }
  return Status::Ok();
}

}  // namespace

int SqliteSchemaVersion() { return sqlite::kLatestSchemaVersion; }

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  if (options.path.empty() || options.path == ":memory:") {
    return Status::InvalidArgument("the SQLite store needs a database file path");
  }
  if (options.reader_connections < 1) {
    return Status::InvalidArgument("the SQLite store needs at least one reader connection");
  }
  if (Status s = CreateParentDirectory(options.path); !s.ok()) return s;
  std::function<double()> clock = options.clock ? options.clock : &SystemClock;

  Result<std::unique_ptr<Connection>> conn =
      Connection::Open(options.path, Connection::Mode::kReadWrite, options.busy_timeout_ms);
  if (!conn.ok()) return conn.status();
  if (Status s = ConfigureWriter(**conn); !s.ok()) return s;
  if (Status s = sqlite::Migrate(**conn, clock); !s.ok()) return s;

  Result<std::unique_ptr<Writer>> writer = Writer::Create(std::move(conn).value(), clock);
  if (!writer.ok()) return writer.status();
  Result<std::unique_ptr<ReaderPool>> readers =
      ReaderPool::Open(options.path, options.reader_connections, options.busy_timeout_ms);
  if (!readers.ok()) return readers.status();
  return std::unique_ptr<Store>(
      std::make_unique<SqliteStore>(std::move(writer).value(), std::move(readers).value()));
}

}  // namespace atlas::store
