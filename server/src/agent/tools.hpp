// ToolRegistry: the agent's typed tools, each with a JSON schema for its arguments.
//
// The same registry serves the chat loop (chat.hpp), the offline analyst (analyst.hpp) and the
// MCP server (mcp/server.hpp), so a language model, a deterministic answer and an MCP client
// all read a run through exactly the same functions. Tools are read-only except those marked
// `action`, which are hidden and refused unless the caller allows actions.
//
// Threading: fill the registry before sharing it; afterwards every member is const and
// thread-safe as far as the tool functions are (they read through the thread-safe Store).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "atlas/status.hpp"

namespace atlas::agent {

using Json = nlohmann::json;

struct ToolSpec {
  std::string name;         // e.g. "get_findings"
  std::string description;  // one paragraph a model reads to decide when to call it
  Json input_schema;        // a JSON Schema object (the subset ValidateArguments checks)
  bool action = false;      // true: changes state; only offered when actions are allowed
};

using ToolFn = std::function<Result<Json>(const Json& arguments)>;

class ToolRegistry {
 public:
  void Add(ToolSpec spec, ToolFn fn);

  // The tools a caller may use: all read-only ones, and the action ones when allowed.
  std::vector<ToolSpec> List(bool allow_actions) const;
  const ToolSpec* Find(const std::string& name) const;

  // Validates `arguments` against the tool's schema, then runs it. kNotFound for an unknown
  // tool (or an action tool when actions are not allowed), kInvalidArgument naming the field
  // for bad arguments; otherwise what the tool returns.
  Result<Json> Call(const std::string& name, const Json& arguments, bool allow_actions) const;

 private:
  struct Entry {
    ToolSpec spec;
    ToolFn fn;
  };
  std::vector<Entry> tools_;
};

// Checks `value` against `schema`: type (object, string, integer, number, boolean, array),
// required, properties, additionalProperties: false, enum, minimum, maximum, minLength and
// items. The message names the offending path, e.g. "limit: must be at least 1".
Status ValidateArguments(const Json& schema, const Json& value);

// `text` cut to at most `limit` bytes at a UTF-8 boundary, with a note saying how much was
// left out, so a model knows the result is partial.
std::string CutToLimit(const std::string& text, std::size_t limit);

}  // namespace atlas::agent
