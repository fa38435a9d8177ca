// Energy attribution: per epoch, per component with methods, per run, per layer; every
// expected number is worked out by hand in the comments.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "energy/attribution.hpp"
#include "energy/report_json.hpp"

namespace atlas::energy {
namespace {

using model::Json;

model::EnergyEntry Entry(std::string component, std::string device, double joules,
                         std::string method) {
  return {std::move(component), std::move(device), joules, std::move(method)};
}

model::EpochRecord Epoch(std::int64_t number, std::vector<model::EnergyEntry> energy,
                         std::optional<double> loss = std::nullopt) {
  model::EpochRecord e;
  e.seq = number + 1;
  e.epoch = number;
  e.ts = 1.7e9 + static_cast<double>(number);
  if (loss) e.train.emplace_back("loss", *loss);
  e.energy = std::move(energy);
  return e;
}

carbon::Settings MakeSettings(double pue, double g_per_kwh, double eur_per_t, double g_per_km) {
  carbon::Settings s;
  s.pue = pue;
  s.g_co2_per_kwh = g_per_kwh;
  s.intensity_source = "test";
  s.eur_per_tonne_co2 = eur_per_t;
  s.g_co2_per_car_km = g_per_km;
  return s;
}

model::ModuleInfo Module(std::string name, std::optional<std::string> parent,
                         std::optional<double> flops) {
  model::ModuleInfo m;
  m.name = std::move(name);
  m.type = "T";
  m.parent = std::move(parent);
  m.flops = flops;
  return m;
}

model::ProfileRecord Profile(const Json& data) {
  model::ProfileRecord p;
  p.data = data;
  return p;
}

// Two epochs, two GPUs, RAPL CPU, estimated RAM (PUE 1.5, 400 g/kWh, EUR 50/t, 100 g/km).
AttributionInput TwoEpochs() {
  AttributionInput in;
  in.epochs.push_back(Epoch(0,
                            {Entry("gpu", "cuda:0", 3.6e6, "measured:nvml-counter"),
                             Entry("gpu", "cuda:1", 1.8e6, "measured:nvml-counter"),
                             Entry("cpu", "package-0", 7.2e5, "measured:rapl"),
                             Entry("ram", "", 3.6e5, "estimated:ram-model")},
                            0.9));
  in.epochs.push_back(Epoch(1,
                            {Entry("cpu", "", 3.6e5, "estimated:cpu-model"),
                             Entry("gpu", "cuda:0", 1.8e6, "measured:nvml-power")},
                            0.5));
  return in;
}

TEST(Attribution, PerEpochFootprints) {
  const RunEnergy r = Attribute(TwoEpochs(), MakeSettings(1.5, 400, 50, 100));
  ASSERT_EQ(r.epochs.size(), 2u);
  // Epoch 0: 3.6e6 + 1.8e6 + 7.2e5 + 3.6e5 = 6.48e6 J = 1.8 kWh x 1.5 = 2.7 kWh;
  // x 400 g = 1,080 g = 1.08 kg; x EUR 50/t = EUR 0.054; 1,080 g / 100 g/km = 10.8 km.
  const EpochEnergy& e0 = r.epochs[0];
  EXPECT_EQ(e0.epoch, 0);
  EXPECT_DOUBLE_EQ(e0.footprint.joules, 6.48e6);
  EXPECT_DOUBLE_EQ(e0.footprint.kwh, 2.7);
  EXPECT_DOUBLE_EQ(e0.footprint.kg_co2, 1.08);
  EXPECT_DOUBLE_EQ(e0.footprint.eur, 0.054);
  EXPECT_DOUBLE_EQ(e0.footprint.car_km, 10.8);
  EXPECT_EQ(e0.source, "epoch");
  EXPECT_TRUE(e0.complete);
  EXPECT_EQ(e0.loss, 0.9);
  // Epoch 1: 2.16e6 J = 0.6 kWh x 1.5 = 0.9 kWh; 360 g = 0.36 kg; EUR 0.018; 3.6 km.
  const EpochEnergy& e1 = r.epochs[1];
  EXPECT_DOUBLE_EQ(e1.footprint.joules, 2.16e6);
  EXPECT_DOUBLE_EQ(e1.footprint.kwh, 0.9);
  EXPECT_DOUBLE_EQ(e1.footprint.kg_co2, 0.36);
  EXPECT_DOUBLE_EQ(e1.footprint.eur, 0.018);
  EXPECT_DOUBLE_EQ(e1.footprint.car_km, 3.6);
  EXPECT_EQ(e1.methods, (std::vector<std::string>{"estimated:cpu-model", "measured:nvml-power"}));
}

TEST(Attribution, ComponentsAreGroupedByMethodAndOrderedGpuCpuRam) {
  const RunEnergy r = Attribute(TwoEpochs(), MakeSettings(1.5, 400, 50, 100));
  const auto& c0 = r.epochs[0].by_component;
  ASSERT_EQ(c0.size(), 3u);
  EXPECT_EQ(c0[0].component, "gpu");  // both GPUs, one method: summed
  EXPECT_EQ(c0[0].method, "measured:nvml-counter");
  EXPECT_DOUBLE_EQ(c0[0].joules, 5.4e6);
  EXPECT_EQ(c0[1].component, "cpu");
  EXPECT_DOUBLE_EQ(c0[1].joules, 7.2e5);
  EXPECT_EQ(c0[2].component, "ram");
  EXPECT_EQ(c0[2].method, "estimated:ram-model");

  const auto& t = r.by_component;
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0].component + " " + t[0].method, "gpu measured:nvml-counter");
  EXPECT_DOUBLE_EQ(t[0].joules, 5.4e6);
  EXPECT_EQ(t[1].component + " " + t[1].method, "gpu measured:nvml-power");
  EXPECT_DOUBLE_EQ(t[1].joules, 1.8e6);
  EXPECT_EQ(t[2].component + " " + t[2].method, "cpu estimated:cpu-model");
  EXPECT_EQ(t[3].component + " " + t[3].method, "cpu measured:rapl");
  EXPECT_EQ(t[4].component + " " + t[4].method, "ram estimated:ram-model");
}

TEST(Attribution, RunTotalsAndMeasuredShare) {
  const RunEnergy r = Attribute(TwoEpochs(), MakeSettings(1.5, 400, 50, 100));
  // 6.48e6 + 2.16e6 = 8.64e6 J = 2.4 kWh x 1.5 = 3.6 kWh; 1.44 kg; EUR 0.072; 14.4 km.
  EXPECT_DOUBLE_EQ(r.totals.joules, 8.64e6);
  EXPECT_DOUBLE_EQ(r.totals.kwh, 3.6);
  EXPECT_DOUBLE_EQ(r.totals.kg_co2, 1.44);
  EXPECT_DOUBLE_EQ(r.totals.eur, 0.072);
  EXPECT_DOUBLE_EQ(r.totals.car_km, 14.4);
  // Measured: 5.4e6 + 1.8e6 + 7.2e5 = 7.92e6 J; the estimated CPU and RAM make it not all.
  EXPECT_DOUBLE_EQ(r.measured_joules, 7.92e6);
  EXPECT_FALSE(r.measured);
  EXPECT_EQ(r.methods, (std::vector<std::string>{"estimated:cpu-model", "estimated:ram-model",
                                                 "measured:nvml-counter", "measured:nvml-power",
                                                 "measured:rapl"}));
  EXPECT_TRUE(r.notes.empty());
}

TEST(Attribution, MeasuredWhenEveryJouleIsMeasured) {
  AttributionInput in;
  in.epochs.push_back(Epoch(0, {Entry("gpu", "cuda:0", 100, "measured:nvml-counter"),
                                Entry("cpu", "package-0", 50, "measured:rapl")}));
  EXPECT_TRUE(Attribute(in, MakeSettings(1, 100, 50, 100)).measured);
  EXPECT_FALSE(Attribute(AttributionInput{}, MakeSettings(1, 100, 50, 100)).measured);
}

TEST(Attribution, RecordsOfTheSameEpochAreSummedAndItsLastLossKept) {
  AttributionInput in;
  in.epochs.push_back(Epoch(3, {Entry("gpu", "cuda:0", 100, "measured:nvml-counter")}, 2.0));
  in.epochs.push_back(Epoch(3, {Entry("gpu", "cuda:0", 50, "measured:nvml-counter")}, 1.0));
  const RunEnergy r = Attribute(in, MakeSettings(1, 100, 50, 100));
  ASSERT_EQ(r.epochs.size(), 1u);
  EXPECT_DOUBLE_EQ(r.epochs[0].footprint.joules, 150);
  EXPECT_EQ(r.epochs[0].loss, 1.0);
}

TEST(Attribution, StepsFillEpochsWithoutEntries) {
  AttributionInput in;
  in.epochs.push_back(Epoch(0, {Entry("gpu", "cuda:0", 1000, "measured:nvml-counter")}));
  in.epochs.push_back(Epoch(1, {}));              // ended, but its record carried no energy
  in.steps = {{0, 0, 400},          {1, 0, 500},  // epoch 0's steps: its record wins
              {2, 1, 300},          {3, 1, 200},  // epoch 1: 500 J from steps
              {4, 2, 250},                        // epoch 2: no record yet (still running)
              {5, std::nullopt, 99}};             // no epoch: left out, with a note
  const RunEnergy r = Attribute(in, MakeSettings(1, 360, 50, 100));
  ASSERT_EQ(r.epochs.size(), 3u);
  EXPECT_EQ(r.epochs[0].source, "epoch");
  EXPECT_DOUBLE_EQ(r.epochs[0].footprint.joules, 1000);
  EXPECT_EQ(r.epochs[1].source, "steps");
  EXPECT_DOUBLE_EQ(r.epochs[1].footprint.joules, 500);
  EXPECT_TRUE(r.epochs[1].complete);
  ASSERT_EQ(r.epochs[1].by_component.size(), 1u);
  EXPECT_EQ(r.epochs[1].by_component[0].component, "all");
  EXPECT_EQ(r.epochs[1].by_component[0].method, kStepSumMethod);
  EXPECT_EQ(r.epochs[2].source, "steps");
  EXPECT_FALSE(r.epochs[2].complete);
  EXPECT_DOUBLE_EQ(r.epochs[2].footprint.joules, 250);
  // 1000 + 500 + 250 = 1750 J; x 360 g/kWh / 3.6e6 J/kWh = 0.175 g = 1.75e-4 kg.
  EXPECT_DOUBLE_EQ(r.totals.joules, 1750);
  EXPECT_DOUBLE_EQ(r.totals.kg_co2, 1.75e-4);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0],
            "steps without an epoch carried 99 J; left out because epoch records carry the "
            "run's energy");
}

TEST(Attribution, StepsWithoutEpochsCountWhenNoEpochHasEnergy) {
  AttributionInput in;
  in.steps = {{0, std::nullopt, 1.8e6}, {1, std::nullopt, 1.8e6}};
  const RunEnergy r = Attribute(in, MakeSettings(1, 100, 50, 100));
  EXPECT_TRUE(r.epochs.empty());
  // 3.6e6 J = 1 kWh; 100 g = 0.1 kg.
  EXPECT_DOUBLE_EQ(r.totals.kwh, 1.0);
  EXPECT_DOUBLE_EQ(r.totals.kg_co2, 0.1);
  ASSERT_EQ(r.by_component.size(), 1u);
  EXPECT_EQ(r.by_component[0].method, kStepSumMethod);
  EXPECT_FALSE(r.measured);
}

TEST(Attribution, EpochWithoutEnergyStillSitsBesideItsLoss) {
  AttributionInput in;
  in.epochs.push_back(Epoch(0, {}, 0.7));
  const RunEnergy r = Attribute(in, MakeSettings(1, 100, 50, 100));
  ASSERT_EQ(r.epochs.size(), 1u);
  EXPECT_EQ(r.epochs[0].source, "none");
  EXPECT_EQ(r.epochs[0].footprint.joules, 0);
  EXPECT_EQ(r.epochs[0].loss, 0.7);
  EXPECT_TRUE(r.epochs[0].methods.empty());
}

TEST(Attribution, NonFiniteJoulesAreLeftOutWithANote) {
  AttributionInput in;
  in.epochs.push_back(Epoch(2, {Entry("gpu", "cuda:0", std::nan(""), "measured:nvml-power"),
                                Entry("cpu", "", 10, "estimated:cpu-model")}));
  in.steps = {{0, 2, HUGE_VAL}};
  const RunEnergy r = Attribute(in, MakeSettings(1, 100, 50, 100));
  EXPECT_DOUBLE_EQ(r.totals.joules, 10);
  ASSERT_EQ(r.notes.size(), 2u);
  EXPECT_EQ(r.notes[0], "epoch 2: the gpu cuda:0 entry's joules are NaN; left out of the sums");
  EXPECT_EQ(r.notes[1], "1 step(s) with a non-finite energy_j were left out of the sums");
}

TEST(Attribution, SettingsNotesComeFirst) {
  carbon::Settings s = MakeSettings(1, 100, 50, 100);
  s.notes = {"pue ignored: not a number"};
  const RunEnergy r = Attribute(AttributionInput{}, s);
  EXPECT_EQ(r.notes, (std::vector<std::string>{"pue ignored: not a number"}));
}

// ----- layers -----

std::vector<model::ModuleInfo> Net() {
  // Root 1,000 FLOPs; leaves features.0 (400), features.1 (100), classifier (300): 800 in
  // leaves, so 200 happen in parents' own code and go to "(other)".
  return {Module("", std::nullopt, 1000), Module("features", "", 600),
          Module("features.0", "features", 400), Module("features.1", "features", 100),
          Module("classifier", "", 300)};
}

TEST(LayerShares, FromFlopsOfTheLeaves) {
  AttributionInput in;
  in.architecture = Net();
  LayerBasis basis = LayerBasis::kNone;
  const auto layers = LayerShares(in, basis);
  EXPECT_EQ(basis, LayerBasis::kFlops);
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[0].layer, "features.0");
  EXPECT_DOUBLE_EQ(layers[0].share, 0.4);
  EXPECT_EQ(layers[1].layer, "classifier");
  EXPECT_DOUBLE_EQ(layers[1].share, 0.3);
  EXPECT_EQ(layers[2].layer, "features.1");
  EXPECT_DOUBLE_EQ(layers[2].share, 0.1);
  EXPECT_EQ(layers[3].layer, kOtherLayer);
  EXPECT_DOUBLE_EQ(layers[3].share, 0.2);
}

TEST(LayerShares, WithoutRootFlopsTheLeavesShareEverything) {
  AttributionInput in;
  in.architecture = {Module("", std::nullopt, std::nullopt), Module("a", "", 300),
                     Module("b", "", 100), Module("c", "", std::nullopt)};
  LayerBasis basis = LayerBasis::kNone;
  const auto layers = LayerShares(in, basis);
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_DOUBLE_EQ(layers[0].share, 0.75);
  EXPECT_DOUBLE_EQ(layers[1].share, 0.25);
}

Json Window(double f_cpu, double f_dev, double c_cpu, double c_dev, double fwd_cpu,
            double fwd_dev) {
  return {{"window_steps", 3},
          {"modules",
           {{{"name", "features"}, {"calls", 3}, {"cpu_ms", f_cpu}, {"device_ms", f_dev}},
            {{"name", "classifier"}, {"calls", 3}, {"cpu_ms", c_cpu}, {"device_ms", c_dev}}}},
          {"phases", {{"forward", {{"cpu_ms", fwd_cpu}, {"device_ms", fwd_dev}, {"calls", 3}}}}}};
}

TEST(LayerShares, ProfilerDeviceTimeWinsOverFlops) {
  AttributionInput in;
  in.architecture = Net();
  // Two windows: features 30 + 30 = 60 ms, classifier 10 + 10 = 20 ms of device time, of a
  // forward of 50 + 50 = 100 ms: shares 0.6, 0.2 and 0.2 for the rest.
  in.profiles = {Profile(Window(10, 30, 5, 10, 20, 50)), Profile(Window(10, 30, 5, 10, 20, 50))};
  LayerBasis basis = LayerBasis::kNone;
  const auto layers = LayerShares(in, basis);
  EXPECT_EQ(basis, LayerBasis::kProfilerDeviceTime);
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[0].layer, "features");
  EXPECT_DOUBLE_EQ(layers[0].share, 0.6);
  EXPECT_EQ(layers[1].layer, "classifier");
  EXPECT_DOUBLE_EQ(layers[1].share, 0.2);
  EXPECT_EQ(layers[2].layer, kOtherLayer);
  EXPECT_DOUBLE_EQ(layers[2].share, 0.2);
}

TEST(LayerShares, ProfilerCpuTimeWithoutADevice) {
  AttributionInput in;
  // features 20 ms, classifier 10 ms of a 40 ms forward: 0.5, 0.25, 0.25.
  in.profiles = {Profile(Window(20, 0, 10, 0, 40, 0))};
  LayerBasis basis = LayerBasis::kNone;
  const auto layers = LayerShares(in, basis);
  EXPECT_EQ(basis, LayerBasis::kProfilerCpuTime);
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_DOUBLE_EQ(layers[0].share, 0.5);
  EXPECT_DOUBLE_EQ(layers[1].share, 0.25);
  EXPECT_DOUBLE_EQ(layers[2].share, 0.25);
}

TEST(LayerShares, MalformedProfilesFallBackToFlops) {
  AttributionInput in;
  in.architecture = Net();
  in.profiles = {Profile({{"modules", "x"}}), Profile({{"modules", {1, "a", {{"name", 3}}}}}),
                 Profile({{"modules", {{{"name", "f"}, {"cpu_ms", "1"}, {"device_ms", -4}}}},
                          {"phases", {{"forward", 7}}}}),
                 Profile(Json::array())};
  LayerBasis basis = LayerBasis::kNone;
  const auto layers = LayerShares(in, basis);
  EXPECT_EQ(basis, LayerBasis::kFlops);
  EXPECT_EQ(layers.size(), 4u);
}

TEST(LayerShares, NothingToGoOn) {
  AttributionInput in;
  in.architecture = {Module("", std::nullopt, std::nullopt), Module("a", "", std::nullopt)};
  LayerBasis basis = LayerBasis::kFlops;
  EXPECT_TRUE(LayerShares(in, basis).empty());
  EXPECT_EQ(basis, LayerBasis::kNone);
}

TEST(Attribution, LayersGetTheirShareOfTheRun) {
  AttributionInput in = TwoEpochs();
  in.architecture = Net();
  const RunEnergy r = Attribute(in, MakeSettings(1.5, 400, 50, 100));
  EXPECT_EQ(r.layer_basis, LayerBasis::kFlops);
  ASSERT_EQ(r.layers.size(), 4u);
  // features.0: 0.4 x 8.64e6 J = 3.456e6 J; 0.4 x 1.44 kg = 0.576 kg.
  EXPECT_DOUBLE_EQ(r.layers[0].joules, 3.456e6);
  EXPECT_DOUBLE_EQ(r.layers[0].kg_co2, 0.576);
  double sum = 0;
  for (const auto& l : r.layers) sum += l.joules;
  EXPECT_DOUBLE_EQ(sum, r.totals.joules);
}

TEST(RunEnergyJson, TheDocumentsShape) {
  AttributionInput in = TwoEpochs();
  in.architecture = Net();
  carbon::Settings s = MakeSettings(1.5, 400, 50, 100);
  s.budget_kg_co2 = 2.0;
  const Json doc = RunEnergyJson(Attribute(in, s));
  EXPECT_EQ(doc["settings"]["pue"], 1.5);
  EXPECT_EQ(doc["settings"]["g_co2_per_kwh"], 400.0);
  EXPECT_EQ(doc["settings"]["intensity_source"], "test");
  EXPECT_EQ(doc["settings"]["eur_per_tonne_co2"], 50.0);
  EXPECT_EQ(doc["settings"]["g_co2_per_car_km"], 100.0);
  EXPECT_EQ(doc["settings"]["budget_kg_co2"], 2.0);
  EXPECT_DOUBLE_EQ(doc["totals"]["kwh"].get<double>(), 3.6);
  EXPECT_EQ(doc["totals"]["by_component"].size(), 5u);
  EXPECT_EQ(doc["totals"]["by_component"][0],
            (Json{{"component", "gpu"}, {"joules", 5.4e6}, {"method", "measured:nvml-counter"}}));
  EXPECT_EQ(doc["epochs"].size(), 2u);
  EXPECT_EQ(doc["epochs"][1]["epoch"], 1);
  EXPECT_DOUBLE_EQ(doc["epochs"][1]["kg_co2"].get<double>(), 0.36);
  EXPECT_EQ(doc["epochs"][1]["loss"], 0.5);
  EXPECT_EQ(doc["epochs"][1]["source"], "epoch");
  EXPECT_EQ(doc["layers"][0]["layer"], "features.0");
  EXPECT_EQ(doc["layers"][0]["basis"], "flops");
  EXPECT_EQ(doc["layer_basis"], "flops");
  EXPECT_EQ(doc["measured"], false);
  EXPECT_EQ(doc["methods"].size(), 5u);
  EXPECT_TRUE(doc["notes"].is_array());
}

}  // namespace
}  // namespace atlas::energy
