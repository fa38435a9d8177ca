// FakeTransport: a recording Transport for tests (OpenTelemetry's "nosend" client). It answers
// as atlasd would (201 to a run create, 200 {"accepted":n,"duplicates":0} to a batch) unless a
// test installs a Responder, records every request with its body decompressed, and can block
// every Post until the test releases it or the client cancels it (a server that never answers).
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "atlas/transport.hpp"

namespace atlas::testing {

// `body` decompressed as its Content-Encoding says.
Result<std::string> Decompress(const std::string& content_encoding, const std::string& body);

class FakeTransport final : public Transport {
 public:
  struct Call {
    HttpRequest request;
    std::string json;  // the decompressed body
  };
  // Answers call number `index` (0-based, over every Post) for `json` sent to `url`.
  using Responder = std::function<Result<HttpResponse>(std::size_t index, const std::string& url,
                                                       const std::string& json)>;

  // What atlasd would answer to a well-formed request.
  static Result<HttpResponse> ServerAnswer(const std::string& url, const std::string& json);

  void SetResponder(Responder responder);
  // While blocking, every Post waits until Release() or Cancel().
  void SetBlocking(bool block);
  void Release();

  std::vector<Call> calls();
  std::size_t call_count();
  bool WaitForCalls(std::size_t n,
                    std::chrono::milliseconds safety_limit = std::chrono::seconds(30));
  // The seqs of the records in batches that were answered 2xx, in the order they were sent.
  std::vector<std::int64_t> delivered_seqs();
  bool cancelled();

  Result<HttpResponse> Post(const HttpRequest& request, std::chrono::milliseconds timeout) override;
  void Cancel() override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  Responder responder_;
  bool blocking_ = false;
  std::uint64_t release_generation_ = 0;
  bool cancelled_ = false;
  std::vector<Call> calls_;
  std::vector<std::int64_t> delivered_;
};

// The seqs of the records in a batch body, in order (empty when it is not a batch).
std::vector<std::int64_t> SeqsOf(const std::string& json);

}  // namespace atlas::testing
