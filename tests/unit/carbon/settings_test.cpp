// ResolveSettings: where each number comes from, and that bad input falls back to a default
// with a note rather than failing.
#include <gtest/gtest.h>

#include <string>

#include "atlas/carbon.hpp"

namespace atlas::carbon {
namespace {

bool HasNoteStartingWith(const Settings& s, const std::string& prefix) {
  for (const std::string& note : s.notes) {
    if (note.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

TEST(ResolveSettings, EmptyConfigGivesTheDefaultsAndSaysWhyWorld) {
  const Settings s = ResolveSettings("{}");
  EXPECT_EQ(s.pue, kDefaultPue);
  EXPECT_EQ(s.g_co2_per_kwh, 481.0);
  EXPECT_EQ(s.intensity_source,
            "OWID 2023 (WORLD): no country_iso_code or cloud_region configured");
  EXPECT_EQ(s.eur_per_tonne_co2, 50.0);
  EXPECT_EQ(s.g_co2_per_car_km, 106.6);
  EXPECT_EQ(s.g_co2_per_car_km, DefaultCarCo2GramsPerKm());
  EXPECT_FALSE(s.budget_kg_co2.has_value());
  EXPECT_TRUE(s.notes.empty());
}

TEST(ResolveSettings, ReadsTheRunConfigsEnergyObject) {
  const Settings s = ResolveSettings(R"({
      "lr": 0.1,
      "energy": {"country_iso_code": "fra", "pue": 1.2, "carbon_price_eur_per_t": 80,
                 "car_g_co2_per_km": 120, "carbon_budget_kg": 2.5,
                 "track_sustainability": true}})");
  EXPECT_EQ(s.g_co2_per_kwh, 56.0);
  EXPECT_EQ(s.intensity_source, "OWID 2023 (FRA)");
  EXPECT_EQ(s.pue, 1.2);
  EXPECT_EQ(s.eur_per_tonne_co2, 80.0);
  EXPECT_EQ(s.g_co2_per_car_km, 120.0);
  ASSERT_TRUE(s.budget_kg_co2.has_value());
  EXPECT_EQ(*s.budget_kg_co2, 2.5);
  EXPECT_TRUE(s.notes.empty());
}

TEST(ResolveSettings, ReadsTheRootWhenThereIsNoEnergyObject) {
  const Settings s = ResolveSettings(R"({"country_iso_code": "DEU", "pue": 1.56})");
  EXPECT_EQ(s.g_co2_per_kwh, 381.0);
  EXPECT_EQ(s.intensity_source, "OWID 2023 (DEU)");
  EXPECT_EQ(s.pue, 1.56);
}

TEST(ResolveSettings, OverrideWinsOverRegionAndCountry) {
  const Settings s = ResolveSettings(
      R"({"energy": {"grid_g_co2_per_kwh": 123.5, "cloud_region": "aws:eu-west-3",
                     "country_iso_code": "POL"}})");
  EXPECT_EQ(s.g_co2_per_kwh, 123.5);
  EXPECT_EQ(s.intensity_source, "user override (grid_g_co2_per_kwh)");
}

TEST(ResolveSettings, ZeroOverrideIsAccepted) {
  // A fully renewable on-site supply is a legitimate 0 g/kWh claim; it is labelled an override.
  const Settings s = ResolveSettings(R"({"grid_g_co2_per_kwh": 0})");
  EXPECT_EQ(s.g_co2_per_kwh, 0.0);
  EXPECT_EQ(s.intensity_source, "user override (grid_g_co2_per_kwh)");
}

TEST(ResolveSettings, CloudRegionWinsOverCountry) {
  const Settings s = ResolveSettings(
      R"({"energy": {"cloud_region": "GCP:europe-north1", "country_iso_code": "POL"}})");
  EXPECT_EQ(s.g_co2_per_kwh, 79.0);
  EXPECT_EQ(s.intensity_source, "OWID 2023 (FIN) via cloud region gcp:europe-north1");
}

TEST(ResolveSettings, UnknownCountryFallsBackToWorldAndSaysSo) {
  const Settings s = ResolveSettings(R"({"energy": {"country_iso_code": "ATL"}})");
  EXPECT_EQ(s.g_co2_per_kwh, 481.0);
  EXPECT_EQ(s.intensity_source, "OWID 2023 (WORLD): country_iso_code 'ATL' not in the table");
  EXPECT_TRUE(HasNoteStartingWith(s, "country_iso_code 'ATL' ignored"));
}

TEST(ResolveSettings, UnknownCloudRegionFallsBackToTheCountry) {
  const Settings s =
      ResolveSettings(R"({"energy": {"cloud_region": "aws:mars-1", "country_iso_code": "SWE"}})");
  EXPECT_EQ(s.g_co2_per_kwh, 41.0);
  EXPECT_EQ(s.intensity_source, "OWID 2023 (SWE)");
  EXPECT_TRUE(HasNoteStartingWith(s, "cloud_region 'aws:mars-1' ignored"));
}

TEST(ResolveSettings, ACountryCodeIsNotACloudRegionNorTheReverse) {
  const Settings a = ResolveSettings(R"({"cloud_region": "FRA"})");
  EXPECT_EQ(a.g_co2_per_kwh, 481.0);
  EXPECT_EQ(a.intensity_source, "OWID 2023 (WORLD): cloud_region 'FRA' not in the table");
  const Settings b = ResolveSettings(R"({"country_iso_code": "aws:eu-west-3"})");
  EXPECT_EQ(b.g_co2_per_kwh, 481.0);
}

TEST(ResolveSettings, NullValuesCountAsNotSet) {
  const Settings s = ResolveSettings(
      R"({"energy": {"country_iso_code": null, "pue": null, "grid_g_co2_per_kwh": null}})");
  EXPECT_EQ(s.g_co2_per_kwh, 481.0);
  EXPECT_EQ(s.pue, kDefaultPue);
  EXPECT_TRUE(s.notes.empty());
}

TEST(ResolveSettings, BadTypesFallBackWithNotes) {
  const Settings s = ResolveSettings(R"({"energy": {
      "country_iso_code": 250, "cloud_region": ["aws"], "grid_g_co2_per_kwh": "300",
      "pue": "1.5", "carbon_price_eur_per_t": true, "car_g_co2_per_km": {},
      "carbon_budget_kg": "10"}})");
  EXPECT_EQ(s.g_co2_per_kwh, 481.0);
  EXPECT_EQ(s.intensity_source,
            "OWID 2023 (WORLD): no country_iso_code or cloud_region configured");
  EXPECT_EQ(s.pue, kDefaultPue);
  EXPECT_EQ(s.eur_per_tonne_co2, kDefaultCarbonPriceEurPerTonne);
  EXPECT_EQ(s.g_co2_per_car_km, DefaultCarCo2GramsPerKm());
  EXPECT_FALSE(s.budget_kg_co2.has_value());
  EXPECT_TRUE(HasNoteStartingWith(s, "country_iso_code ignored: not a string"));
  EXPECT_TRUE(HasNoteStartingWith(s, "cloud_region ignored: not a string"));
  EXPECT_TRUE(HasNoteStartingWith(s, "grid_g_co2_per_kwh ignored: not a number"));
  EXPECT_TRUE(HasNoteStartingWith(s, "pue ignored: not a number"));
  EXPECT_TRUE(HasNoteStartingWith(s, "carbon_price_eur_per_t ignored: not a number"));
  EXPECT_TRUE(HasNoteStartingWith(s, "car_g_co2_per_km ignored: not a number"));
  EXPECT_TRUE(HasNoteStartingWith(s, "carbon_budget_kg ignored: not a number"));
  EXPECT_EQ(s.notes.size(), 7u);
}

TEST(ResolveSettings, OutOfRangeValuesFallBackWithNotes) {
  const Settings s = ResolveSettings(R"({
      "grid_g_co2_per_kwh": -5, "country_iso_code": "NOR", "pue": 0.9,
      "carbon_price_eur_per_t": -1, "car_g_co2_per_km": 0, "carbon_budget_kg": 0})");
  EXPECT_EQ(s.g_co2_per_kwh, 30.0);  // the bad override is ignored; the country is used
  EXPECT_EQ(s.intensity_source, "OWID 2023 (NOR)");
  EXPECT_EQ(s.pue, kDefaultPue);
  EXPECT_EQ(s.eur_per_tonne_co2, kDefaultCarbonPriceEurPerTonne);
  EXPECT_EQ(s.g_co2_per_car_km, DefaultCarCo2GramsPerKm());
  EXPECT_FALSE(s.budget_kg_co2.has_value());
  EXPECT_TRUE(HasNoteStartingWith(s, "grid_g_co2_per_kwh ignored: -5 is outside [0, 2000]"));
  EXPECT_TRUE(HasNoteStartingWith(s, "pue ignored: 0.9 is outside [1, 3]"));
  EXPECT_TRUE(HasNoteStartingWith(s, "carbon_price_eur_per_t ignored"));
  EXPECT_TRUE(HasNoteStartingWith(s, "car_g_co2_per_km ignored: must be positive"));
  EXPECT_TRUE(HasNoteStartingWith(s, "carbon_budget_kg ignored: must be positive"));
}

TEST(ResolveSettings, BoundsAreInclusive) {
  const Settings s = ResolveSettings(R"({"pue": 3, "grid_g_co2_per_kwh": 2000})");
  EXPECT_EQ(s.pue, 3.0);
  EXPECT_EQ(s.g_co2_per_kwh, 2000.0);
  EXPECT_TRUE(s.notes.empty());
}

TEST(ResolveSettings, TextThatIsNotAnObjectGivesTheDefaults) {
  for (const char* text : {"", "not json", "[1,2]", "42", "{\"energy\": ", "null"}) {
    const Settings s = ResolveSettings(text);
    EXPECT_EQ(s.g_co2_per_kwh, 481.0) << text;
    EXPECT_EQ(s.pue, kDefaultPue) << text;
    EXPECT_EQ(s.eur_per_tonne_co2, kDefaultCarbonPriceEurPerTonne) << text;
  }
  EXPECT_TRUE(ResolveSettings("").notes.empty());
  EXPECT_TRUE(HasNoteStartingWith(ResolveSettings("[1]"), "config ignored"));
}

TEST(ResolveSettings, AnEnergyKeyThatIsNotAnObjectMeansTheRootIsRead) {
  const Settings s = ResolveSettings(R"({"energy": "on", "country_iso_code": "CHE"})");
  EXPECT_EQ(s.g_co2_per_kwh, 35.0);
}

}  // namespace
}  // namespace atlas::carbon
