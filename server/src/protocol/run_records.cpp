// Parsers of the records that describe the run rather than a moment of training:
// hyperparameters, architecture and finish.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>

#include <fmt/format.h>

#include "protocol/record_parsers.hpp"

namespace atlas::protocol::detail {
namespace {

namespace hyper_key {
constexpr std::size_t kSeq = 1;
constexpr std::size_t kValues = 2;
}  // namespace hyper_key
constexpr std::array<std::string_view, 3> kHyperparametersKeys = {"kind", "seq", "values"};

namespace arch_key {
constexpr std::size_t kSeq = 1;
constexpr std::size_t kModules = 2;
}  // namespace arch_key
constexpr std::array<std::string_view, 3> kArchitectureKeys = {"kind", "seq", "modules"};

namespace module_key {
constexpr std::size_t kName = 0;
constexpr std::size_t kType = 1;
constexpr std::size_t kParent = 2;
constexpr std::size_t kParams = 3;
constexpr std::size_t kTrainableParams = 4;
constexpr std::size_t kInputShape = 5;
constexpr std::size_t kOutputShape = 6;
constexpr std::size_t kFlops = 7;
}  // namespace module_key
constexpr std::array<std::string_view, 8> kModuleKeys = {
    "name", "type", "parent", "params", "trainable_params", "input_shape", "output_shape", "flops"};

namespace finish_key {
constexpr std::size_t kKind = 0;
constexpr std::size_t kSeq = 1;
constexpr std::size_t kTs = 2;
constexpr std::size_t kStatus = 3;
constexpr std::size_t kReason = 4;
constexpr std::size_t kClientStats = 5;
}  // namespace finish_key
constexpr std::array<std::string_view, 6> kFinishKeys = {"kind",   "seq",    "ts",
                                                         "status", "reason", "client_stats"};
// The statuses a run may finish with ("running" is not one).
constexpr std::array<std::string_view, 3> kFinishStatuses = {"completed", "failed", "stopped"};

// A shape: an array (its contents are stored as given).
bool ReadShape(Reader& reader, const dom::element& value, const Path& path, model::Json& out) {
  dom::array shape;
  if (!reader.Array(value, path, shape)) return false;
  out = ToJson(value);
  return true;
}

bool ParseModule(Reader& reader, const dom::element& value, const Path& path,
                 model::ModuleInfo& out) {
  dom::object object;
  if (!reader.Object(value, path, object)) return false;
  KeyMask present = 0;
  const bool ok = ReadFields(
      reader, object, path, kModuleKeys, {}, present,
      [&](std::size_t key, const dom::element& field, const Path& field_path) {
        std::string_view text;
        switch (key) {
          case module_key::kName:
            if (!reader.String(field, field_path, text)) return false;
            out.name = text;
            return true;
          case module_key::kType:
            if (!reader.Name(field, field_path, 1, reader.limits().max_string_bytes, text)) {
              return false;
            }
            out.type = text;
            return true;
          case module_key::kParent:
            if (!reader.String(field, field_path, text)) return false;
            out.parent = std::string(text);
            return true;
          case module_key::kParams:
            return reader.Int(field, field_path, 0, out.params);
          case module_key::kTrainableParams:
            return reader.Int(field, field_path, 0, out.trainable_params);
          case module_key::kInputShape:
            return ReadShape(reader, field, field_path, out.input_shape);
          case module_key::kOutputShape:
            return ReadShape(reader, field, field_path, out.output_shape);
          case module_key::kFlops: {
            double flops = 0;
            if (!reader.Number(field, field_path, /*non_negative=*/true, flops)) return false;
            out.flops = flops;
            return true;
          }
          default:
            return true;
        }
      });
  if (!ok || !RequireFields(reader, path, kModuleKeys, present,
                            Bit(module_key::kName) | Bit(module_key::kType) |
                                Bit(module_key::kParams) | Bit(module_key::kTrainableParams))) {
    return false;
  }
  if (out.trainable_params > out.params) {
    return reader.Fail(path.Key("trainable_params"), fmt::format("must be <= params ({}), got {}",
                                                                 out.params, out.trainable_params));
  }
  return true;
}

// The tree rules: names are unique, the first module is the root (no parent) and every other
// module names an earlier module as its parent, so the modules form one tree in registration
// order. Runs after all modules are read, when the names no longer move.
bool CheckModuleTree(Reader& reader, const Path& path,
                     const std::vector<model::ModuleInfo>& modules) {
  std::unordered_set<std::string_view> earlier;
  earlier.reserve(modules.size());
  for (std::size_t i = 0; i < modules.size(); ++i) {
    const model::ModuleInfo& module = modules[i];
    const Path module_path = path.Index(i);
    if (i == 0 && module.parent) {
      return reader.Fail(module_path.Key("parent"),
                         "the first module is the root; its parent must be null");
    }
    if (i > 0 && !module.parent) {
      return reader.Fail(module_path.Key("parent"),
                         "required; only the first module (the root) has no parent");
    }
    if (module.parent && earlier.count(*module.parent) == 0) {
      return reader.Fail(module_path.Key("parent"),
                         "must name an earlier module; list modules parents first");
    }
    if (!earlier.insert(module.name).second) {
      return reader.Fail(module_path.Key("name"), "names the same module as an earlier entry");
    }
  }
  return true;
}

bool ParseModules(Reader& reader, const dom::element& value, const Path& path,
                  std::vector<model::ModuleInfo>& out) {
  dom::array modules;
  if (!reader.BoundedArray(value, path, reader.limits().max_modules, modules)) return false;
  if (modules.size() == 0) {
    return reader.Fail(path, "must not be empty; the first module is the root");
  }
  out.reserve(modules.size());
  std::size_t index = 0;
  for (const dom::element module : modules) {
    if (!ParseModule(reader, module, path.Index(index), out.emplace_back())) return false;
    ++index;
  }
  return CheckModuleTree(reader, path, out);
}

}  // namespace

bool ParseHyperparametersRecord(Reader& reader, const dom::object& object, const Path& path,
                                model::HyperparametersRecord& out) {
  KeyMask present = 0;
  const bool ok =
      ReadFields(reader, object, path, kHyperparametersKeys, {}, present,
                 [&](std::size_t key, const dom::element& value, const Path& field_path) {
                   switch (key) {
                     case hyper_key::kSeq:
                       return reader.Int(value, field_path, 0, out.seq);
                     case hyper_key::kValues:
                       return reader.OpaqueObject(value, field_path, out.values);
                     default:  // "kind"
                       return true;
                   }
                 });
  return ok && RequireFields(reader, path, kHyperparametersKeys, present,
                             Bit(hyper_key::kSeq) | Bit(hyper_key::kValues));
}

bool ParseArchitectureRecord(Reader& reader, const dom::object& object, const Path& path,
                             model::ArchitectureRecord& out) {
  KeyMask present = 0;
  const bool ok =
      ReadFields(reader, object, path, kArchitectureKeys, {}, present,
                 [&](std::size_t key, const dom::element& value, const Path& field_path) {
                   switch (key) {
                     case arch_key::kSeq:
                       return reader.Int(value, field_path, 0, out.seq);
                     case arch_key::kModules:
                       return ParseModules(reader, value, field_path, out.modules);
                     default:  // "kind"
                       return true;
                   }
                 });
  return ok && RequireFields(reader, path, kArchitectureKeys, present,
                             Bit(arch_key::kSeq) | Bit(arch_key::kModules));
}

bool ParseFinishRecord(Reader& reader, const dom::object& object, const Path& path, bool in_batch,
                       model::FinishRecord& out) {
  KeyMask present = 0;
  const bool ok = ReadFields(
      reader, object, path, kFinishKeys, {}, present,
      [&](std::size_t key, const dom::element& value, const Path& field_path) {
        std::string_view text;
        switch (key) {
          case finish_key::kKind:
            if (in_batch) return true;
            return reader.Fail(field_path,
                               "unknown field; this endpoint takes a finish record without "
                               "\"kind\"");
          case finish_key::kSeq:
            return reader.Int(value, field_path, 0, out.seq);
          case finish_key::kTs:
            return reader.Timestamp(value, field_path, out.ts);
          case finish_key::kStatus:
            if (!reader.OneOf(value, field_path, kFinishStatuses, text)) return false;
            out.status = model::ParseRunStatus(text).value_or(model::RunStatus::kCompleted);
            return true;
          case finish_key::kReason:
            if (!reader.Text(value, field_path, reader.limits().max_text_bytes, text)) {
              return false;
            }
            out.reason = text;
            return true;
          case finish_key::kClientStats:
            return reader.OpaqueObject(value, field_path, out.client_stats);
          default:
            return true;
        }
      });
  return ok &&
         RequireFields(reader, path, kFinishKeys, present,
                       Bit(finish_key::kSeq) | Bit(finish_key::kTs) | Bit(finish_key::kStatus));
}

}  // namespace atlas::protocol::detail
