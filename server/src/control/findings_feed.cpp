#include "control/findings_feed.hpp"

#include <atomic>
#include <optional>
#include <string_view>
#include <utility>

namespace atlas::control {
namespace {

constexpr std::size_t kMaxQueued = 1024;  // diagnoses waiting; more are dropped (the next
                                          // diagnosis carries the same findings again)

}  // namespace

std::vector<FindingNote> FindingsOfEvent(const std::string& text) {
  std::vector<FindingNote> notes;
  if (text.find("\nevent: diagnostics\n") == std::string::npos) return notes;
  const auto data = text.find("\ndata: ");
  if (data == std::string::npos) return notes;
  std::string_view body = text;
  body.remove_prefix(data + 7);
  const Json document =
      Json::parse(body.substr(0, body.find('\n')), nullptr, /*allow_exceptions=*/false);
  if (!document.is_object()) return notes;
  const auto findings = document.find("findings");
  if (findings == document.end() || !findings->is_array()) return notes;
  for (const Json& f : *findings) {
    if (!f.is_object()) continue;
    FindingNote note;
    note.check = f.value("check", std::string());
    const auto layer = f.find("layer");
    if (layer != f.end() && layer->is_string()) note.layer = layer->get<std::string>();
    note.severity = f.value("severity", std::string());
    note.title = f.value("title", std::string());
    if (!note.check.empty()) notes.push_back(std::move(note));
  }
  return notes;
}

// A subscriber of one run's topic that only queues what the hub pushes.
class FindingsFeed::Sink final : public http::StreamSink {
 public:
  Sink(FindingsFeed* feed, std::string run_id) : feed_(feed), run_id_(std::move(run_id)) {}

  bool Push(std::shared_ptr<const std::string> chunk) override {
    if (closed_.load(std::memory_order_acquire)) return false;
    if (chunk && chunk->find("\nevent: diagnostics\n") != std::string::npos) {
      feed_->Enqueue({run_id_, std::move(chunk)});
    }
    return true;
  }
  void Close() override { closed_.store(true, std::memory_order_release); }
  bool closed() const override { return closed_.load(std::memory_order_acquire); }

 private:
  FindingsFeed* const feed_;
  const std::string run_id_;
  std::atomic<bool> closed_{false};
};

FindingsFeed::FindingsFeed(live::Hub& hub, ControlService& control)
    : hub_(hub), control_(control) {}

FindingsFeed::~FindingsFeed() { Stop(); }

void FindingsFeed::Start() {
  worker_ = std::thread([this] { Loop(); });
}

void FindingsFeed::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    for (auto& [run, sink] : watched_) sink->Close();
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void FindingsFeed::Watch(const std::string& run_id) {
  std::shared_ptr<Sink> sink;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || watched_.count(run_id) != 0) return;
    sink = std::make_shared<Sink>(this, run_id);
    watched_.emplace(run_id, sink);
  }
  hub_.Subscribe(live::Hub::RunTopic(run_id), sink, std::nullopt);
}

void FindingsFeed::Enqueue(Item item) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || queue_.size() >= kMaxQueued) return;
    queue_.push_back(std::move(item));
  }
  wake_.notify_one();
}

void FindingsFeed::Loop() {
  while (true) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    const std::vector<FindingNote> findings = FindingsOfEvent(*item.text);
    if (!findings.empty()) control_.OnFindings(item.run_id, findings);
  }
}

}  // namespace atlas::control
