#include "codec/json_writer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "codec/compress.hpp"
#include "testing/fake_transport.hpp"

namespace atlas::core::json {
namespace {

using nlohmann::json;

StepRecord ValidStep() {
  StepRecord r;
  r.step = 12;
  r.epoch = 1;
  r.ts = 1700000000.25;
  r.Set(StepField::kLoss, 0.5).Set(StepField::kSamples, 64);
  return r;
}

TEST(JsonWriter, StepRecordHasOnlyTheFieldsSet) {
  std::string out;
  ASSERT_TRUE(AppendStepRecord(out, ValidStep(), 7).ok());
  const json parsed = json::parse(out);
  EXPECT_EQ(parsed, json::parse(R"({"kind":"step","seq":7,"step":12,"epoch":1,
                                    "ts":1700000000.25,"loss":0.5,"samples":64})"));
}

TEST(JsonWriter, NonFiniteValuesAreStrings) {
  StepRecord r = ValidStep();
  r.Set(StepField::kLoss, std::numeric_limits<double>::quiet_NaN());
  r.Set(StepField::kLearningRate, std::numeric_limits<double>::infinity());
  r.metrics.push_back({"grad_norm", -std::numeric_limits<double>::infinity()});
  std::string out;
  ASSERT_TRUE(AppendStepRecord(out, r, 1).ok());
  const json parsed = json::parse(out);
  EXPECT_EQ(parsed["loss"], "NaN");
  EXPECT_EQ(parsed["lr"], "Infinity");
  EXPECT_EQ(parsed["metrics"]["grad_norm"], "-Infinity");
}

TEST(JsonWriter, DoublesRoundTrip) {
  StepRecord r = ValidStep();
  const double tricky = 0.1 + 0.2;
  r.Set(StepField::kLoss, tricky);
  r.Set(StepField::kRssBytes, 12345678901234.0);
  std::string out;
  ASSERT_TRUE(AppendStepRecord(out, r, 1).ok());
  const json parsed = json::parse(out);
  EXPECT_EQ(parsed["loss"].get<double>(), tricky);
  EXPECT_EQ(parsed["rss_bytes"].get<double>(), 12345678901234.0);
}

TEST(JsonWriter, MetricNamesAreEscaped) {
  StepRecord r = ValidStep();
  r.metrics.push_back({"quote\"back\\slash\nnew\x01line é", 1.5});
  std::string out;
  ASSERT_TRUE(AppendStepRecord(out, r, 1).ok());
  const json parsed = json::parse(out);
  EXPECT_EQ(parsed["metrics"]["quote\"back\\slash\nnew\x01line é"], 1.5);
}

TEST(JsonWriter, InvalidStepRecordsAppendNothing) {
  const auto rejects = [](const StepRecord& r) {
    std::string out = "prefix";
    const bool rejected = !AppendStepRecord(out, r, 1).ok();
    return rejected && out == "prefix";
  };
  StepRecord negative_samples = ValidStep();
  negative_samples.Set(StepField::kSamples, -1);
  EXPECT_TRUE(rejects(negative_samples));
  StepRecord negative_step = ValidStep();
  negative_step.step = -1;
  EXPECT_TRUE(rejects(negative_step));
  StepRecord millis = ValidStep();
  millis.ts = 1.7e12;
  EXPECT_TRUE(rejects(millis));
  StepRecord shadowing = ValidStep();
  shadowing.metrics.push_back({"loss", 1});
  EXPECT_TRUE(rejects(shadowing));
  StepRecord repeated = ValidStep();
  repeated.metrics.push_back({"a", 1});
  repeated.metrics.push_back({"a", 2});
  EXPECT_TRUE(rejects(repeated));
  StepRecord bad_utf8 = ValidStep();
  bad_utf8.metrics.push_back({"\xc3(", 1});
  EXPECT_TRUE(rejects(bad_utf8));
  StepRecord empty_name = ValidStep();
  empty_name.metrics.push_back({"", 1});
  EXPECT_TRUE(rejects(empty_name));

  StepRecord negative_loss = ValidStep();  // loss may be negative, and NaN anywhere is fine
  negative_loss.Set(StepField::kLoss, -3);
  negative_loss.Set(StepField::kSamples, std::nan(""));
  EXPECT_FALSE(rejects(negative_loss));
}

TEST(JsonWriter, JsonRecordIsSpliced) {
  std::string out;
  ASSERT_TRUE(AppendJsonRecord(out, "event", R"(  {"ts": 1700000000, "level":"info",
      "type":"log", "message":"hi", "data":{"x":"NaN"}}  )",
                               9)
                  .ok());
  const json parsed = json::parse(out);
  EXPECT_EQ(parsed["kind"], "event");
  EXPECT_EQ(parsed["seq"], 9);
  EXPECT_EQ(parsed["message"], "hi");
  EXPECT_EQ(parsed["data"]["x"], "NaN");

  out.clear();
  ASSERT_TRUE(AppendJsonRecord(out, "hyperparameters", "{}", 3).ok());
  EXPECT_EQ(json::parse(out), json::parse(R"({"kind":"hyperparameters","seq":3})"));
}

TEST(JsonWriter, BadJsonRecordsAreRefused) {
  std::string out;
  EXPECT_FALSE(AppendJsonRecord(out, "event", "[1,2]", 1).ok());
  EXPECT_FALSE(AppendJsonRecord(out, "event", R"({"a":)", 1).ok());
  EXPECT_FALSE(AppendJsonRecord(out, "event", R"({"seq":4})", 1).ok());
  EXPECT_FALSE(AppendJsonRecord(out, "event", R"({"kind":"step"})", 1).ok());
  EXPECT_TRUE(out.empty());
}

TEST(JsonWriter, FinishRecordCarriesClientStatsAndASafeReason) {
  std::string out;
  AppendFinishRecord(out, FinishStatus::kFailed, "Traceback:\n\xff boom", 1700000001,
                     R"({"sent":3})", 42);
  const json parsed = json::parse(out);
  EXPECT_EQ(parsed["kind"], "finish");
  EXPECT_EQ(parsed["seq"], 42);
  EXPECT_EQ(parsed["status"], "failed");
  EXPECT_EQ(parsed["reason"], "Traceback:\n? boom");
  EXPECT_EQ(parsed["client_stats"]["sent"], 3);
}

TEST(JsonWriter, RecordIndexOfServerFields) {
  EXPECT_EQ(RecordIndexOf("records[3].loss"), 3u);
  EXPECT_EQ(RecordIndexOf("records[0]"), 0u);
  EXPECT_EQ(RecordIndexOf("records[12].layers[2].layer"), 12u);
  EXPECT_FALSE(RecordIndexOf("records"));
  EXPECT_FALSE(RecordIndexOf("records[]"));
  EXPECT_FALSE(RecordIndexOf("records[3"));
  EXPECT_FALSE(RecordIndexOf("project"));
  EXPECT_FALSE(RecordIndexOf(""));
}

TEST(JsonWriter, WithoutRecordKeepsTheOthersIntact) {
  const std::string body =
      R"({"records":[{"seq":1,"loss":"NaN","ts":1700000000.25},{"seq":2},{"seq":3,"x":0.1}]})";
  const auto rest = WithoutRecord(body, 1);
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(json::parse(*rest),
            json::parse(R"({"records":[{"seq":1,"loss":"NaN","ts":1700000000.25},
                                       {"seq":3,"x":0.1}]})"));
  EXPECT_FALSE(WithoutRecord(body, 3).has_value());
  EXPECT_FALSE(WithoutRecord("not json", 0).has_value());
}

TEST(Compress, GzipAndZstdRoundTrip) {
  const std::string data = std::string(R"({"records":[)") + std::string(5000, 'x') + "]}";
  for (const Compression c : {Compression::kGzip, Compression::kZstd, Compression::kNone}) {
    auto compressed = Compress(c, data);
    ASSERT_TRUE(compressed.ok());
    auto back = atlas::testing::Decompress(std::string(ContentEncoding(c)), *compressed);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, data);
    if (c != Compression::kNone) {
      EXPECT_LT(compressed->size(), data.size());
    }
  }
}

}  // namespace
}  // namespace atlas::core::json
