#include "json.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <variant>

namespace atlas::torch::internal {
namespace {

using nlohmann::json;

// A telemetry number: JSON has no NaN or infinity, so protocol v1 spells them as strings.
json TelemetryNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

// A plain number (times, durations, flops): the protocol refuses the strings above there, so a
// non-finite value is left out by the callers instead.
bool IsPlainNumber(const std::optional<double>& v) { return v.has_value() && std::isfinite(*v); }

json ShapeJson(const std::optional<std::vector<std::int64_t>>& shape) {
  if (!shape) return nullptr;
  return *shape;
}

json MetricsObject(const MetricList& metrics) {
  json out = json::object();
  for (const auto& [name, value] : metrics) out[name] = TelemetryNumber(value);
  return out;
}

// The protocol allows 4096-byte strings; the kernel's names are far shorter, but a value that
// is too long must not make the server refuse the whole run create.
std::string Bounded(std::string s) {
  constexpr std::size_t kMax = 1024;
  if (s.size() > kMax) s.resize(kMax);
  return s;
}

}  // namespace

std::string ArchitectureJson(const std::vector<ModuleInfo>& modules) {
  json list = json::array();
  for (const ModuleInfo& m : modules) {
    json entry = {{"name", m.name},
                  {"type", m.type},
                  {"parent", m.parent ? json(*m.parent) : json(nullptr)},
                  {"params", m.params},
                  {"trainable_params", m.trainable_params}};
    if (m.input_shape) entry["input_shape"] = ShapeJson(m.input_shape);
    if (m.output_shape) entry["output_shape"] = ShapeJson(m.output_shape);
    if (IsPlainNumber(m.flops) && *m.flops >= 0) entry["flops"] = *m.flops;
    list.push_back(std::move(entry));
  }
  return json{{"modules", std::move(list)}}.dump();
}

std::string LayerStatsJson(std::int64_t step, std::optional<std::int64_t> epoch, double ts,
                           const std::vector<LayerValues>& layers) {
  json list = json::array();
  for (const LayerValues& layer : layers) {
    json entry = {{"layer", layer.layer}};
    for (std::size_t i = 0; i < kLayerStatCount; ++i) {
      if (layer.values[i]) {
        entry[std::string(kLayerStatNames[i])] = TelemetryNumber(*layer.values[i]);
      }
    }
    if (!layer.extra_numbers.empty() || !layer.extra_arrays.empty()) {
      json extra = json::object();
      for (const auto& [name, value] : layer.extra_numbers) extra[name] = TelemetryNumber(value);
      for (const auto& [name, values] : layer.extra_arrays) {
        json array = json::array();
        for (const double v : values) array.push_back(TelemetryNumber(v));
        extra[name] = std::move(array);
      }
      entry["extra"] = std::move(extra);
    }
    list.push_back(std::move(entry));
  }
  json record = {{"step", step}, {"ts", ts}, {"layers", std::move(list)}};
  if (epoch) record["epoch"] = *epoch;
  return record.dump();
}

std::string EpochJson(std::int64_t epoch, double ts, std::optional<double> duration_s,
                      const MetricList& train, const MetricList& val) {
  json record = {{"epoch", epoch}, {"ts", ts}};
  if (IsPlainNumber(duration_s) && *duration_s >= 0) record["duration_s"] = *duration_s;
  if (!train.empty()) record["train"] = MetricsObject(train);
  if (!val.empty()) record["val"] = MetricsObject(val);
  return record.dump();
}

std::string EventJson(double ts, std::string_view level, std::string_view type,
                      std::string_view message,
                      const std::vector<std::pair<std::string, std::string>>& data) {
  json record = {{"ts", ts}, {"level", level}, {"type", type}, {"message", message}};
  if (!data.empty()) {
    json object = json::object();
    for (const auto& [key, value] : data) object[key] = value;
    record["data"] = std::move(object);
  }
  // Text from an exception's what() may hold invalid UTF-8; replace it rather than fail.
  return record.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string HyperparametersJson(const HyperList& values) {
  json object = json::object();
  for (const auto& item : values) {
    const std::string& name = item.first;
    std::visit(
        [&object, &name](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, double>) {
            object[name] = TelemetryNumber(v);
          } else {
            object[name] = v;
          }
        },
        item.second);
  }
  return json{{"values", std::move(object)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string HyperparametersJson(std::string_view json_object) {
  json values = json::parse(json_object, nullptr, /*allow_exceptions=*/false);
  if (!values.is_object()) {
    throw std::invalid_argument("hyperparameters must be the text of a JSON object");
  }
  return json{{"values", std::move(values)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string FrameworkJson(std::string_view torch_version, bool cuda_available,
                          std::int64_t cuda_devices) {
  json framework = {{"libtorch", torch_version}, {"language", "C++"}};
  framework["cuda_available"] = cuda_available;
  if (cuda_available) framework["cuda_devices"] = cuda_devices;
  return framework.dump();
}

std::string HostJson() {
  json host = json::object();
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) == 0) host["hostname"] = Bounded(name.data());
  struct utsname uts {};
  if (uname(&uts) == 0) {
    host["os"] = Bounded(std::string(uts.sysname) + " " + uts.release);
    host["machine"] = Bounded(uts.machine);
  }
  host["cpu_count"] = std::thread::hardware_concurrency();
  return host.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace atlas::torch::internal
