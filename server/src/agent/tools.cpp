#include "agent/tools.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace atlas::agent {
namespace {

bool HasType(const Json& value, const std::string& type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "integer") {
    if (value.is_number_integer()) return true;
    // A model may write 3.0 for 3; a whole-valued float is an integer in JSON Schema.
    return value.is_number_float() &&
           value.get<double>() == static_cast<double>(static_cast<long long>(value.get<double>()));
  }
  if (type == "number") return value.is_number();
  if (type == "null") return value.is_null();
  return false;
}

std::string Where(const std::string& path) { return path.empty() ? "arguments" : path; }

// "path.key", or "key" at the top level.
std::string Join(const std::string& path, const std::string& key) {
  if (path.empty()) return key;
  std::string joined = path;
  joined += '.';
  joined += key;
  return joined;
}

Status Validate(const Json& schema, const Json& value, const std::string& path);

Status ValidateObject(const Json& schema, const Json& value, const std::string& path) {
  const Json properties = schema.value("properties", Json::object());
  for (const auto& required : schema.value("required", Json::array())) {
    const std::string key = required.get<std::string>();
    if (!value.contains(key)) {
      return Status::InvalidArgument(fmt::format("{}: is required", Join(path, key)));
    }
  }
  const bool closed = schema.contains("additionalProperties") &&
                      schema["additionalProperties"].is_boolean() &&
                      !schema["additionalProperties"].get<bool>();
  for (const auto& [key, item] : value.items()) {
    const std::string item_path = Join(path, key);
    if (!properties.contains(key)) {
      if (closed)
        return Status::InvalidArgument(fmt::format("{}: is not a known argument", item_path));
      continue;
    }
    if (Status s = Validate(properties[key], item, item_path); !s.ok()) return s;
  }
  return Status::Ok();
}

Status ValidateScalar(const Json& schema, const Json& value, const std::string& path) {
  if (schema.contains("enum") &&
      std::find(schema["enum"].begin(), schema["enum"].end(), value) == schema["enum"].end()) {
    return Status::InvalidArgument(
        fmt::format("{}: must be one of {}", Where(path), schema["enum"].dump()));
  }
  if (value.is_number()) {
    const double x = value.get<double>();
    if (schema.contains("minimum") && x < schema["minimum"].get<double>()) {
      return Status::InvalidArgument(
          fmt::format("{}: must be at least {}", Where(path), schema["minimum"].dump()));
    }
    if (schema.contains("maximum") && x > schema["maximum"].get<double>()) {
      return Status::InvalidArgument(
          fmt::format("{}: must be at most {}", Where(path), schema["maximum"].dump()));
    }
  }
  if (value.is_string() && schema.contains("minLength") &&
      value.get_ref<const std::string&>().size() < schema["minLength"].get<std::size_t>()) {
    return Status::InvalidArgument(fmt::format("{}: is too short", Where(path)));
  }
  return Status::Ok();
}

Status Validate(const Json& schema, const Json& value, const std::string& path) {
  if (!schema.is_object()) return Status::Ok();
  if (schema.contains("type") && schema["type"].is_string()) {
    const std::string type = schema["type"].get<std::string>();
    if (!HasType(value, type)) {
      const bool vowel = type == "integer" || type == "array" || type == "object";
      return Status::InvalidArgument(
          fmt::format("{}: must be {} {}", Where(path), vowel ? "an" : "a", type));
    }
  }
  if (value.is_object()) return ValidateObject(schema, value, path);
  if (value.is_array() && schema.contains("items")) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (Status s = Validate(schema["items"], value[i], fmt::format("{}[{}]", Where(path), i));
          !s.ok()) {
        return s;
      }
    }
    return Status::Ok();
  }
  return ValidateScalar(schema, value, path);
}

}  // namespace

void ToolRegistry::Add(ToolSpec spec, ToolFn fn) {
  tools_.push_back(Entry{std::move(spec), std::move(fn)});
}

std::vector<ToolSpec> ToolRegistry::List(bool allow_actions) const {
  std::vector<ToolSpec> out;
  for (const auto& entry : tools_) {
    if (!entry.spec.action || allow_actions) out.push_back(entry.spec);
  }
  return out;
}

const ToolSpec* ToolRegistry::Find(const std::string& name) const {
  for (const auto& entry : tools_) {
    if (entry.spec.name == name) return &entry.spec;
  }
  return nullptr;
}

Result<Json> ToolRegistry::Call(const std::string& name, const Json& arguments,
                                bool allow_actions) const {
  for (const auto& entry : tools_) {
    if (entry.spec.name != name) continue;
    if (entry.spec.action && !allow_actions) {
      return Status::NotFound(fmt::format("the tool {} is not enabled", name));
    }
    const Json args = arguments.is_null() ? Json::object() : arguments;
    if (Status s = ValidateArguments(entry.spec.input_schema, args); !s.ok()) return s;
    return entry.fn(args);
  }
  return Status::NotFound(fmt::format("no tool named {}", name));
}

Status ValidateArguments(const Json& schema, const Json& value) {
  return Validate(schema, value, "");
}

std::string CutToLimit(const std::string& text, std::size_t limit) {
  if (text.size() <= limit) return text;
  const std::string note =
      fmt::format("\n[cut: {} of {} bytes shown; ask for less, e.g. a narrower range]",
                  std::min(limit, text.size()), text.size());
  std::size_t keep = limit > note.size() ? limit - note.size() : 0;
  // Step back over UTF-8 continuation bytes so the cut never splits a character.
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0U) == 0x80U) --keep;
  return text.substr(0, keep) + note;
}

}  // namespace atlas::agent
