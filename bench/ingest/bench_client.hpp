// A minimal blocking HTTP/1.1 keep-alive client for the ingest benchmark (Boost.Beast).
// One instance per thread; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace atlas::bench {

class BenchClient {
 public:
  BenchClient(const std::string& host, std::uint16_t port);
  ~BenchClient();
  BenchClient(const BenchClient&) = delete;
  BenchClient& operator=(const BenchClient&) = delete;

  // POSTs a JSON body on the kept-alive connection; returns the status and fills `body`.
  unsigned Post(const std::string& target, const std::string& json, std::string& body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atlas::bench
