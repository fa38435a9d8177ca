// Parsers of the records a run streams while it trains: step, epoch, layer_stats, profile and
// event. The step parser is the hot path (most records are steps): it allocates nothing but the
// names of user metrics, which the model must own.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "protocol/record_parsers.hpp"

namespace atlas::protocol::detail {
namespace {

constexpr std::size_t kMaxEventTypeChars = 64;

// ----- step -----

namespace step_key {
constexpr std::size_t kKind = 0;
constexpr std::size_t kSeq = 1;
constexpr std::size_t kStep = 2;
constexpr std::size_t kEpoch = 3;
constexpr std::size_t kTs = 4;
constexpr std::size_t kMetrics = 5;
constexpr std::size_t kFirstStepField = 6;  // then one key per model::kStepFields entry
}  // namespace step_key

// The keys of a step record: the fixed ones, then every step field in kStepFields order, so the
// list of step fields lives only in model::kStepFields.
constexpr auto kStepKeys = [] {
  std::array<std::string_view, step_key::kFirstStepField + model::kStepFields.size()> keys{
      "kind", "seq", "step", "epoch", "ts", "metrics"};
  for (std::size_t i = 0; i < model::kStepFields.size(); ++i) {
    keys[step_key::kFirstStepField + i] = model::kStepFields[i].name;
  }
  return keys;
}();

// ----- epoch -----

namespace epoch_key {
constexpr std::size_t kSeq = 1;
constexpr std::size_t kEpoch = 2;
constexpr std::size_t kTs = 3;
constexpr std::size_t kDurationS = 4;
constexpr std::size_t kTrain = 5;
constexpr std::size_t kVal = 6;
constexpr std::size_t kEnergy = 7;
}  // namespace epoch_key
constexpr std::array<std::string_view, 8> kEpochKeys = {"kind",       "seq",   "epoch", "ts",
                                                        "duration_s", "train", "val",   "energy"};

namespace energy_key {
constexpr std::size_t kComponent = 0;
constexpr std::size_t kDevice = 1;
constexpr std::size_t kJoules = 2;
constexpr std::size_t kMethod = 3;
}  // namespace energy_key
constexpr std::array<std::string_view, 4> kEnergyKeys = {"component", "device", "joules", "method"};
constexpr std::array<std::string_view, 4> kEnergyComponents = {"gpu", "cpu", "ram", "other"};

// ----- layer_stats -----

namespace layers_key {
constexpr std::size_t kSeq = 1;
constexpr std::size_t kStep = 2;
constexpr std::size_t kEpoch = 3;
constexpr std::size_t kTs = 4;
constexpr std::size_t kLayers = 5;
}  // namespace layers_key
constexpr std::array<std::string_view, 6> kLayerStatsKeys = {"kind",  "seq", "step",
                                                             "epoch", "ts",  "layers"};

namespace layer_key {
constexpr std::size_t kLayer = 0;
constexpr std::size_t kFirstStat = 1;  // then one key per model::kLayerStatNames entry
constexpr std::size_t kExtra = kFirstStat + model::kLayerStatNames.size();
}  // namespace layer_key
constexpr auto kLayerKeys = [] {
  std::array<std::string_view, layer_key::kExtra + 1> keys{};
  keys[layer_key::kLayer] = "layer";
  for (std::size_t i = 0; i < model::kLayerStatNames.size(); ++i) {
    keys[layer_key::kFirstStat + i] = model::kLayerStatNames[i];
  }
  keys[layer_key::kExtra] = "extra";
  return keys;
}();

// ----- profile -----

namespace profile_key {
constexpr std::size_t kSeq = 1;
constexpr std::size_t kStep = 2;
constexpr std::size_t kTs = 3;
constexpr std::size_t kData = 4;
}  // namespace profile_key
constexpr std::array<std::string_view, 5> kProfileKeys = {"kind", "seq", "step", "ts", "data"};

// ----- event -----

namespace event_key {
constexpr std::size_t kSeq = 1;
constexpr std::size_t kTs = 2;
constexpr std::size_t kLevel = 3;
constexpr std::size_t kType = 4;
constexpr std::size_t kMessage = 5;
constexpr std::size_t kData = 6;
}  // namespace event_key
constexpr std::array<std::string_view, 7> kEventKeys = {"kind", "seq",     "ts",  "level",
                                                        "type", "message", "data"};
constexpr std::array<std::string_view, 4> kEventLevels = {"debug", "info", "warning", "error"};

// Reads an optional epoch number (an integer >= 0) into `out`.
bool ReadEpoch(Reader& reader, const dom::element& value, const Path& path,
               std::optional<std::int64_t>& out) {
  std::int64_t epoch = 0;
  if (!reader.Int(value, path, 0, epoch)) return false;
  out = epoch;
  return true;
}

bool ReadEnergyMethod(Reader& reader, const dom::element& value, const Path& path,
                      std::string& out) {
  std::string_view method;
  if (!reader.String(value, path, method)) return false;
  for (const std::string_view prefix :
       {std::string_view("measured:"), std::string_view("estimated:")}) {
    if (method.size() > prefix.size() && method.substr(0, prefix.size()) == prefix) {
      out = method;
      return true;
    }
  }
  return reader.Fail(path,
                     "must be \"measured:<how>\" or \"estimated:<how>\", e.g. "
                     "\"measured:nvml-counter\" or \"estimated:cpu-model\"");
}

bool ParseEnergyEntry(Reader& reader, const dom::element& value, const Path& path,
                      model::EnergyEntry& out) {
  dom::object object;
  if (!reader.Object(value, path, object)) return false;
  KeyMask present = 0;
  const bool ok = ReadFields(
      reader, object, path, kEnergyKeys, {}, present,
      [&](std::size_t key, const dom::element& field, const Path& field_path) {
        std::string_view text;
        switch (key) {
          case energy_key::kComponent:
            if (!reader.OneOf(field, field_path, kEnergyComponents, text)) return false;
            out.component = text;
            return true;
          case energy_key::kDevice:
            if (!reader.String(field, field_path, text)) return false;
            out.device = text;
            return true;
          case energy_key::kJoules:
            return reader.Telemetry(field, field_path, /*non_negative=*/true, out.joules);
          case energy_key::kMethod:
            return ReadEnergyMethod(reader, field, field_path, out.method);
          default:
            return true;
        }
      });
  return ok && RequireFields(reader, path, kEnergyKeys, present,
                             Bit(energy_key::kComponent) | Bit(energy_key::kJoules) |
                                 Bit(energy_key::kMethod));
}

bool ParseEnergy(Reader& reader, const dom::element& value, const Path& path,
                 std::vector<model::EnergyEntry>& out) {
  dom::array entries;
  if (!reader.Array(value, path, entries)) return false;
  out.reserve(entries.size());
  std::size_t index = 0;
  for (const dom::element entry : entries) {
    if (!ParseEnergyEntry(reader, entry, path.Index(index), out.emplace_back())) return false;
    ++index;
  }
  return true;
}

bool ParseLayer(Reader& reader, const dom::element& value, const Path& path,
                model::LayerStat& out) {
  dom::object object;
  if (!reader.Object(value, path, object)) return false;
  KeyMask present = 0;
  const bool ok = ReadFields(
      reader, object, path, kLayerKeys, "unknown field; custom values go under \"extra\"", present,
      [&](std::size_t key, const dom::element& field, const Path& field_path) {
        if (key == layer_key::kLayer) {
          std::string_view name;
          if (!reader.String(field, field_path, name)) return false;
          out.layer = name;
          return true;
        }
        if (key == layer_key::kExtra) return reader.OpaqueObject(field, field_path, out.extra);
        double stat = 0;
        if (!reader.Telemetry(field, field_path, /*non_negative=*/false, stat)) return false;
        out.values[key - layer_key::kFirstStat] = stat;
        return true;
      });
  return ok && RequireFields(reader, path, kLayerKeys, present, Bit(layer_key::kLayer));
}

bool ParseLayers(Reader& reader, const dom::element& value, const Path& path,
                 std::vector<model::LayerStat>& out) {
  dom::array layers;
  if (!reader.BoundedArray(value, path, reader.limits().max_layers_per_sample, layers)) {
    return false;
  }
  out.reserve(layers.size());
  std::size_t index = 0;
  for (const dom::element layer : layers) {
    if (!ParseLayer(reader, layer, path.Index(index), out.emplace_back())) return false;
    ++index;
  }
  const auto repeat =
      FirstRepeat(out, [](const model::LayerStat& s) { return std::string_view{s.layer}; });
  if (repeat) {
    return reader.Fail(path.Index(*repeat).Key("layer"),
                       "names the same layer as an earlier entry of this sample");
  }
  return true;
}

}  // namespace

bool ParseStepRecord(Reader& reader, const dom::object& object, const Path& path,
                     model::StepRecord& out) {
  KeyMask present = 0;
  const bool ok = ReadFields(
      reader, object, path, kStepKeys, "unknown field; custom step values go under \"metrics\"",
      present, [&](std::size_t key, const dom::element& value, const Path& field_path) {
        switch (key) {
          case step_key::kKind:
            return true;
          case step_key::kSeq:
            return reader.Int(value, field_path, 0, out.seq);
          case step_key::kStep:
            return reader.Int(value, field_path, 0, out.step);
          case step_key::kEpoch:
            return ReadEpoch(reader, value, field_path, out.epoch);
          case step_key::kTs:
            return reader.Timestamp(value, field_path, out.ts);
          case step_key::kMetrics:
            return reader.NamedValues(value, field_path, /*reject_step_fields=*/true, out.metrics);
          default:
            break;
        }
        const model::StepFieldInfo& info = model::kStepFields[key - step_key::kFirstStepField];
        double v = 0;
        if (!reader.Telemetry(value, field_path, info.non_negative, v)) return false;
        out.at(info.field) = v;
        return true;
      });
  return ok && RequireFields(reader, path, kStepKeys, present,
                             Bit(step_key::kSeq) | Bit(step_key::kStep) | Bit(step_key::kTs));
}

bool ParseEpochRecord(Reader& reader, const dom::object& object, const Path& path,
                      model::EpochRecord& out) {
  KeyMask present = 0;
  const bool ok = ReadFields(
      reader, object, path, kEpochKeys, {}, present,
      [&](std::size_t key, const dom::element& value, const Path& field_path) {
        switch (key) {
          case epoch_key::kSeq:
            return reader.Int(value, field_path, 0, out.seq);
          case epoch_key::kEpoch:
            return reader.Int(value, field_path, 0, out.epoch);
          case epoch_key::kTs:
            return reader.Timestamp(value, field_path, out.ts);
          case epoch_key::kDurationS: {
            double duration = 0;
            if (!reader.Number(value, field_path, /*non_negative=*/true, duration)) return false;
            out.duration_s = duration;
            return true;
          }
          case epoch_key::kTrain:
            return reader.NamedValues(value, field_path, /*reject_step_fields=*/false, out.train);
          case epoch_key::kVal:
            return reader.NamedValues(value, field_path, /*reject_step_fields=*/false, out.val);
          case epoch_key::kEnergy:
            return ParseEnergy(reader, value, field_path, out.energy);
          default:  // "kind"
            return true;
        }
      });
  return ok && RequireFields(reader, path, kEpochKeys, present,
                             Bit(epoch_key::kSeq) | Bit(epoch_key::kEpoch) | Bit(epoch_key::kTs));
}

bool ParseLayerStatsRecord(Reader& reader, const dom::object& object, const Path& path,
                           model::LayerStatsRecord& out) {
  KeyMask present = 0;
  const bool ok =
      ReadFields(reader, object, path, kLayerStatsKeys, {}, present,
                 [&](std::size_t key, const dom::element& value, const Path& field_path) {
                   switch (key) {
                     case layers_key::kSeq:
                       return reader.Int(value, field_path, 0, out.seq);
                     case layers_key::kStep:
                       return reader.Int(value, field_path, 0, out.step);
                     case layers_key::kEpoch:
                       return ReadEpoch(reader, value, field_path, out.epoch);
                     case layers_key::kTs:
                       return reader.Timestamp(value, field_path, out.ts);
                     case layers_key::kLayers:
                       return ParseLayers(reader, value, field_path, out.layers);
                     default:  // "kind"
                       return true;
                   }
                 });
  return ok && RequireFields(reader, path, kLayerStatsKeys, present,
                             Bit(layers_key::kSeq) | Bit(layers_key::kStep) | Bit(layers_key::kTs) |
                                 Bit(layers_key::kLayers));
}

bool ParseProfileRecord(Reader& reader, const dom::object& object, const Path& path,
                        model::ProfileRecord& out) {
  KeyMask present = 0;
  const bool ok =
      ReadFields(reader, object, path, kProfileKeys, {}, present,
                 [&](std::size_t key, const dom::element& value, const Path& field_path) {
                   switch (key) {
                     case profile_key::kSeq:
                       return reader.Int(value, field_path, 0, out.seq);
                     case profile_key::kStep:
                       return reader.Int(value, field_path, 0, out.step);
                     case profile_key::kTs:
                       return reader.Timestamp(value, field_path, out.ts);
                     case profile_key::kData:
                       return reader.OpaqueObject(value, field_path, out.data);
                     default:  // "kind"
                       return true;
                   }
                 });
  return ok && RequireFields(reader, path, kProfileKeys, present,
                             Bit(profile_key::kSeq) | Bit(profile_key::kStep) |
                                 Bit(profile_key::kTs) | Bit(profile_key::kData));
}

bool ParseEventRecord(Reader& reader, const dom::object& object, const Path& path,
                      model::EventRecord& out) {
  KeyMask present = 0;
  const bool ok =
      ReadFields(reader, object, path, kEventKeys, {}, present,
                 [&](std::size_t key, const dom::element& value, const Path& field_path) {
                   std::string_view text;
                   switch (key) {
                     case event_key::kSeq:
                       return reader.Int(value, field_path, 0, out.seq);
                     case event_key::kTs:
                       return reader.Timestamp(value, field_path, out.ts);
                     case event_key::kLevel:
                       if (!reader.OneOf(value, field_path, kEventLevels, text)) return false;
                       out.level = text;
                       return true;
                     case event_key::kType:
                       if (!reader.Name(value, field_path, 1, kMaxEventTypeChars, text))
                         return false;
                       out.type = text;
                       return true;
                     case event_key::kMessage:
                       if (!reader.Text(value, field_path, reader.limits().max_text_bytes, text))
                         return false;
                       out.message = text;
                       return true;
                     case event_key::kData:
                       return reader.OpaqueObject(value, field_path, out.data);
                     default:  // "kind"
                       return true;
                   }
                 });
  return ok && RequireFields(reader, path, kEventKeys, present,
                             Bit(event_key::kSeq) | Bit(event_key::kTs) | Bit(event_key::kLevel) |
                                 Bit(event_key::kType) | Bit(event_key::kMessage));
}

}  // namespace atlas::protocol::detail
