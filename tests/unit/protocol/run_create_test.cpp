// POST /api/v1/runs bodies and client-chosen run ids.
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "protocol/parse.hpp"
#include "test_util.hpp"

namespace atlas::protocol {
namespace {

TEST(ParseRunCreate, ReadsEveryField) {
  const auto run = Expect(ParseRunCreate(R"({
    "project": "mnist",
    "name": "baseline lr=0.1",
    "run_id": "run-2024.01_a",
    "started_at": 1700000000.25,
    "host": {"hostname": "gpu-box", "cpus": 32},
    "device": {"name": "NVIDIA H100", "memory_bytes": 85899345920},
    "framework": {"torch": "2.3.0", "cuda": true},
    "config": {"batch_size": 64, "layers": [1, 2.5, "x", null], "nested": {"a": {"b": false}}}
  })"));
  EXPECT_EQ(run.project.name, "mnist");
  EXPECT_FALSE(run.project.id.has_value());
  EXPECT_EQ(run.name, "baseline lr=0.1");
  EXPECT_EQ(run.run_id, "run-2024.01_a");
  EXPECT_DOUBLE_EQ(run.started_at, 1700000000.25);
  EXPECT_EQ(run.host, model::Json::parse(R"({"hostname": "gpu-box", "cpus": 32})"));
  EXPECT_EQ(run.device["memory_bytes"].get<std::int64_t>(), 85899345920);
  EXPECT_EQ(run.framework, model::Json::parse(R"({"torch": "2.3.0", "cuda": true})"));
  EXPECT_EQ(run.config, model::Json::parse(
                            R"({"batch_size": 64, "layers": [1, 2.5, "x", null],
                                "nested": {"a": {"b": false}}})"));
  EXPECT_TRUE(run.config["batch_size"].is_number_integer());
}

TEST(ParseRunCreate, ProjectById) {
  const auto run = Expect(ParseRunCreate(R"({"project_id": 7, "name": "r"})"));
  EXPECT_EQ(run.project.id, 7);
  EXPECT_FALSE(run.project.name.has_value());
  EXPECT_FALSE(run.run_id.has_value());
  EXPECT_EQ(run.started_at, 0);
  EXPECT_EQ(run.config, model::Json::object());
}

TEST(ParseRunCreate, NullMeansAbsent) {
  const auto run = Expect(ParseRunCreate(
      R"({"project": "p", "project_id": null, "name": "r", "run_id": null, "started_at": null,
          "host": null, "config": null})"));
  EXPECT_EQ(run.project.name, "p");
  EXPECT_FALSE(run.project.id.has_value());
  EXPECT_FALSE(run.run_id.has_value());
  EXPECT_EQ(run.host, model::Json::object());
  EXPECT_EQ(run.config, model::Json::object());
}

TEST(ParseRunCreate, NameLimitsCountCharactersNotBytes) {
  std::string project;
  for (int i = 0; i < 128; ++i) project += "\xC3\xA9";  // 128 x U+00E9, 256 bytes
  const auto run = Expect(ParseRunCreate(R"({"project": ")" + project + R"(", "name": "r"})"));
  EXPECT_EQ(run.project.name, project);

  const auto error =
      ExpectError(ParseRunCreate(R"({"project": ")" + project + R"(x", "name": "r"})"));
  EXPECT_EQ(error.field, "project");
  EXPECT_EQ(error.reason, "must be 1-128 characters, got 129");
}

struct RunCreateCase {
  const char* name;
  const char* body;
  ErrorKind kind;
  const char* field;
  const char* reason;  // a substring of the expected reason
};

// GoogleTest prints a parameter's bytes unless told how to print it; the name says enough.
void PrintTo(const RunCreateCase& c, std::ostream* os) { *os << c.name; }

class RunCreateErrors : public ::testing::TestWithParam<RunCreateCase> {};

TEST_P(RunCreateErrors, ReportsFieldAndReason) {
  const RunCreateCase& c = GetParam();
  const ParseError error = ExpectError(ParseRunCreate(c.body));
  EXPECT_EQ(error.kind, c.kind) << ::testing::PrintToString(error);
  EXPECT_EQ(error.field, c.field) << ::testing::PrintToString(error);
  EXPECT_NE(error.reason.find(c.reason), std::string::npos) << ::testing::PrintToString(error);
}

const RunCreateCase kRunCreateCases[] = {
    {"NotJson", "project=mnist", ErrorKind::kMalformed, "", "not valid JSON"},
    {"Empty", "", ErrorKind::kMalformed, "", "not valid JSON"},
    {"Array", "[]", ErrorKind::kInvalid, "", "expected an object, got array"},
    {"NoProject", R"({"name": "r"})", ErrorKind::kInvalid, "project", "required"},
    {"BothProjects", R"({"project": "p", "project_id": 1, "name": "r"})", ErrorKind::kInvalid,
     "project_id", "not both"},
    {"EmptyProject", R"({"project": "", "name": "r"})", ErrorKind::kInvalid, "project",
     "must be 1-128 characters, got 0"},
    {"ProjectNumber", R"({"project": 5, "name": "r"})", ErrorKind::kInvalid, "project",
     "expected a string, got number"},
    {"ProjectIdZero", R"({"project_id": 0, "name": "r"})", ErrorKind::kInvalid, "project_id",
     "must be >= 1, got 0"},
    {"ProjectIdFraction", R"({"project_id": 1.5, "name": "r"})", ErrorKind::kInvalid, "project_id",
     "expected an integer, got 1.5"},
    {"ProjectIdString", R"({"project_id": "1", "name": "r"})", ErrorKind::kInvalid, "project_id",
     "expected an integer, got string"},
    {"NoName", R"({"project": "p"})", ErrorKind::kInvalid, "name", "required"},
    {"NullName", R"({"project": "p", "name": null})", ErrorKind::kInvalid, "name", "required"},
    {"EmptyName", R"({"project": "p", "name": ""})", ErrorKind::kInvalid, "name",
     "must be 1-256 characters"},
    {"RunIdSpace", R"({"project": "p", "name": "r", "run_id": "a b"})", ErrorKind::kInvalid,
     "run_id", "must be 1-64 characters of A-Z"},
    {"RunIdSlash", R"({"project": "p", "name": "r", "run_id": "../x"})", ErrorKind::kInvalid,
     "run_id", "must be 1-64 characters"},
    {"RunIdEmpty", R"({"project": "p", "name": "r", "run_id": ""})", ErrorKind::kInvalid, "run_id",
     "must be 1-64 characters"},
    {"StartedAtNegative", R"({"project": "p", "name": "r", "started_at": -1})", ErrorKind::kInvalid,
     "started_at", "must be > 0"},
    {"StartedAtMillis", R"({"project": "p", "name": "r", "started_at": 1700000000000})",
     ErrorKind::kInvalid, "started_at", "looks like milliseconds"},
    {"StartedAtString", R"({"project": "p", "name": "r", "started_at": "2024-01-01"})",
     ErrorKind::kInvalid, "started_at", "expected a number (Unix seconds), got string"},
    {"HostArray", R"({"project": "p", "name": "r", "host": []})", ErrorKind::kInvalid, "host",
     "expected an object, got array"},
    {"ConfigString", R"({"project": "p", "name": "r", "config": "lr=1"})", ErrorKind::kInvalid,
     "config", "expected an object, got string"},
    {"UnknownField", R"({"project": "p", "name": "r", "tags": []})", ErrorKind::kInvalid, "tags",
     "unknown field; allowed: project, project_id, name"},
    {"RepeatedField", R"({"project": "p", "name": "r", "name": "s"})", ErrorKind::kInvalid, "name",
     "appears more than once"},
};

INSTANTIATE_TEST_SUITE_P(Table, RunCreateErrors, ::testing::ValuesIn(kRunCreateCases),
                         [](const auto& test) { return std::string(test.param.name); });

TEST(IsValidRunId, AcceptsTheDocumentedAlphabet) {
  EXPECT_TRUE(IsValidRunId("a"));
  EXPECT_TRUE(IsValidRunId("Run_01.retry-2"));
  EXPECT_TRUE(IsValidRunId(std::string(64, 'x')));
}

TEST(IsValidRunId, RejectsEverythingElse) {
  EXPECT_FALSE(IsValidRunId(""));
  EXPECT_FALSE(IsValidRunId(std::string(65, 'x')));
  for (const char* id : {"a b", "a/b", "a\\b", "a?b", "a%20", "\xC3\xA9", "a\n", "a:b"}) {
    EXPECT_FALSE(IsValidRunId(id)) << id;
  }
}

}  // namespace
}  // namespace atlas::protocol
