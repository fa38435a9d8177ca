// The tool registry: argument validation against the schemas, action tools hidden unless
// allowed, and results cut at a UTF-8 boundary.
#include <string>

#include <gtest/gtest.h>

#include "agent/tools.hpp"

namespace atlas::agent {
namespace {

// A function rather than a static: building a Json may throw, which a static's initialiser
// could not report.
Json Schema() {
  return {{"type", "object"},
          {"properties",
           {{"run_id", {{"type", "string"}, {"minLength", 1}}},
            {"limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 200}}},
            {"severity", {{"type", "string"}, {"enum", {"critical", "warning"}}}},
            {"params", {{"type", "object"}}}}},
          {"required", {"run_id"}},
          {"additionalProperties", false}};
}

std::string Error(const Json& args) { return ValidateArguments(Schema(), args).message(); }

TEST(ValidateArguments, NamesTheOffendingField) {
  EXPECT_TRUE(ValidateArguments(Schema(), {{"run_id", "r"}, {"limit", 5}}).ok());
  EXPECT_TRUE(ValidateArguments(Schema(), {{"run_id", "r"}, {"limit", 5.0}}).ok());
  EXPECT_EQ(Error(Json::object()), "run_id: is required");
  EXPECT_EQ(Error({{"run_id", 3}}), "run_id: must be a string");
  EXPECT_EQ(Error({{"run_id", ""}}), "run_id: is too short");
  EXPECT_EQ(Error({{"run_id", "r"}, {"limit", 0}}), "limit: must be at least 1");
  EXPECT_EQ(Error({{"run_id", "r"}, {"limit", 201}}), "limit: must be at most 200");
  EXPECT_EQ(Error({{"run_id", "r"}, {"limit", 2.5}}), "limit: must be an integer");
  EXPECT_EQ(Error({{"run_id", "r"}, {"severity", "fatal"}}),
            R"(severity: must be one of ["critical","warning"])");
  EXPECT_EQ(Error({{"run_id", "r"}, {"sql", "DROP TABLE runs"}}), "sql: is not a known argument");
  EXPECT_EQ(Error({{"run_id", "r"}, {"params", 1}}), "params: must be an object");
  EXPECT_EQ(ValidateArguments(Schema(), Json::array()).message(), "arguments: must be an object");
}

TEST(ToolRegistry, HidesAndRefusesActionToolsUnlessAllowed) {
  ToolRegistry registry;
  int calls = 0;
  registry.Add({"read", "r", Schema(), false}, [&](const Json& a) -> Result<Json> {
    ++calls;
    return Json{{"echo", a["run_id"]}};
  });
  registry.Add({"act", "a", Schema(), true}, [&](const Json&) -> Result<Json> {
    ++calls;
    return Json::object();
  });
  EXPECT_EQ(registry.List(false).size(), 1u);
  EXPECT_EQ(registry.List(true).size(), 2u);
  EXPECT_EQ(registry.Call("act", {{"run_id", "r"}}, false).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry.Call("nope", {{"run_id", "r"}}, true).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry.Call("read", {{"limit", 3}}, false).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 0);
  Result<Json> out = registry.Call("read", {{"run_id", "r"}}, false);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)["echo"], "r");
  EXPECT_TRUE(registry.Call("act", {{"run_id", "r"}}, true).ok());
  EXPECT_EQ(calls, 2);
}

TEST(CutToLimit, KeepsShortTextAndCutsLongTextAtACharacterBoundary) {
  EXPECT_EQ(CutToLimit("short", 100), "short");
  std::string text;
  for (int i = 0; i < 200; ++i) text += "\xC3\xA9";  // "é", two bytes each
  const std::string cut = CutToLimit(text, 150);
  EXPECT_LE(cut.size(), 150u);
  EXPECT_NE(cut.find("[cut: "), std::string::npos);
  const std::string kept = cut.substr(0, cut.find("\n[cut"));
  EXPECT_EQ(kept.size() % 2, 0u);  // no half character
  EXPECT_EQ(kept, text.substr(0, kept.size()));
}

}  // namespace
}  // namespace atlas::agent
