// Golden tests of the carbon and cost arithmetic: each expected value is worked out by hand in
// the comment beside it, so a change to the formula or a constant fails here.
#include <gtest/gtest.h>

#include "atlas/carbon.hpp"

namespace atlas::carbon {
namespace {

Settings Make(double pue, double g_per_kwh, double eur_per_t, double g_per_km) {
  Settings s;
  s.pue = pue;
  s.g_co2_per_kwh = g_per_kwh;
  s.eur_per_tonne_co2 = eur_per_t;
  s.g_co2_per_car_km = g_per_km;
  return s;
}

TEST(Footprint, RoundNumbers) {
  // 7.2e6 J = 2 kWh at the device; x PUE 1.5 = 3 kWh; x 400 g/kWh = 1,200 g = 1.2 kg;
  // 1.2 kg = 0.0012 t x EUR 50 = EUR 0.06; 1,200 g / 120 g/km = 10 km.
  const Footprint f = FootprintOf(7.2e6, Make(1.5, 400, 50, 120));
  EXPECT_DOUBLE_EQ(f.joules, 7.2e6);
  EXPECT_DOUBLE_EQ(f.kwh, 3.0);
  EXPECT_DOUBLE_EQ(f.kg_co2, 1.2);
  EXPECT_DOUBLE_EQ(f.eur, 0.06);
  EXPECT_DOUBLE_EQ(f.car_km, 10.0);
}

TEST(Footprint, OneGpuHourAtThreeHundredWattsOnTheWorldGrid) {
  // 300 W x 3,600 s = 1.08e6 J = 0.3 kWh (PUE 1); x 481 g/kWh = 144.3 g = 0.1443 kg;
  // 0.0001443 t x EUR 50 = EUR 0.007215; 144.3 g / 106.6 g/km = 1.35365853658536... km.
  const Footprint f = FootprintOf(300.0 * 3600.0, Make(1.0, 481, 50, 106.6));
  EXPECT_DOUBLE_EQ(f.kwh, 0.3);
  EXPECT_DOUBLE_EQ(f.kg_co2, 0.1443);
  EXPECT_DOUBLE_EQ(f.eur, 0.007215);
  EXPECT_NEAR(f.car_km, 1.3536585365853659, 1e-15);
}

TEST(Footprint, FranceWithCarbontrackersPue) {
  // 3.6e6 J = 1 kWh x PUE 1.58 = 1.58 kWh; x 56 g/kWh = 88.48 g = 0.08848 kg;
  // x EUR 80/t = EUR 0.0070784; 88.48 g / 106.6 g/km = 0.83001876172607... km.
  const Footprint f = FootprintOf(3.6e6, Make(1.58, 56, 80, 106.6));
  EXPECT_DOUBLE_EQ(f.kwh, 1.58);
  EXPECT_DOUBLE_EQ(f.kg_co2, 0.08848);
  EXPECT_DOUBLE_EQ(f.eur, 0.0070784);
  EXPECT_NEAR(f.car_km, 0.83001876172607879, 1e-15);
}

TEST(Footprint, ZeroEnergyIsZeroEverywhere) {
  const Footprint f = FootprintOf(0, Make(1.2, 500, 50, 100));
  EXPECT_EQ(f.kwh, 0);
  EXPECT_EQ(f.kg_co2, 0);
  EXPECT_EQ(f.eur, 0);
  EXPECT_EQ(f.car_km, 0);
}

TEST(Footprint, NoCarFigureGivesZeroCarKmNotInfinity) {
  const Footprint f = FootprintOf(3.6e6, Make(1.0, 100, 50, 0));
  EXPECT_DOUBLE_EQ(f.kg_co2, 0.1);
  EXPECT_EQ(f.car_km, 0);
}

TEST(Footprint, ResolvedDefaultsOnTheWorldGrid) {
  // Defaults: PUE 1, world 481 g/kWh, EUR 50/t, 106.6 g/km. 36 MJ = 10 kWh -> 4.81 kg,
  // EUR 0.2405, 4,810 g / 106.6 g/km = 45.1219512195122 km.
  const Footprint f = FootprintOf(3.6e7, ResolveSettings("{}"));
  EXPECT_DOUBLE_EQ(f.kwh, 10.0);
  EXPECT_DOUBLE_EQ(f.kg_co2, 4.81);
  EXPECT_DOUBLE_EQ(f.eur, 0.2405);
  EXPECT_NEAR(f.car_km, 45.121951219512198, 1e-12);
}

}  // namespace
}  // namespace atlas::carbon
