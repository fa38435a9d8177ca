// FindingsFeed: pause on findings (issue 7) without asking anything of the analysis service.
//
// The analysis service publishes each run's diagnosis as a `diagnostics` event on the run's
// live topic (live/hub.hpp). For every run whose observer registered a pause_on severity, the
// feed subscribes to that topic like a dashboard would and hands the findings of each
// diagnosis to ControlService::OnFindings, which decides whether the run must hold.
//
// Threading: the hub pushes under its topic lock, and the control service publishes its own
// events on the same topic, so the feed never calls the service from a push: pushes only
// queue, and the feed's own thread does the work. Watch() is thread-safe. Start() starts the
// thread; Stop() (or the destructor) joins it. The hub and the service must outlive the feed.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/service.hpp"
#include "live/hub.hpp"

namespace atlas::control {

// The findings of a diagnosis event's text ("id: ..\nevent: diagnostics\ndata: {..}\n\n");
// empty for any other event or a malformed one.
std::vector<FindingNote> FindingsOfEvent(const std::string& text);

class FindingsFeed {
 public:
  FindingsFeed(live::Hub& hub, ControlService& control);
  ~FindingsFeed();
  FindingsFeed(const FindingsFeed&) = delete;
  FindingsFeed& operator=(const FindingsFeed&) = delete;

  void Start();
  void Stop();
  // Follows the run's diagnoses from now on (again only once per run).
  void Watch(const std::string& run_id);

 private:
  class Sink;
  struct Item {
    std::string run_id;
    std::shared_ptr<const std::string> text;
  };

  void Enqueue(Item item);
  void Loop();

  live::Hub& hub_;
  ControlService& control_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Item> queue_;                                // guarded by mu_
  bool stop_ = false;                                     // guarded by mu_
  std::map<std::string, std::shared_ptr<Sink>> watched_;  // guarded by mu_; the hub holds weak
  std::thread worker_;
};

}  // namespace atlas::control
