// The entry points of parse.hpp: parse the body once with simdjson, then walk it with a Reader.
#include "protocol/parse.hpp"

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "protocol/reader.hpp"
#include "protocol/record_parsers.hpp"

namespace atlas::protocol {
namespace {

using detail::Bit;
namespace dom = simdjson::dom;
using detail::KeyMask;
using detail::Path;
using detail::Reader;

constexpr std::size_t kMaxRunIdChars = 64;
constexpr std::size_t kMaxProjectNameChars = 128;
constexpr std::size_t kMaxRunNameChars = 256;

// ----- run creation -----

namespace create_key {
constexpr std::size_t kProject = 0;
constexpr std::size_t kProjectId = 1;
constexpr std::size_t kName = 2;
constexpr std::size_t kRunId = 3;
constexpr std::size_t kStartedAt = 4;
constexpr std::size_t kHost = 5;
constexpr std::size_t kDevice = 6;
constexpr std::size_t kFramework = 7;
constexpr std::size_t kConfig = 8;
}  // namespace create_key
constexpr std::array<std::string_view, 9> kRunCreateKeys = {"project", "project_id", "name",
                                                            "run_id",  "started_at", "host",
                                                            "device",  "framework",  "config"};

bool ReadRunId(Reader& reader, const dom::element& value, const Path& path,
               std::optional<std::string>& out) {
  std::string_view id;
  if (!reader.String(value, path, id)) return false;
  if (!IsValidRunId(id)) {
    return reader.Fail(path, "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'");
  }
  out = std::string(id);
  return true;
}

bool ReadRunCreateField(Reader& reader, std::size_t key, const dom::element& value,
                        const Path& path, model::RunCreate& out) {
  std::string_view text;
  switch (key) {
    case create_key::kProject:
      if (!reader.Name(value, path, 1, kMaxProjectNameChars, text)) return false;
      out.project.name = std::string(text);
      return true;
    case create_key::kProjectId: {
      std::int64_t id = 0;
      if (!reader.Int(value, path, 1, id)) return false;
      out.project.id = id;
      return true;
    }
    case create_key::kName:
      if (!reader.Name(value, path, 1, kMaxRunNameChars, text)) return false;
      out.name = text;
      return true;
    case create_key::kRunId:
      return ReadRunId(reader, value, path, out.run_id);
    case create_key::kStartedAt:
      return reader.Timestamp(value, path, out.started_at);
    case create_key::kHost:
      return reader.OpaqueObject(value, path, out.host);
    case create_key::kDevice:
      return reader.OpaqueObject(value, path, out.device);
    case create_key::kFramework:
      return reader.OpaqueObject(value, path, out.framework);
    case create_key::kConfig:
      return reader.OpaqueObject(value, path, out.config);
    default:
      return true;
  }
}

bool ReadRunCreate(Reader& reader, const dom::element& root, model::RunCreate& out) {
  const Path path;
  dom::object object;
  if (!reader.Object(root, path, object)) return false;
  KeyMask present = 0;
  const bool ok =
      detail::ReadFields(reader, object, path, kRunCreateKeys, {}, present,
                         [&](std::size_t key, const dom::element& value, const Path& field_path) {
                           return ReadRunCreateField(reader, key, value, field_path, out);
                         });
  if (!ok) return false;
  const bool by_name = (present & Bit(create_key::kProject)) != 0;
  const bool by_id = (present & Bit(create_key::kProjectId)) != 0;
  if (by_name && by_id) {
    return reader.Fail(path.Key("project_id"),
                       "give either \"project\" (a name) or \"project_id\", not both");
  }
  if (!by_name && !by_id) {
    return reader.Fail(path.Key("project"), "required (or \"project_id\")");
  }
  return detail::RequireFields(reader, path, kRunCreateKeys, present, Bit(create_key::kName));
}

// ----- record batches -----

constexpr std::array<std::string_view, 1> kBatchKeys = {"records"};
constexpr std::array<std::string_view, 8> kRecordKinds = {
    "step",  "epoch",           "layer_stats",  "profile",
    "event", "hyperparameters", "architecture", "finish"};

// Reads one record of a batch: finds its kind, then hands it to that kind's parser.
bool ReadRecord(Reader& reader, const dom::element& value, const Path& path,
                model::RecordBatch& batch) {
  dom::object object;
  if (!reader.Object(value, path, object)) return false;
  const Path kind_path = path.Key("kind");
  dom::element kind_value;
  if (object.at_key("kind").get(kind_value) != simdjson::SUCCESS || kind_value.is_null()) {
    return reader.Required(kind_path);
  }
  std::string_view kind;
  if (!reader.OneOf(kind_value, kind_path, kRecordKinds, kind)) return false;
  if (kind == "step") return ParseStepRecord(reader, object, path, batch.steps.emplace_back());
  if (kind == "epoch") return ParseEpochRecord(reader, object, path, batch.epochs.emplace_back());
  if (kind == "layer_stats") {
    return ParseLayerStatsRecord(reader, object, path, batch.layer_stats.emplace_back());
  }
  if (kind == "profile") {
    return ParseProfileRecord(reader, object, path, batch.profiles.emplace_back());
  }
  if (kind == "event") return ParseEventRecord(reader, object, path, batch.events.emplace_back());
  if (kind == "hyperparameters") {
    return ParseHyperparametersRecord(reader, object, path, batch.hyperparameters.emplace_back());
  }
  if (kind == "architecture") {
    return ParseArchitectureRecord(reader, object, path, batch.architectures.emplace_back());
  }
  return ParseFinishRecord(reader, object, path, /*in_batch=*/true, batch.finishes.emplace_back());
}

bool ReadRecords(Reader& reader, const dom::element& value, const Path& path,
                 model::RecordBatch& batch) {
  dom::array records;
  if (!reader.Array(value, path, records)) return false;
  const std::size_t count = records.size();
  const std::size_t limit = reader.limits().max_records_per_batch;
  if (count > limit) {
    return reader.Fail(path, fmt::format("{} records; at most {} per batch", count, limit),
                       ErrorKind::kTooLarge);
  }
  std::size_t index = 0;
  for (const dom::element record : records) {
    if (!ReadRecord(reader, record, path.Index(index), batch)) return false;
    ++index;
  }
  return true;
}

bool ReadBatch(Reader& reader, const dom::element& root, model::RecordBatch& out) {
  const Path path;
  dom::object object;
  if (!reader.Object(root, path, object)) return false;
  KeyMask present = 0;
  const bool ok = detail::ReadFields(
      reader, object, path, kBatchKeys, {}, present,
      [&](std::size_t /*key*/, const dom::element& value, const Path& field_path) {
        return ReadRecords(reader, value, field_path, out);
      });
  return ok && detail::RequireFields(reader, path, kBatchKeys, present, Bit(0));
}

bool ReadFinish(Reader& reader, const dom::element& root, model::FinishRecord& out) {
  const Path path;
  dom::object object;
  if (!reader.Object(root, path, object)) return false;
  return ParseFinishRecord(reader, object, path, /*in_batch=*/false, out);
}

// Parses `body` and reads it with `read`, which fills a T.
template <typename T, typename Read>
Parsed<T> ParseBody(std::string_view body, const Limits& limits, Read read) {
  detail::Document document;
  dom::element root;
  ParseError error;
  if (!document.Parse(body, root, error)) return error;
  Reader reader(limits);
  T out;
  if (!read(reader, root, out)) return reader.TakeError();
  return out;
}

}  // namespace

Parsed<model::RunCreate> ParseRunCreate(std::string_view body, const Limits& limits) {
  return ParseBody<model::RunCreate>(body, limits, ReadRunCreate);
}

Parsed<model::RecordBatch> ParseRecordBatch(std::string_view body, const Limits& limits) {
  return ParseBody<model::RecordBatch>(body, limits, ReadBatch);
}

Parsed<model::FinishRecord> ParseFinish(std::string_view body, const Limits& limits) {
  return ParseBody<model::FinishRecord>(body, limits, ReadFinish);
}

bool IsValidRunId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRunIdChars) return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace atlas::protocol
