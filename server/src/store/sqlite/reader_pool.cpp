#include "store/sqlite/reader_pool.hpp"

#include <utility>

namespace atlas::store::sqlite {

Result<std::unique_ptr<ReaderPool>> ReaderPool::Open(const std::string& path, int count,
                                                     int busy_timeout_ms) {
  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = 0; i < count; ++i) {
    Result<std::unique_ptr<Connection>> conn =
        Connection::Open(path, Connection::Mode::kReadOnly, busy_timeout_ms);
    if (!conn.ok()) return conn.status();
    connections.push_back(std::move(conn).value());
  }
  return std::unique_ptr<ReaderPool>(new ReaderPool(std::move(connections)));
}

ReaderPool::ReaderPool(std::vector<std::unique_ptr<Connection>> connections)
    : connections_(std::move(connections)) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& conn : connections_) idle_.push_back(conn.get());
}

ReaderPool::Lease ReaderPool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  freed_.wait(lock, [this] { return !idle_.empty(); });
  Connection* conn = idle_.back();
  idle_.pop_back();
  return {*this, *conn};
}

void ReaderPool::Release(Connection& conn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(&conn);
  }
  freed_.notify_one();
}

Status ReaderPool::Close() {
  Status first;
  for (auto& conn : connections_) {
    Status status = conn->Close();
    if (first.ok() && !status.ok()) first = status;
  }
  return first;
}

}  // namespace atlas::store::sqlite
