// bench/ingest: step records per second stored through HTTP by 1, 4 and 16 concurrent clients,
// against the bare SQLite insert rate of the same records into the same schema, measured in the
// same run (this machine is noisy, so only ratios are compared).
//
//   ingest_bench [records_per_measurement=200000] [rounds=3] [batch=1000]
//
// Each round measures, for each client count, first the bare rate (one prepared INSERT per
// record, one transaction per batch, straight into SQLite) and then the HTTP rate (a real
// atlasd server in-process on loopback, each client a thread with a keep-alive connection
// posting protocol v1 batches of `batch` step records to its own run). Every HTTP measurement
// checks afterwards that every record was stored exactly once.
#include <sqlite3.h>

#include <fmt/format.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <barrier>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/routes.hpp"
#include "http/server.hpp"
#include "ingest/bench_client.hpp"
#include "protocol/parse.hpp"
#include "store/sqlite/schema.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace atlas::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  int records = 200000;
  int rounds = 3;
  int batch = 1000;
  std::vector<int> clients = {1, 4, 16};
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ingest_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(const Status& status, const char* what) {
  if (!status.ok()) Die(fmt::format("{}: {}", what, status.message()));
}

// A realistic step record: what the Observer sends by default on CPU.
std::string StepJson(int seq) {
  return fmt::format(
      R"({{"kind":"step","seq":{0},"step":{0},"epoch":{1},"ts":{2:.6f},"loss":{3:.6f},)"
      R"("samples":64,"data_ms":0.41,"forward_ms":3.12,"backward_ms":6.5,"optimizer_ms":1.07,)"
      R"("step_ms":11.1,"samples_per_s":5765.7,"rss_bytes":412345678,"cpu_percent":187.5,)"
      R"("lr":0.0003}})",
      seq, seq / 500, 1.7e9 + seq * 0.011, 2.3 / (1.0 + seq * 0.001));
}

// The bodies one client posts: `records` step records in batches of `batch`.
std::vector<std::string> MakeBodies(int records, int batch) {
  std::vector<std::string> bodies;
  for (int start = 0; start < records; start += batch) {
    std::string body = R"({"records":[)";
    for (int seq = start; seq < std::min(records, start + batch); ++seq) {
      if (seq != start) body += ',';
      body += StepJson(seq);
    }
    body += "]}";
    bodies.push_back(std::move(body));
  }
  return bodies;
}

fs::path FreshDir() {
  static int counter = 0;
  fs::path dir =
      fs::temp_directory_path() / fmt::format("atlas-ingest-bench-{}-{}", ::getpid(), counter++);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::unique_ptr<store::Store> OpenStore(const fs::path& dir) {
  store::SqliteOptions options;
  options.path = (dir / "atlas.db").string();
  auto opened = store::OpenSqliteStore(options);
  if (!opened.ok()) Die("open store: " + opened.status().message());
  return std::move(opened).value();
}

std::string CreateRun(store::Store& store, int index) {
  model::RunCreate create;
  create.project.id = 1;
  create.name = fmt::format("bench-{}", index);
  auto run = store.CreateOrResumeRun(create);
  if (!run.ok()) Die("create run: " + run.status().message());
  return run->run.id;
}

void Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "?";
    sqlite3_free(error);
    Die(fmt::format("{}: {}", sql, message));
  }
}

// The baseline: the same step records bound straight into the same schema's steps table with
// one prepared statement, one transaction per batch; no HTTP, no JSON, no bookkeeping.
// Client i's batches go to run i, as they do through HTTP, so both sides write the same rows.
double BareRecordsPerSecond(const std::vector<std::vector<model::RecordBatch>>& per_client) {
  const fs::path dir = FreshDir();
  {
    auto store = OpenStore(dir);
    for (std::size_t i = 0; i < per_client.size(); ++i) CreateRun(*store, static_cast<int>(i));
    Check(store->Close(), "close");
  }
  sqlite3* db = nullptr;
  if (sqlite3_open((dir / "atlas.db").c_str(), &db) != SQLITE_OK) Die("sqlite3_open");
  Exec(db, "PRAGMA journal_mode=WAL");
  Exec(db, "PRAGMA synchronous=NORMAL");
  sqlite3_stmt* insert = nullptr;
  const std::string sql = store::sqlite::InsertStepSql();
  if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &insert, nullptr) !=
      SQLITE_OK) {
    Die(std::string("prepare: ") + sqlite3_errmsg(db));
  }
  // Runs are created in order, so client i's run has surrogate key i + 1.
  std::size_t stored = 0;
  const auto start = Clock::now();
  for (std::size_t client = 0; client < per_client.size(); ++client) {
    for (const auto& batch : per_client[client]) {
      Exec(db, "BEGIN IMMEDIATE");
      for (const auto& r : batch.steps) {
        sqlite3_bind_int64(insert, 1, static_cast<std::int64_t>(client) + 1);
        sqlite3_bind_int64(insert, 2, r.seq);
        sqlite3_bind_int64(insert, 3, r.step);
        if (r.epoch)
          sqlite3_bind_int64(insert, 4, *r.epoch);
        else
          sqlite3_bind_null(insert, 4);
        sqlite3_bind_double(insert, 5, r.ts);
        int index = store::sqlite::kFirstStepFieldParam;
        for (const auto& value : r.fields) {
          if (value)
            sqlite3_bind_double(insert, index, *value);
          else
            sqlite3_bind_null(insert, index);
          ++index;
        }
        if (sqlite3_step(insert) != SQLITE_DONE) Die(std::string("insert: ") + sqlite3_errmsg(db));
        sqlite3_reset(insert);
        ++stored;
      }
      Exec(db, "COMMIT");
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  sqlite3_finalize(insert);
  sqlite3_close(db);
  fs::remove_all(dir);
  return static_cast<double>(stored) / seconds;
}

// The measurement: `clients` threads post their share of the records to a real server.
double HttpRecordsPerSecond(int clients, const std::vector<std::string>& bodies_per_client,
                            int records_per_client) {
  const fs::path dir = FreshDir();
  auto store = OpenStore(dir);
  std::vector<std::string> runs;
  runs.reserve(static_cast<std::size_t>(clients));
  for (int i = 0; i < clients; ++i) runs.push_back(CreateRun(*store, i));

  http::Router router;
  api::ApiOptions api_options;
  api_options.version = "bench";
  api::AddRoutes(router, *store, api_options);
  http::ServerOptions server_options;
  server_options.log_requests = false;
  http::Server server(server_options, std::move(router));
  Check(server.Listen(), "listen");
  std::thread serving([&server] { server.Run(); });

  std::barrier start_line(clients + 1);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(clients));
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      BenchClient client("127.0.0.1", server.port());
      const std::string target = "/api/v1/runs/" + runs[static_cast<std::size_t>(i)] + "/records";
      std::string reply;
      start_line.arrive_and_wait();
      for (const auto& body : bodies_per_client) {
        if (client.Post(target, body, reply) != 200) {
          failures.fetch_add(1);
          std::fprintf(stderr, "ingest_bench: POST failed: %s\n", reply.c_str());
        }
      }
    });
  }
  start_line.arrive_and_wait();
  const auto start = Clock::now();
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  server.Stop();
  serving.join();

  if (failures.load() != 0) Die("some batches were rejected");
  for (const auto& run_id : runs) {
    auto run = store->GetRun(run_id);
    if (!run.ok() || run->totals.step_records != records_per_client) {
      Die(fmt::format("run {} stored {} step records, expected {}", run_id,
                      run.ok() ? run->totals.step_records : -1, records_per_client));
    }
  }
  Check(store->Close(), "close");
  fs::remove_all(dir);
  return static_cast<double>(records_per_client) * clients / seconds;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

int Main(const Options& options) {
  spdlog::set_level(spdlog::level::warn);  // the server logs every stop; keep the table readable
  std::printf("ingest_bench: %d step records per measurement, batches of %d, %d rounds, %u cores\n",
              options.records, options.batch, options.rounds, std::thread::hardware_concurrency());
  std::vector<std::vector<double>> bare_rates(options.clients.size());
  std::vector<std::vector<double>> http_rates(options.clients.size());
  for (int round = 0; round < options.rounds; ++round) {
    for (std::size_t c = 0; c < options.clients.size(); ++c) {
      const int clients = options.clients[c];
      const int per_client = options.records / clients;
      const auto bodies = MakeBodies(per_client, options.batch);
      // The baseline inserts exactly the records the clients send (parsed outside the timing).
      std::vector<model::RecordBatch> one_client;
      for (const auto& body : bodies) {
        auto batch = protocol::ParseRecordBatch(body);
        if (auto* error = std::get_if<protocol::ParseError>(&batch)) Die(error->reason);
        one_client.push_back(std::get<model::RecordBatch>(std::move(batch)));
      }
      const std::vector<std::vector<model::RecordBatch>> parsed(static_cast<std::size_t>(clients),
                                                                one_client);
      const double bare = BareRecordsPerSecond(parsed);
      const double through_http = HttpRecordsPerSecond(clients, bodies, per_client);
      bare_rates[c].push_back(bare);
      http_rates[c].push_back(through_http);
      std::printf("  round %d, %2d clients: bare %9.0f rec/s, http %9.0f rec/s, ratio %.2f\n",
                  round + 1, clients, bare, through_http, through_http / bare);
      std::fflush(stdout);
    }
  }
  std::printf("\n| clients | bare SQLite (rec/s) | through HTTP (rec/s) | HTTP / bare |\n");
  std::printf("|--------:|--------------------:|---------------------:|------------:|\n");
  for (std::size_t c = 0; c < options.clients.size(); ++c) {
    const double bare = Median(bare_rates[c]);
    const double through_http = Median(http_rates[c]);
    std::printf("| %7d | %19.0f | %20.0f | %11.2f |\n", options.clients[c], bare, through_http,
                through_http / bare);
  }
  std::printf(
      "\n(medians of %d rounds; targets: >= 100000 rec/s through HTTP and >= 0.5 of bare)\n",
      options.rounds);
  return 0;
}

}  // namespace

int PositiveArg(const char* text, const char* name) {
  int value = 0;
  const std::string_view view(text);
  auto [ptr, ec] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (ec != std::errc() || ptr != view.data() + view.size() || value < 1) {
    Die(fmt::format("{} must be a positive integer, got '{}'", name, text));
  }
  return value;
}

}  // namespace atlas::bench

int main(int argc, char** argv) {
  atlas::bench::Options options;
  if (argc > 1) options.records = atlas::bench::PositiveArg(argv[1], "records");
  if (argc > 2) options.rounds = atlas::bench::PositiveArg(argv[2], "rounds");
  if (argc > 3) options.batch = atlas::bench::PositiveArg(argv[3], "batch");
  return atlas::bench::Main(options);
}
