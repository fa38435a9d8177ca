#include <ATen/Functions.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "architecture.hpp"
#include "atlas/torch.hpp"
#include "capture.hpp"
#include "json.hpp"
#include "stats.hpp"

namespace atlas::torch {

static_assert(std::is_same_v<Metrics, internal::MetricList>);
static_assert(std::is_same_v<Hyperparameters, internal::HyperList>);

namespace internal {
namespace {

double Ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Protocol v1 names (metrics, train/val values) are 1-128 characters (code points); event
// types 1-64.
bool IsValidName(std::string_view name, std::size_t max_characters = 128) {
  std::size_t code_points = 0;
  for (const char c : name) {
    if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) ++code_points;
  }
  return code_points >= 1 && code_points <= max_characters;
}

// Keeps the valid, first-seen names of `metrics`; reports the others in `dropped`.
MetricList ValidMetrics(const MetricList& metrics, std::string* dropped) {
  MetricList out;
  for (const auto& metric : metrics) {
    const std::string& name = metric.first;
    const bool duplicate = std::any_of(out.begin(), out.end(),
                                       [&name](const auto& kept) { return kept.first == name; });
    if (!IsValidName(name) || duplicate) {
      *dropped += dropped->empty() ? "\"" + name + "\"" : ", \"" + name + "\"";
      continue;
    }
    out.emplace_back(name, metric.second);
  }
  return out;
}

constexpr std::size_t kMaxErrorText = 4000;

}  // namespace

// The step between BeginStep and End. Outside the anonymous namespace, as ObserverCore's members
// have these types: inside a unity batch GCC rejects (-Wsubobject-linkage) a class whose members
// have internal-linkage types.
struct OpenStep {
  std::uint64_t token = 0;
  std::int64_t samples = 0;
  std::int64_t tokens = 0;
  TimePoint begin;
  TimePoint phase_start;  // when the user's current phase began
  Duration overhead{};    // the observer's own time inside the step, excluded from step_ms
  std::optional<Duration> data, forward, backward, optimizer;
  bool backward_marked = false;
  bool sampled = false;
  std::unique_ptr<ForwardCapture> capture;
  std::unique_ptr<LayerSample> sample;
  std::vector<Metric> metrics;
};

// A step record waiting for its loss to be read back.
struct PendingStep {
  StepRecord record;
  at::Tensor loss;  // undefined when the step had no loss tensor
};

// Everything behind an Observer. Used on the training thread only (see atlas/torch.hpp).
class ObserverCore {
 public:
  ObserverCore(ObserverOptions options, std::unique_ptr<Client> client, Status setup)
      : options_(std::move(options)),
        clock_(options_.client.clock != nullptr ? options_.client.clock : Clock::Real()),
        client_(std::move(client)),
        setup_(std::move(setup)),
        enabled_(client_ != nullptr) {
    if (!setup_.ok()) Log("the observer is disabled (no telemetry is sent): " + setup_.message());
  }

  ObserverCore(const ObserverCore&) = delete;
  ObserverCore& operator=(const ObserverCore&) = delete;

  bool enabled() const { return enabled_; }
  bool finished() const { return finished_; }
  const Status& setup_status() const { return setup_; }
  const std::string& run_id() const {
    static const std::string kNone;
    return client_ != nullptr ? client_->run_id() : kNone;
  }

  void LogHyperparameters(const Hyperparameters& values) noexcept {
    Guard("log_hyperparameters",
          [&] { RecordJson("hyperparameters", HyperparametersJson(values)); });
  }

  void LogHyperparametersJson(std::string json_object) noexcept {
    Guard("log_hyperparameters",
          [&] { RecordJson("hyperparameters", HyperparametersJson(json_object)); });
  }

  void RegisterModel(::torch::nn::Module& model) noexcept {
    Guard("register_model", [&] {
      if (open_) Abandon(open_->token);  // its capture refers to the old modules
      modules_ = ExtractModules(model);
      shapes_done_ = false;
      RecordJson("architecture", ArchitectureJson(ModuleInfos(modules_)));
    });
  }

  void RegisterOptimizer(::torch::optim::Optimizer& optimizer) noexcept {
    optimizer_ = &optimizer;
    lr_broken_ = false;
  }

  std::uint64_t BeginStep(std::int64_t samples, std::int64_t tokens) noexcept {
    if (!enabled_) return 0;
    const TimePoint now = clock_->Now();
    std::uint64_t token = 0;
    Guard("begin_step", [&] {
      if (open_) Abandon(open_->token);
      if (samples < 0 || tokens < 0) {
        Contain("begin_step", "samples and tokens must be >= 0; the negative one is left out");
      }
      OpenStep& s = open_.emplace();
      s.token = token = ++last_token_;
      s.samples = samples;
      s.tokens = tokens;
      if (prev_end_) s.data = now - *prev_end_;
      if (!epoch_start_) epoch_start_ = now;
      s.sampled = !modules_.empty() && options_.layer_health_every > 0 &&
                  step_ % options_.layer_health_every == 0;
      if (s.sampled) {
        s.sample = std::make_unique<LayerSample>(
            modules_,
            LayerSampleOptions{options_.layer_health_max_units, options_.dormant_threshold});
      }
      StartCapture(s);
    });
    if (token != 0) {
      open_->begin = clock_->Now();
      open_->phase_start = open_->begin;
    }
    return token;
  }

  void MarkForward(std::uint64_t token) noexcept {
    if (!IsOpen(token) || open_->forward) return;
    const TimePoint t = clock_->Now();
    OpenStep& s = *open_;
    s.forward = t - s.phase_start;
    FinishCapture(s);
    StartPhase(s, t);
  }

  void MarkBackward(std::uint64_t token) noexcept {
    if (!IsOpen(token) || open_->backward_marked) return;
    const TimePoint t = clock_->Now();
    OpenStep& s = *open_;
    s.backward_marked = true;
    if (s.forward) s.backward = t - s.phase_start;
    FinishCapture(s);
    if (s.sample) {
      Guard("layer_stats", [&] {
        s.sample->AddGradients();
        s.sample->AddWeights();
        s.sample->SnapshotWeights();
      });
    }
    StartPhase(s, t);
  }

  void AddMetric(std::uint64_t token, std::string name, double value) noexcept {
    if (!IsOpen(token)) return;
    Guard("add_metric", [&] {
      auto& metrics = open_->metrics;
      if (!IsValidName(name) || FindStepField(name).has_value() ||
          std::any_of(metrics.begin(), metrics.end(),
                      [&name](const Metric& m) { return m.name == name; })) {
        throw std::invalid_argument("metric \"" + name +
                                    "\" left out: a name is 1-128 characters, not a step field "
                                    "name, and given once per step");
      }
      metrics.push_back(Metric{std::move(name), value});
    });
  }

  void End(std::uint64_t token, const at::Tensor* loss, std::optional<double> loss_value) noexcept {
    if (!IsOpen(token)) return;
    const TimePoint t = clock_->Now();
    OpenStep s = std::move(*open_);
    open_.reset();
    if (s.backward_marked) s.optimizer = t - s.phase_start;
    FinishCapture(s);
    const std::int64_t step = step_++;
    ++steps_;
    Guard("end_step", [&] {
      StepRecord record = BuildRecord(s, t, step);
      if (loss_value) record.Set(StepField::kLoss, *loss_value);
      QueueStep(std::move(record), loss != nullptr && !loss_value ? *loss : at::Tensor(),
                s.sampled);
    });
    if (s.sample) Guard("layer_stats", [&] { RecordLayerStats(*s.sample, step); });
    prev_end_ = clock_->Now();
  }

  // Forgets the open step `token` (a Step destroyed without End, or replaced).
  void Abandon(std::uint64_t token) noexcept {
    if (!IsOpen(token)) return;
    open_.reset();  // stops its capture
    ++abandoned_steps_;
  }

  void EndEpoch(const EpochSummary& summary) noexcept {
    if (!enabled_) return;
    const TimePoint now = clock_->Now();
    Guard("end_epoch", [&] {
      if (open_) Abandon(open_->token);
      FlushLosses();
      std::string dropped;
      MetricList train = ValidMetrics(summary.train, &dropped);
      const MetricList val = ValidMetrics(summary.val, &dropped);
      const bool has_loss =
          std::any_of(train.begin(), train.end(), [](const auto& m) { return m.first == "loss"; });
      if (!has_loss && epoch_loss_count_ > 0) {
        train.emplace_back("loss", epoch_loss_sum_ / static_cast<double>(epoch_loss_count_));
      }
      std::optional<double> duration_s;
      if (epoch_start_) duration_s = Ms(now - *epoch_start_) / 1000.0;
      RecordJson("epoch", EpochJson(epoch_, clock_->UnixSeconds(), duration_s, train, val));
      if (!dropped.empty()) {
        Contain("end_epoch", ("epoch metrics left out (a name is 1-128 characters and given "
                              "once): " +
                              dropped)
                                 .c_str());
      }
    });
    ++epoch_;
    epoch_start_.reset();
    prev_end_.reset();
    epoch_loss_sum_ = 0;
    epoch_loss_count_ = 0;
  }

  void LogEvent(const std::string& level, const std::string& type,
                const std::string& message) noexcept {
    Guard("log_event", [&] {
      constexpr std::array<std::string_view, 4> kLevels = {"debug", "info", "warning", "error"};
      if (std::find(kLevels.begin(), kLevels.end(), level) == kLevels.end()) {
        throw std::invalid_argument("event level \"" + level +
                                    "\" is not one of debug, info, warning, error");
      }
      if (!IsValidName(type, 64)) {
        throw std::invalid_argument("event type must be 1-64 characters");
      }
      // The protocol's limit is 64 KiB; a cut character becomes one U+FFFD (3 bytes).
      constexpr std::size_t kMaxMessageBytes = 65536 - 16;
      const std::string_view text = std::string_view{message}.substr(0, kMaxMessageBytes);
      RecordJson("event", EventJson(clock_->UnixSeconds(), level, type, text, {}));
    });
  }

  Status Finish(FinishStatus status, const std::string& reason) noexcept {
    if (finished_) return finish_status_;
    if (client_ == nullptr) return setup_;
    if (open_) Abandon(open_->token);
    Guard("finish", [&] { FlushLosses(); });
    finished_ = true;
    enabled_ = false;
    finish_status_ = client_->Finish(status, reason, options_.finish_timeout);
    return finish_status_;
  }

  ObserverStats stats() const {
    ObserverStats out;
    out.steps = steps_;
    out.abandoned_steps = abandoned_steps_;
    out.layer_samples = layer_samples_;
    out.telemetry_errors = telemetry_errors_;
    out.errors_by_site = errors_by_site_;
    if (client_ != nullptr) out.client = client_->stats();
    return out;
  }

 private:
  // Runs `f`, containing anything it throws (see Contain). Does nothing when disabled.
  template <typename F>
  void Guard(std::string_view site, F&& f) noexcept {
    if (!enabled_) return;
    try {
      f();
    } catch (const std::exception& e) {
      Contain(site, e.what());
    } catch (...) {
      Contain(site, "unknown exception");
    }
  }

  // A failure inside the observer: counted by site; the first at each site is logged and sent
  // as a "telemetry_error" event.
  void Contain(std::string_view site, const char* what) noexcept {
    try {
      ++telemetry_errors_;
      if (++errors_by_site_[std::string(site)] != 1) return;
      std::string error(what);
      if (error.size() > kMaxErrorText) error.resize(kMaxErrorText);
      const std::string message = std::string(site) + ": " + error;
      Log("telemetry error, contained (training goes on): " + message);
      if (client_ != nullptr) {
        (void)client_->RecordJson(
            "event", EventJson(clock_->UnixSeconds(), "warning", "telemetry_error", message,
                               {{"site", std::string(site)}, {"error", error}}));
      }
    } catch (...) {  // nothing more can be done without risking the training loop
    }
  }

  void Log(const std::string& line) noexcept {
    try {
      if (options_.log) {
        options_.log(line);
      } else {
        std::fprintf(stderr, "atlas: %s\n", line.c_str());
      }
    } catch (...) {  // a failing log sink must not fail the observer
    }
  }

  void RecordJson(std::string_view kind, std::string json) {
    if (client_ != nullptr) (void)client_->RecordJson(kind, std::move(json));
  }

  bool IsOpen(std::uint64_t token) const {
    return enabled_ && token != 0 && open_ && open_->token == token;
  }

  // Ends the observer's own work inside a phase that began at `t`: the next phase starts now,
  // and the time in between is the observer's.
  void StartPhase(OpenStep& s, TimePoint t) {
    s.phase_start = clock_->Now();
    s.overhead += s.phase_start - t;
  }

  void StartCapture(OpenStep& s) {
    const bool want_shapes = !modules_.empty() && options_.capture_shapes && !shapes_done_;
    const bool want_outputs = s.sampled && options_.activation_stats;
    if (!want_shapes && !want_outputs) return;
    Guard("forward_capture", [&] {
      s.capture = std::make_unique<ForwardCapture>(modules_, want_outputs);
      s.capture->Start();
    });
  }

  // Stops the step's capture; sends the shapes the first time, and queues activation stats.
  void FinishCapture(OpenStep& s) {
    if (!s.capture) return;
    s.capture->Stop();
    Guard("forward_capture", [&] {
      if (!s.capture->error().empty()) throw std::runtime_error(s.capture->error());
      if (options_.capture_shapes && !shapes_done_) {
        shapes_done_ = true;
        ApplyShapes(s.capture->calls());
      }
      if (s.sample && options_.activation_stats) s.sample->AddActivations(s.capture->calls());
    });
    s.capture.reset();
  }

  void ApplyShapes(const std::vector<ModuleCall>& calls) {
    bool any = false;
    for (std::size_t m = 0; m < calls.size() && m < modules_.size(); ++m) {
      if (!calls[m].seen) continue;
      any = true;
      ModuleInfo& info = modules_[m].info;
      if (!calls[m].input_shape.empty()) info.input_shape = calls[m].input_shape;
      info.output_shape = calls[m].output_shape;
      info.flops = FlopsPerSample(modules_[m], calls[m].output_shape);
    }
    if (!any) return;
    std::vector<ModuleInfo> infos = ModuleInfos(modules_);
    AddChildFlops(&infos);
    RecordJson("architecture", ArchitectureJson(infos));
  }

  StepRecord BuildRecord(const OpenStep& s, TimePoint end, std::int64_t step) {
    StepRecord r;
    r.step = step;
    r.epoch = epoch_;
    r.ts = clock_->UnixSeconds();
    const double data_ms = s.data ? Ms(*s.data) : 0.0;
    const double step_ms = data_ms + Ms(end - s.begin - s.overhead);
    if (s.samples >= 0) r.Set(StepField::kSamples, static_cast<double>(s.samples));
    if (s.tokens > 0) r.Set(StepField::kTokens, static_cast<double>(s.tokens));
    if (s.data) r.Set(StepField::kDataMs, data_ms);
    if (s.forward) r.Set(StepField::kForwardMs, Ms(*s.forward));
    if (s.backward) r.Set(StepField::kBackwardMs, Ms(*s.backward));
    if (s.optimizer) r.Set(StepField::kOptimizerMs, Ms(*s.optimizer));
    r.Set(StepField::kStepMs, step_ms);
    if (step_ms > 0) {
      if (s.samples >= 0)
        r.Set(StepField::kSamplesPerS, 1000.0 * static_cast<double>(s.samples) / step_ms);
      if (s.tokens > 0)
        r.Set(StepField::kTokensPerS, 1000.0 * static_cast<double>(s.tokens) / step_ms);
    }
    if (const auto lr = LearningRate()) r.Set(StepField::kLearningRate, *lr);
    r.metrics = s.metrics;
    return r;
  }

  std::optional<double> LearningRate() {
    if (optimizer_ == nullptr || lr_broken_) return std::nullopt;
    try {
      auto& groups = optimizer_->param_groups();
      if (groups.empty() || !groups[0].has_options()) return std::nullopt;
      return groups[0].options().get_lr();
    } catch (const std::exception& e) {  // e.g. a custom optimizer without get_lr()
      lr_broken_ = true;
      Contain("learning_rate", e.what());
      return std::nullopt;
    }
  }

  // Sends the step now, or queues it until its loss is read back in a batch.
  void QueueStep(StepRecord record, const at::Tensor& loss, bool flush_now) {
    at::Tensor value;
    if (loss.defined()) {
      value = loss.detach();
      if (value.numel() != 1) {
        throw std::invalid_argument("the loss must have one element, got " +
                                    std::to_string(value.numel()));
      }
    }
    const bool read_now =
        options_.loss_readback == LossReadback::kEveryStep ||
        (options_.loss_readback == LossReadback::kAuto && (!value.defined() || value.is_cpu()));
    pending_.push_back({std::move(record), std::move(value)});
    if (read_now || flush_now ||
        static_cast<std::int64_t>(pending_.size()) >= options_.loss_readback_every) {
      FlushLosses();
    }
  }

  // Reads every pending loss in one transfer and sends the pending step records, in order.
  void FlushLosses() {
    if (pending_.empty()) return;
    std::vector<PendingStep> pending = std::move(pending_);
    pending_.clear();
    std::vector<std::optional<double>> values(pending.size());
    std::exception_ptr failure;
    try {
      ReadLosses(pending, &values);
    } catch (...) {  // the records still go, without their loss
      failure = std::current_exception();
    }
    for (std::size_t i = 0; i < pending.size(); ++i) {
      StepRecord& r = pending[i].record;
      if (values[i]) r.Set(StepField::kLoss, *values[i]);
      if (r.Has(StepField::kLoss) && std::isfinite(r.Get(StepField::kLoss))) {
        epoch_loss_sum_ += r.Get(StepField::kLoss);
        ++epoch_loss_count_;
      }
      if (client_ != nullptr) (void)client_->Record(std::move(r));
    }
    if (failure) std::rethrow_exception(failure);
  }

  static void ReadLosses(const std::vector<PendingStep>& pending,
                         std::vector<std::optional<double>>* values) {
    std::vector<std::size_t> which;
    std::vector<at::Tensor> losses;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (!pending[i].loss.defined()) continue;
      which.push_back(i);
      losses.push_back(pending[i].loss.reshape({}).to(at::kDouble));
    }
    if (losses.empty()) return;
    const bool one_device = std::all_of(losses.begin(), losses.end(), [&](const at::Tensor& l) {
      return l.device() == losses.front().device();
    });
    if (one_device) {
      const at::Tensor host = at::stack(losses).to(at::kCPU).contiguous();
      const double* data = host.data_ptr<double>();
      for (std::size_t k = 0; k < which.size(); ++k) (*values)[which[k]] = data[k];
      return;
    }
    for (std::size_t k = 0; k < which.size(); ++k) (*values)[which[k]] = losses[k].item<double>();
  }

  void RecordLayerStats(LayerSample& sample, std::int64_t step) {
    if (!sample.has_gradients()) sample.AddGradients();
    if (!sample.has_weights()) sample.AddWeights();
    sample.AddUpdate();
    FlushLosses();  // so that the step's record goes before its layer statistics
    const std::vector<LayerValues> layers = sample.Read();
    if (layers.empty()) return;
    RecordJson("layer_stats", LayerStatsJson(step, epoch_, clock_->UnixSeconds(), layers));
    ++layer_samples_;
  }

  ObserverOptions options_;
  Clock* clock_;
  std::unique_ptr<Client> client_;
  Status setup_;
  bool enabled_;
  bool finished_ = false;
  Status finish_status_;

  std::vector<TrackedModule> modules_;
  bool shapes_done_ = false;
  ::torch::optim::Optimizer* optimizer_ = nullptr;
  bool lr_broken_ = false;

  std::int64_t step_ = 0;
  std::int64_t epoch_ = 0;
  std::uint64_t last_token_ = 0;
  std::optional<OpenStep> open_;
  std::optional<TimePoint> prev_end_;     // when the last step of this epoch ended
  std::optional<TimePoint> epoch_start_;  // when this epoch's first step began
  std::vector<PendingStep> pending_;
  double epoch_loss_sum_ = 0;
  std::int64_t epoch_loss_count_ = 0;

  std::int64_t steps_ = 0;
  std::int64_t abandoned_steps_ = 0;
  std::int64_t layer_samples_ = 0;
  std::int64_t telemetry_errors_ = 0;
  std::map<std::string, std::int64_t> errors_by_site_;
};

}  // namespace internal

// ---- Step ----

Step::Step(Step&& other) noexcept
    : core_(std::exchange(other.core_, nullptr)), token_(std::exchange(other.token_, 0)) {}

Step& Step::operator=(Step&& other) noexcept {
  if (this != &other) {
    if (core_ != nullptr) core_->Abandon(token_);
    core_ = std::exchange(other.core_, nullptr);
    token_ = std::exchange(other.token_, 0);
  }
  return *this;
}

Step::~Step() {
  if (core_ != nullptr) core_->Abandon(token_);
}

void Step::MarkForward() noexcept {
  if (core_ != nullptr) core_->MarkForward(token_);
}

void Step::MarkBackward() noexcept {
  if (core_ != nullptr) core_->MarkBackward(token_);
}

void Step::AddMetric(std::string name, double value) noexcept {
  if (core_ != nullptr) core_->AddMetric(token_, std::move(name), value);
}

void Step::End(const at::Tensor& loss) noexcept {
  if (core_ != nullptr) core_->End(token_, &loss, std::nullopt);
  core_ = nullptr;
}

void Step::End(double loss) noexcept {
  if (core_ != nullptr) core_->End(token_, nullptr, loss);
  core_ = nullptr;
}

void Step::End() noexcept {
  if (core_ != nullptr) core_->End(token_, nullptr, std::nullopt);
  core_ = nullptr;
}

// ---- Observer ----

Observer::Observer(std::unique_ptr<internal::ObserverCore> core) : core_(std::move(core)) {}

std::unique_ptr<Observer> Observer::Create(ObserverOptions options) noexcept {
  try {
    ClientConfig config = options.client;
    if (config.framework_json.empty()) {
      config.framework_json = internal::FrameworkJson(TORCH_VERSION, ::torch::cuda::is_available(),
                                                      ::torch::cuda::device_count());
    }
    if (config.host_json.empty()) config.host_json = internal::HostJson();
    auto started = Client::Start(std::move(config));
    std::unique_ptr<Client> client;
    Status setup;
    if (started.ok()) {
      client = std::move(started).value();
    } else {
      setup = started.status();
    }
    auto core = std::make_unique<internal::ObserverCore>(std::move(options), std::move(client),
                                                         std::move(setup));
    return std::unique_ptr<Observer>(new Observer(std::move(core)));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atlas: the observer is disabled: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "atlas: the observer is disabled: unknown error\n");
  }
  // Even set-up's allocations failed: an observer without a core, which does nothing.
  return std::unique_ptr<Observer>(new (std::nothrow) Observer(nullptr));
}

Observer::~Observer() {
  if (core_ == nullptr || core_->finished() || !core_->enabled()) return;
  if (std::uncaught_exceptions() > 0) {
    (void)FinishFailed("the Observer was destroyed while an exception was propagating");
  } else {
    (void)Finish();
  }
}

bool Observer::enabled() const noexcept { return core_ != nullptr && core_->enabled(); }

Status Observer::setup_status() const noexcept {
  if (core_ == nullptr) return Status::Internal("the observer could not be set up");
  return core_->setup_status();
}

const std::string& Observer::run_id() const noexcept {
  static const std::string kNone;
  return core_ != nullptr ? core_->run_id() : kNone;
}

void Observer::LogHyperparameters(const Hyperparameters& values) noexcept {
  if (core_ != nullptr) core_->LogHyperparameters(values);
}

void Observer::LogHyperparametersJson(std::string json_object) noexcept {
  if (core_ != nullptr) core_->LogHyperparametersJson(std::move(json_object));
}

void Observer::RegisterModel(::torch::nn::Module& model) noexcept {
  if (core_ != nullptr) core_->RegisterModel(model);
}

void Observer::RegisterOptimizer(::torch::optim::Optimizer& optimizer) noexcept {
  if (core_ != nullptr) core_->RegisterOptimizer(optimizer);
}

Step Observer::BeginStep(std::int64_t samples, std::int64_t tokens) noexcept {
  if (core_ == nullptr) return {nullptr, 0};
  const std::uint64_t token = core_->BeginStep(samples, tokens);
  return {token != 0 ? core_.get() : nullptr, token};
}

void Observer::EndEpoch(const EpochSummary& summary) noexcept {
  if (core_ != nullptr) core_->EndEpoch(summary);
}

void Observer::LogEvent(const std::string& level, const std::string& type,
                        const std::string& message) noexcept {
  if (core_ != nullptr) core_->LogEvent(level, type, message);
}

Status Observer::Finish() noexcept {
  if (core_ == nullptr) return setup_status();
  return core_->Finish(FinishStatus::kCompleted, "");
}

Status Observer::FinishFailed(const std::string& reason) noexcept {
  if (core_ == nullptr) return setup_status();
  return core_->Finish(FinishStatus::kFailed, reason);
}

ObserverStats Observer::stats() const noexcept {
  if (core_ == nullptr) return {};
  try {
    return core_->stats();
  } catch (...) {  // copying the counters failed (out of memory): report nothing
    return {};
  }
}

}  // namespace atlas::torch
