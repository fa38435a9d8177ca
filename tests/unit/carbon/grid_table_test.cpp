// The grid-intensity table's invariants: codes unique and well formed, values plausible, every
// EU member and the largest consumers present, cloud regions mapped to a country row.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <string_view>

#include "atlas/carbon.hpp"

namespace atlas::carbon {
namespace {

bool IsAlpha3(std::string_view code) {
  return code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) {
           return std::isupper(static_cast<unsigned char>(c)) != 0;
         });
}

bool IsCloudCode(std::string_view code) {
  const auto colon = code.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == code.size()) return false;
  const std::string_view provider = code.substr(0, colon);
  if (provider != "aws" && provider != "gcp" && provider != "azure") return false;
  const std::string_view region = code.substr(colon + 1);
  return std::all_of(region.begin(), region.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) != 0 ||
           std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '-';
  });
}

TEST(GridTable, CodesAreUniqueCaseInsensitively) {
  std::set<std::string> seen;
  for (const GridIntensity& row : GridTable()) {
    std::string lower(row.code);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    EXPECT_TRUE(seen.insert(lower).second) << "duplicate code " << row.code;
  }
}

TEST(GridTable, WorldComesFirstThenCountriesThenCloudRegions) {
  const auto table = GridTable();
  ASSERT_FALSE(table.empty());
  EXPECT_EQ(table.front().code, "WORLD");
  bool in_cloud = false;
  std::string_view previous;
  for (std::size_t i = 1; i < table.size(); ++i) {
    const GridIntensity& row = table[i];
    const bool cloud = !row.grid.empty();
    if (cloud && !in_cloud) previous = {};  // the cloud block starts its own order
    EXPECT_FALSE(in_cloud && !cloud) << row.code << " is a country after the cloud regions";
    in_cloud = in_cloud || cloud;
    if (cloud) {
      EXPECT_TRUE(IsCloudCode(row.code)) << row.code;
    } else {
      EXPECT_TRUE(IsAlpha3(row.code)) << row.code;
    }
    EXPECT_LT(previous, row.code) << "table not sorted at " << row.code;
    previous = row.code;
  }
}

TEST(GridTable, ValuesYearsAndSourcesArePlausible) {
  for (const GridIntensity& row : GridTable()) {
    // Iceland and Paraguay (hydro, geothermal) sit near 25; no grid exceeds about 1,200.
    EXPECT_GE(row.g_co2_per_kwh, 10.0) << row.code;
    EXPECT_LE(row.g_co2_per_kwh, 1200.0) << row.code;
    EXPECT_EQ(row.year, 2023) << row.code;
    EXPECT_NE(row.source.find("Our World in Data"), std::string_view::npos) << row.code;
    EXPECT_FALSE(row.name.empty()) << row.code;
  }
}

TEST(GridTable, CoversEveryEuMemberAndTheLargestConsumers) {
  const char* const required[] = {
      // The 27 EU members.
      "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA", "DEU", "GRC", "HUN",
      "IRL", "ITA", "LVA", "LTU", "LUX", "MLT", "NLD", "POL", "PRT", "ROU", "SVK", "SVN", "ESP",
      "SWE",
      // The largest electricity consumers outside the EU.
      "CHN", "USA", "IND", "RUS", "JPN", "BRA", "CAN", "KOR", "IRN", "SAU", "IDN", "MEX", "TUR",
      "GBR", "TWN", "AUS", "VNM", "ZAF", "EGY", "THA", "MYS", "UKR", "ARG", "PAK", "NOR", "ARE",
      "KAZ", "PHL", "IRQ", "DZA", "CHL", "BGD", "KWT", "CHE", "ISR", "COL", "QAT", "SGP", "NZL"};
  for (const char* code : required) {
    const auto row = FindGridIntensity(code);
    ASSERT_TRUE(row.has_value()) << code;
    EXPECT_TRUE(row->grid.empty()) << code << " should be a country row";
  }
  EXPECT_GE(GridTable().size(), 80u);
}

TEST(GridTable, CloudRegionsCarryTheirCountrysValue) {
  int regions = 0;
  for (const GridIntensity& row : GridTable()) {
    if (row.grid.empty()) continue;
    ++regions;
    const auto grid = FindGridIntensity(row.grid);
    ASSERT_TRUE(grid.has_value()) << row.code << " maps to missing " << row.grid;
    EXPECT_TRUE(grid->grid.empty()) << row.code << " maps to another region";
    EXPECT_EQ(row.g_co2_per_kwh, grid->g_co2_per_kwh) << row.code;
  }
  EXPECT_GE(regions, 60);
  EXPECT_EQ(FindGridIntensity("aws:eu-west-3")->grid, "FRA");
  EXPECT_EQ(FindGridIntensity("gcp:europe-west4")->grid, "NLD");
  EXPECT_EQ(FindGridIntensity("azure:swedencentral")->grid, "SWE");
}

TEST(GridTable, LookupIsCaseInsensitiveAndExact) {
  EXPECT_EQ(FindGridIntensity("fra")->code, "FRA");
  EXPECT_EQ(FindGridIntensity("FrA")->g_co2_per_kwh, 56.0);
  EXPECT_EQ(FindGridIntensity("AWS:EU-WEST-3")->code, "aws:eu-west-3");
  EXPECT_FALSE(FindGridIntensity("FR").has_value());
  EXPECT_FALSE(FindGridIntensity("FRAN").has_value());
  EXPECT_FALSE(FindGridIntensity("").has_value());
  EXPECT_FALSE(FindGridIntensity("XXX").has_value());
}

TEST(GridTable, WorldAverageIsTheWorldRow) {
  const GridIntensity world = WorldAverage();
  EXPECT_EQ(world.code, "WORLD");
  EXPECT_EQ(world.g_co2_per_kwh, 481.0);
  EXPECT_EQ(FindGridIntensity("world")->g_co2_per_kwh, 481.0);
}

}  // namespace
}  // namespace atlas::carbon
