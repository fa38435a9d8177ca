// Bad record batches and finish bodies: each case names the body, the error kind, the JSON path
// of the offending field and a substring of the reason the client should see.
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "protocol/parse.hpp"
#include "test_util.hpp"

namespace atlas::protocol {
namespace {

constexpr ErrorKind kMalformed = ErrorKind::kMalformed;
constexpr ErrorKind kInvalid = ErrorKind::kInvalid;
constexpr ErrorKind kTooLarge = ErrorKind::kTooLarge;

struct ErrorCase {
  std::string name;
  std::string body;
  ErrorKind kind;
  std::string field;
  std::string reason;  // a substring of the expected reason
  Limits limits{};
};

// GoogleTest prints a parameter's bytes unless told how to print it; the name says enough.
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

// A valid step record with `extra` fields appended, e.g. Step(R"("loss": "low")").
std::string Step(const std::string& extra = "") {
  std::string record = R"({"kind": "step", "seq": 1, "step": 1, "ts": 1700000000)";
  if (!extra.empty()) record += ", " + extra;
  return record + "}";
}

// An epoch record whose energy list is `energy`.
std::string EpochWithEnergy(const std::string& energy) {
  return R"({"kind": "epoch", "seq": 1, "epoch": 0, "ts": 1, "energy": [)" + energy + "]}";
}

// A layer_stats record whose layers are `layers`.
std::string LayerStats(const std::string& layers) {
  return R"({"kind": "layer_stats", "seq": 1, "step": 1, "ts": 1, "layers": [)" + layers + "]}";
}

// An architecture record whose modules are `modules`.
std::string Architecture(const std::string& modules) {
  return R"({"kind": "architecture", "seq": 1, "modules": [)" + modules + "]}";
}

constexpr const char* kRoot =
    R"({"name": "", "type": "Net", "parent": null, "params": 0, "trainable_params": 0})";

// A module named `name` under `parent` ("null" for none), as JSON.
std::string Module(const std::string& name, const std::string& parent) {
  return R"({"name": ")" + name + R"(", "type": "Linear", "parent": )" + parent +
         R"(, "params": 10, "trainable_params": 10})";
}

std::string Event(const std::string& fields) {
  return R"({"kind": "event", "seq": 1, "ts": 1, )" + fields + "}";
}

Limits SmallLimits() {
  Limits limits;
  limits.max_records_per_batch = 2;
  limits.max_string_bytes = 12;  // room for the longest kind, "architecture"
  limits.max_text_bytes = 16;
  limits.max_layers_per_sample = 2;
  limits.max_modules = 2;
  return limits;
}

std::vector<ErrorCase> BatchCases() {
  return {
      // Not JSON at all.
      {"NotJson", "{not json", kMalformed, "", "not valid JSON"},
      {"EmptyBody", "", kMalformed, "", "not valid JSON: Empty"},
      {"WhitespaceBody", " \n\t ", kMalformed, "", "not valid JSON"},
      {"Truncated", R"({"records": [{"kind": "step", "seq": 1)", kMalformed, "", "not valid JSON"},
      {"InvalidUtf8", "{\"records\": [], \"x\": \"\xff\xfe\"}", kMalformed, "", "UTF-8"},
      {"TwoDocuments", R"({"records": []} {"records": []})", kMalformed, "", "not valid JSON"},
      {"NumberTooBig", Batch(Step(R"("loss": 1e400)")), kMalformed, "", "number"},
      {"BareNaN", Batch(Step(R"("loss": NaN)")), kMalformed, "", "not valid JSON"},

      // The envelope.
      {"TopLevelArray", "[]", kInvalid, "", "expected an object, got array"},
      {"NoRecords", "{}", kInvalid, "records", "required"},
      {"RecordsNotArray", R"({"records": {}})", kInvalid, "records",
       "expected an array, got object"},
      {"UnknownTopLevel", R"({"records": [], "run": "x"})", kInvalid, "run", "unknown field"},
      {"TooManyRecords", Batch(Step() + "," + Step() + "," + Step()), kTooLarge, "records",
       "3 records; at most 2 per batch", SmallLimits()},
      {"RecordNotObject", Batch("[1]"), kInvalid, "records[0]", "expected an object, got array"},
      {"NoKind", Batch(R"({"seq": 1, "step": 1})"), kInvalid, "records[0].kind", "required"},
      {"NullKind", Batch(R"({"kind": null})"), kInvalid, "records[0].kind", "required"},
      {"KindNumber", Batch(R"({"kind": 1})"), kInvalid, "records[0].kind",
       "expected a string, got number"},
      {"UnknownKind", Batch(R"({"kind": "bogus", "seq": 1})"), kInvalid, "records[0].kind",
       "must be one of: step, epoch, layer_stats, profile, event, hyperparameters, "
       "architecture, finish"},
      {"KindTwice", Batch(R"({"kind": "step", "kind": "epoch", "seq": 1, "step": 1, "ts": 1})"),
       kInvalid, "records[0].kind", "appears more than once"},

      // step: the path names the record's index.
      {"WrongTypeAtIndex3",
       Batch(Step() + "," + Step() + "," + Step() + "," + Step(R"("loss": "low")")), kInvalid,
       "records[3].loss", "expected a number, got string"},
      {"LossBoolean", Batch(Step(R"("loss": true)")), kInvalid, "records[0].loss",
       "expected a number, got boolean"},
      {"LossLowercaseNan", Batch(Step(R"("loss": "nan")")), kInvalid, "records[0].loss",
       "\"NaN\", \"Infinity\" or \"-Infinity\""},
      {"NoSeq", Batch(R"({"kind": "step", "step": 1, "ts": 1})"), kInvalid, "records[0].seq",
       "required"},
      {"NegativeSeq", Batch(R"({"kind": "step", "seq": -1, "step": 1, "ts": 1})"), kInvalid,
       "records[0].seq", "must be >= 0, got -1"},
      {"FractionalSeq", Batch(R"({"kind": "step", "seq": 1.5, "step": 1, "ts": 1})"), kInvalid,
       "records[0].seq", "expected an integer, got 1.5"},
      {"SeqAsString", Batch(R"({"kind": "step", "seq": "1", "step": 1, "ts": 1})"), kInvalid,
       "records[0].seq", "expected an integer, got string"},
      {"SeqBeyondInt64", Batch(R"({"kind": "step", "seq": 9223372036854775808, "step": 1,
                                   "ts": 1})"),
       kInvalid, "records[0].seq", "must be at most 9223372036854775807"},
      {"SeqHugeFloat", Batch(R"({"kind": "step", "seq": 1e19, "step": 1, "ts": 1})"), kInvalid,
       "records[0].seq", "out of the 64-bit integer range"},
      {"NoStep", Batch(R"({"kind": "step", "seq": 1, "ts": 1})"), kInvalid, "records[0].step",
       "required"},
      {"NegativeStep", Batch(R"({"kind": "step", "seq": 1, "step": -1, "ts": 1})"), kInvalid,
       "records[0].step", "must be >= 0"},
      {"NegativeEpoch", Batch(Step(R"("epoch": -2)")), kInvalid, "records[0].epoch",
       "must be >= 0, got -2"},
      {"NoTs", Batch(R"({"kind": "step", "seq": 1, "step": 1})"), kInvalid, "records[0].ts",
       "required"},
      {"ZeroTs", Batch(R"({"kind": "step", "seq": 1, "step": 1, "ts": 0})"), kInvalid,
       "records[0].ts", "must be > 0"},
      {"TsInMilliseconds", Batch(R"({"kind": "step", "seq": 1, "step": 1, "ts": 1.7e12})"),
       kInvalid, "records[0].ts", "looks like milliseconds"},
      {"TsNaN", Batch(R"({"kind": "step", "seq": 1, "step": 1, "ts": "NaN"})"), kInvalid,
       "records[0].ts", "expected a number (Unix seconds), got string"},
      {"NegativeSamples", Batch(Step(R"("samples": -1)")), kInvalid, "records[0].samples",
       "must be >= 0, got -1"},
      {"NegativeInfiniteStepMs", Batch(Step(R"("step_ms": "-Infinity")")), kInvalid,
       "records[0].step_ms", "must be >= 0, got -Infinity"},
      {"NegativeLr", Batch(Step(R"("lr": -0.1)")), kInvalid, "records[0].lr",
       "must be >= 0, got -0.1"},
      {"UnknownStepField", Batch(Step(R"("accuracy": 0.9)")), kInvalid, "records[0].accuracy",
       "unknown field; custom step values go under \"metrics\""},
      {"RepeatedStepField", Batch(Step(R"("loss": 1, "loss": 2)")), kInvalid, "records[0].loss",
       "appears more than once"},
      {"MetricsNotObject", Batch(Step(R"("metrics": [1])")), kInvalid, "records[0].metrics",
       "expected an object, got array"},
      {"MetricIsStepField", Batch(Step(R"("metrics": {"acc": 1, "loss": 0.5})")), kInvalid,
       "records[0].metrics.loss", "\"loss\" is a step field; use the top-level field"},
      {"MetricEmptyName", Batch(Step(R"("metrics": {"": 1})")), kInvalid,
       R"(records[0].metrics[""])", "must be 1-128 characters, got 0"},
      {"MetricNameTooLong", Batch(Step(R"("metrics": {")" + std::string(129, 'm') + R"(": 1})")),
       kInvalid, "records[0].metrics[\"" + std::string(64, 'm') + "...\"]",
       "must be 1-128 characters, got 129"},
      {"MetricValueString", Batch(Step(R"("metrics": {"val.acc": "high"})")), kInvalid,
       R"(records[0].metrics["val.acc"])", "expected a number, got string"},
      {"MetricRepeated", Batch(Step(R"("metrics": {"a": 1, "b": 2, "a": 3})")), kInvalid,
       "records[0].metrics.a", "appears more than once"},

      // epoch
      {"EpochWithoutEpoch", Batch(R"({"kind": "epoch", "seq": 1, "ts": 1})"), kInvalid,
       "records[0].epoch", "required"},
      {"EpochFractional", Batch(R"({"kind": "epoch", "seq": 1, "epoch": 0.5, "ts": 1})"), kInvalid,
       "records[0].epoch", "expected an integer, got 0.5"},
      {"NegativeDuration",
       Batch(R"({"kind": "epoch", "seq": 1, "epoch": 0, "ts": 1, "duration_s": -3})"), kInvalid,
       "records[0].duration_s", "must be >= 0, got -3"},
      {"DurationNaNString",
       Batch(R"({"kind": "epoch", "seq": 1, "epoch": 0, "ts": 1, "duration_s": "NaN"})"), kInvalid,
       "records[0].duration_s", "expected a number, got string"},
      {"TrainValueWrongType",
       Batch(R"({"kind": "epoch", "seq": 1, "epoch": 0, "ts": 1, "train": {"loss": [1]}})"),
       kInvalid, "records[0].train.loss", "expected a number, got array"},
      {"UnknownEpochField",
       Batch(R"({"kind": "epoch", "seq": 1, "epoch": 0, "ts": 1, "accuracy": 1})"), kInvalid,
       "records[0].accuracy", "unknown field; allowed: kind, seq, epoch, ts, duration_s"},
      {"EnergyNotArray", Batch(R"({"kind": "epoch", "seq": 1, "epoch": 0, "ts": 1, "energy": {}})"),
       kInvalid, "records[0].energy", "expected an array, got object"},
      {"EnergyUnknownComponent",
       Batch(EpochWithEnergy(R"({"component": "disk", "joules": 1, "method": "measured:x"})")),
       kInvalid, "records[0].energy[0].component", "must be one of: gpu, cpu, ram, other"},
      {"EnergyNegativeJoules",
       Batch(EpochWithEnergy(R"({"component": "gpu", "joules": 1, "method": "measured:x"},
                                {"component": "gpu", "joules": -5, "method": "measured:x"})")),
       kInvalid, "records[0].energy[1].joules", "must be >= 0, got -5"},
      {"EnergyNoMethod", Batch(EpochWithEnergy(R"({"component": "gpu", "joules": 1.0})")), kInvalid,
       "records[0].energy[0].method", "required"},
      {"EnergyBareMethod",
       Batch(EpochWithEnergy(R"({"component": "gpu", "joules": 1, "method": "nvml"})")), kInvalid,
       "records[0].energy[0].method", "must be \"measured:<how>\" or \"estimated:<how>\""},
      {"EnergyMethodWithoutHow",
       Batch(EpochWithEnergy(R"({"component": "gpu", "joules": 1, "method": "measured:"})")),
       kInvalid, "records[0].energy[0].method", "must be \"measured:<how>\""},
      {"EnergyUnknownField",
       Batch(EpochWithEnergy(
           R"({"component": "gpu", "joules": 1, "method": "measured:x", "watts": 3})")),
       kInvalid, "records[0].energy[0].watts", "unknown field; allowed: component, device"},
      {"EnergyDeviceTooLong",
       Batch(EpochWithEnergy(
           R"({"component": "gpu", "device": "cuda:0-longer", "joules": 1, "method": "m:x"})")),
       kInvalid, "records[0].energy[0].device", "must be at most 12 bytes, got 13", SmallLimits()},

      // layer_stats
      {"LayersMissing", Batch(R"({"kind": "layer_stats", "seq": 1, "step": 1, "ts": 1})"), kInvalid,
       "records[0].layers", "required"},
      {"LayerStatWrongType",
       Batch(Step() + "," +
             LayerStats(R"({"layer": "a"}, {"layer": "b"}, {"layer": "c", "grad_norm": "big"})")),
       kInvalid, "records[1].layers[2].grad_norm", "expected a number, got string"},
      {"LayerWithoutName", Batch(LayerStats(R"({"grad_norm": 1})")), kInvalid,
       "records[0].layers[0].layer", "required"},
      {"LayerNameNumber", Batch(LayerStats(R"({"layer": 3})")), kInvalid,
       "records[0].layers[0].layer", "expected a string, got number"},
      {"LayerRepeated", Batch(LayerStats(R"({"layer": "fc"}, {"layer": "conv"}, {"layer": "fc"})")),
       kInvalid, "records[0].layers[2].layer", "names the same layer"},
      {"LayerUnknownStat", Batch(LayerStats(R"({"layer": "fc", "grad_max": 1})")), kInvalid,
       "records[0].layers[0].grad_max", "custom values go under \"extra\""},
      {"LayerExtraNotObject", Batch(LayerStats(R"({"layer": "fc", "extra": [1]})")), kInvalid,
       "records[0].layers[0].extra", "expected an object, got array"},
      {"TooManyLayers", Batch(LayerStats(R"({"layer": "a"}, {"layer": "b"}, {"layer": "c"})")),
       kInvalid, "records[0].layers", "has 3 elements; at most 2 are allowed", SmallLimits()},

      // profile
      {"ProfileWithoutData", Batch(R"({"kind": "profile", "seq": 1, "step": 1, "ts": 1})"),
       kInvalid, "records[0].data", "required"},
      {"ProfileDataArray",
       Batch(R"({"kind": "profile", "seq": 1, "step": 1, "ts": 1, "data": []})"), kInvalid,
       "records[0].data", "expected an object, got array"},
      {"ProfileWithEpoch",
       Batch(R"({"kind": "profile", "seq": 1, "step": 1, "ts": 1, "epoch": 1, "data": {}})"),
       kInvalid, "records[0].epoch", "unknown field"},

      // event
      {"EventBadLevel", Batch(Event(R"("level": "fatal", "type": "log", "message": "")")), kInvalid,
       "records[0].level", "must be one of: debug, info, warning, error"},
      {"EventEmptyType", Batch(Event(R"("level": "info", "type": "", "message": "")")), kInvalid,
       "records[0].type", "must be 1-64 characters, got 0"},
      {"EventLongType",
       Batch(Event(R"("level": "info", "type": ")" + std::string(65, 't') + R"(", "message": "")")),
       kInvalid, "records[0].type", "must be 1-64 characters, got 65"},
      {"EventWithoutMessage", Batch(Event(R"("level": "info", "type": "log")")), kInvalid,
       "records[0].message", "required"},
      {"EventMessageTooLong",
       Batch(Event(R"("level": "info", "type": "log", "message": "0123456789abcdefX")")), kInvalid,
       "records[0].message", "must be at most 16 bytes, got 17", SmallLimits()},
      {"EventDataString",
       Batch(Event(R"("level": "info", "type": "log", "message": "", "data": "x")")), kInvalid,
       "records[0].data", "expected an object, got string"},

      // hyperparameters
      {"HyperparametersWithoutValues", Batch(R"({"kind": "hyperparameters", "seq": 1})"), kInvalid,
       "records[0].values", "required"},
      {"HyperparametersValuesArray",
       Batch(R"({"kind": "hyperparameters", "seq": 1, "values": [1]})"), kInvalid,
       "records[0].values", "expected an object, got array"},

      // architecture
      {"ModulesMissing", Batch(R"({"kind": "architecture", "seq": 1})"), kInvalid,
       "records[0].modules", "required"},
      {"ModulesEmpty", Batch(Architecture("")), kInvalid, "records[0].modules",
       "must not be empty"},
      {"RootWithParent", Batch(Architecture(Module("net", R"("x")"))), kInvalid,
       "records[0].modules[0].parent", "the first module is the root; its parent must be null"},
      {"SecondRootlessModule", Batch(Architecture(std::string(kRoot) + "," + Module("fc", "null"))),
       kInvalid, "records[0].modules[1].parent", "only the first module (the root)"},
      {"ParentNotEarlier",
       Batch(Architecture(std::string(kRoot) + "," + Module("fc", R"("block")") + "," +
                          Module("block", R"("")"))),
       kInvalid, "records[0].modules[1].parent", "must name an earlier module"},
      {"ParentUnknown", Batch(Architecture(std::string(kRoot) + "," + Module("fc", R"("nope")"))),
       kInvalid, "records[0].modules[1].parent", "must name an earlier module"},
      {"ModuleNameRepeated",
       Batch(Architecture(std::string(kRoot) + "," + Module("fc", R"("")") + "," +
                          Module("fc", R"("")"))),
       kInvalid, "records[0].modules[2].name", "names the same module"},
      {"TrainableAboveParams",
       Batch(Architecture(R"({"name": "", "type": "Net", "params": 5, "trainable_params": 6})")),
       kInvalid, "records[0].modules[0].trainable_params", "must be <= params (5), got 6"},
      {"NegativeParams",
       Batch(Architecture(R"({"name": "", "type": "Net", "params": -1, "trainable_params": 0})")),
       kInvalid, "records[0].modules[0].params", "must be >= 0"},
      {"ModuleTypeEmpty",
       Batch(Architecture(R"({"name": "", "type": "", "params": 0, "trainable_params": 0})")),
       kInvalid, "records[0].modules[0].type", "got 0"},
      {"ModuleWithoutParams",
       Batch(Architecture(R"({"name": "", "type": "Net", "trainable_params": 0})")), kInvalid,
       "records[0].modules[0].params", "required"},
      {"ModuleShapeNotArray",
       Batch(Architecture(
           R"({"name": "", "type": "Net", "params": 0, "trainable_params": 0, "input_shape": 3})")),
       kInvalid, "records[0].modules[0].input_shape", "expected an array, got number"},
      {"ModuleNegativeFlops",
       Batch(Architecture(
           R"({"name": "", "type": "Net", "params": 0, "trainable_params": 0, "flops": -1})")),
       kInvalid, "records[0].modules[0].flops", "must be >= 0"},
      {"TooManyModules",
       Batch(Architecture(std::string(kRoot) + "," + Module("a", R"("")") + "," +
                          Module("b", R"("")"))),
       kInvalid, "records[0].modules", "has 3 elements; at most 2", SmallLimits()},

      // finish in a batch
      {"FinishRunningStatus",
       Batch(R"({"kind": "finish", "seq": 1, "ts": 1, "status": "running"})"), kInvalid,
       "records[0].status", "must be one of: completed, failed, stopped"},
      {"FinishWithoutStatus", Batch(R"({"kind": "finish", "seq": 1, "ts": 1})"), kInvalid,
       "records[0].status", "required"},

      // The first problem in document order wins.
      {"FirstErrorWins",
       Batch(R"({"kind": "step", "seq": -1, "step": "x", "ts": 1}, {"kind": "nope"})"), kInvalid,
       "records[0].seq", "must be >= 0"},
      {"LongKeyIsShortenedInThePath", Batch(Step("\"" + std::string(100, 'k') + "-\": 1")),
       kInvalid, "records[0][\"" + std::string(64, 'k') + "...\"]", "unknown field"},
  };
}

class BatchErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(BatchErrors, ReportsKindFieldAndReason) {
  const ErrorCase& c = GetParam();
  const ParseError error = ExpectError(ParseRecordBatch(c.body, c.limits));
  EXPECT_EQ(KindName(error.kind), KindName(c.kind)) << ::testing::PrintToString(error);
  EXPECT_EQ(error.field, c.field) << ::testing::PrintToString(error);
  EXPECT_NE(error.reason.find(c.reason), std::string::npos) << ::testing::PrintToString(error);
}

INSTANTIATE_TEST_SUITE_P(Table, BatchErrors, ::testing::ValuesIn(BatchCases()),
                         [](const auto& test) { return test.param.name; });

std::vector<ErrorCase> FinishCases() {
  return {
      {"NotJson", "{", kMalformed, "", "not valid JSON"},
      {"Array", "[]", kInvalid, "", "expected an object, got array"},
      {"WithKind", R"({"kind": "finish", "seq": 1, "ts": 1, "status": "completed"})", kInvalid,
       "kind", "without \"kind\""},
      {"WithoutSeq", R"({"ts": 1, "status": "completed"})", kInvalid, "seq", "required"},
      {"WithoutTs", R"({"seq": 1, "status": "completed"})", kInvalid, "ts", "required"},
      {"BadStatus", R"({"seq": 1, "ts": 1, "status": "done"})", kInvalid, "status",
       "must be one of: completed, failed, stopped; got \"done\""},
      {"ReasonTooLong",
       R"({"seq": 1, "ts": 1, "status": "failed", "reason": ")" + std::string(65537, 'x') + "\"}",
       kInvalid, "reason", "must be at most 65536 bytes, got 65537"},
      {"ReasonNumber", R"({"seq": 1, "ts": 1, "status": "failed", "reason": 1})", kInvalid,
       "reason", "expected a string, got number"},
      {"ClientStatsArray", R"({"seq": 1, "ts": 1, "status": "failed", "client_stats": []})",
       kInvalid, "client_stats", "expected an object, got array"},
      {"UnknownField", R"({"seq": 1, "ts": 1, "status": "failed", "exit_code": 1})", kInvalid,
       "exit_code", "unknown field"},
  };
}

class FinishErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(FinishErrors, ReportsKindFieldAndReason) {
  const ErrorCase& c = GetParam();
  const ParseError error = ExpectError(ParseFinish(c.body, c.limits));
  EXPECT_EQ(KindName(error.kind), KindName(c.kind)) << ::testing::PrintToString(error);
  EXPECT_EQ(error.field, c.field) << ::testing::PrintToString(error);
  EXPECT_NE(error.reason.find(c.reason), std::string::npos) << ::testing::PrintToString(error);
}

INSTANTIATE_TEST_SUITE_P(Table, FinishErrors, ::testing::ValuesIn(FinishCases()),
                         [](const auto& test) { return test.param.name; });

TEST(ParseRecordBatch, RecordLimitIsInclusive) {
  Limits limits;
  limits.max_records_per_batch = 2;
  const std::string body = Batch(R"({"kind": "step", "seq": 1, "step": 1, "ts": 1},
                                    {"kind": "step", "seq": 2, "step": 1, "ts": 1})");
  EXPECT_EQ(Expect(ParseRecordBatch(body, limits)).size(), 2u);
}

TEST(ParseRecordBatch, AnErrorAfterManyGoodRecordsStillNamesItsIndex) {
  std::string records;
  for (int i = 0; i < 500; ++i) {
    records += R"({"kind": "step", "seq": )" + std::to_string(i) + R"(, "step": 1, "ts": 1},)";
  }
  records += R"({"kind": "step", "seq": 500, "step": 1, "ts": 1, "tokens": -4})";
  const ParseError error = ExpectError(ParseRecordBatch(Batch(records)));
  EXPECT_EQ(error.field, "records[500].tokens");
}

TEST(ParseRecordBatch, ParsesAgainAfterAnError) {
  // The per-thread parser is reused: a failed parse must not poison the next one.
  EXPECT_EQ(ExpectError(ParseRecordBatch("{\"records\": [")).kind, ErrorKind::kMalformed);
  EXPECT_EQ(
      Expect(ParseRecordBatch(Batch(R"({"kind": "step", "seq": 1, "step": 1, "ts": 1})"))).size(),
      1u);
}

}  // namespace
}  // namespace atlas::protocol
