// Every example body in docs/protocol.md marked `<!-- parse: KIND -->` must parse, so the
// document cannot drift from the parser. KIND is run_create, records, finish, or record (one
// record object, parsed inside a batch).
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "protocol/parse.hpp"
#include "test_util.hpp"

namespace atlas::protocol {
namespace {

struct Example {
  std::string kind;
  std::string body;
  int line = 0;  // where the marker is, for messages
};

std::string Trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

// The marked examples of the document at `path`: each marker applies to the next ```json block.
std::vector<Example> ReadExamples(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  const std::string kMarker = "<!-- parse: ";
  std::vector<Example> examples;
  std::string line;
  int number = 0;
  enum class State { kText, kAwaitingFence, kInBlock } state = State::kText;
  while (std::getline(in, line)) {
    ++number;
    const std::string trimmed = Trim(line);
    switch (state) {
      case State::kText:
        if (trimmed.rfind(kMarker, 0) == 0) {
          const auto end = trimmed.find(" -->");
          examples.push_back({trimmed.substr(kMarker.size(), end - kMarker.size()), "", number});
          state = State::kAwaitingFence;
        }
        break;
      case State::kAwaitingFence:
        if (trimmed == "```json") state = State::kInBlock;
        break;
      case State::kInBlock:
        if (trimmed == "```") {
          state = State::kText;
        } else {
          examples.back().body += line + "\n";
        }
        break;
    }
  }
  EXPECT_EQ(state, State::kText) << "an example block is not closed";
  return examples;
}

// The kinds of the records in `batch`, by which vectors are non-empty.
std::set<std::string> KindsIn(const model::RecordBatch& batch) {
  std::set<std::string> kinds;
  if (!batch.steps.empty()) kinds.insert("step");
  if (!batch.epochs.empty()) kinds.insert("epoch");
  if (!batch.layer_stats.empty()) kinds.insert("layer_stats");
  if (!batch.profiles.empty()) kinds.insert("profile");
  if (!batch.events.empty()) kinds.insert("event");
  if (!batch.hyperparameters.empty()) kinds.insert("hyperparameters");
  if (!batch.architectures.empty()) kinds.insert("architecture");
  if (!batch.finishes.empty()) kinds.insert("finish");
  return kinds;
}

// Parses one example; returns the error text, or "" when it parsed.
std::string ParseExample(const Example& example, std::set<std::string>& record_kinds) {
  auto describe = [](const ParseError& error) { return ::testing::PrintToString(error); };
  if (example.kind == "run_create") {
    auto parsed = ParseRunCreate(example.body);
    if (auto* error = std::get_if<ParseError>(&parsed)) return describe(*error);
    return "";
  }
  if (example.kind == "finish") {
    auto parsed = ParseFinish(example.body);
    if (auto* error = std::get_if<ParseError>(&parsed)) return describe(*error);
    return "";
  }
  if (example.kind == "records" || example.kind == "record") {
    const std::string body = example.kind == "record" ? Batch(example.body) : example.body;
    auto parsed = ParseRecordBatch(body);
    if (auto* error = std::get_if<ParseError>(&parsed)) return describe(*error);
    const auto& batch = std::get<model::RecordBatch>(parsed);
    if (example.kind == "record") {
      if (batch.size() != 1) return "a `record` example must hold exactly one record";
      const auto kinds = KindsIn(batch);
      record_kinds.insert(kinds.begin(), kinds.end());
    }
    return "";
  }
  return "unknown example kind '" + example.kind + "'";
}

TEST(ProtocolDoc, EveryMarkedExampleParses) {
  const std::vector<Example> examples = ReadExamples(ATLAS_PROTOCOL_DOC);
  std::set<std::string> record_kinds;
  std::set<std::string> example_kinds;
  for (const Example& example : examples) {
    example_kinds.insert(example.kind);
    EXPECT_EQ(ParseExample(example, record_kinds), "")
        << "docs/protocol.md:" << example.line << " (" << example.kind << ")";
  }
  // The document shows every body shape and one example of every record kind.
  EXPECT_EQ(example_kinds, (std::set<std::string>{"finish", "record", "records", "run_create"}));
  EXPECT_EQ(record_kinds,
            (std::set<std::string>{"architecture", "epoch", "event", "finish", "hyperparameters",
                                   "layer_stats", "profile", "step"}));
}

}  // namespace
}  // namespace atlas::protocol
