// The offline grid carbon-intensity table: countries (ISO 3166-1 alpha-3), the world average,
// and cloud regions mapped to the national grid they draw from.
//
// Values are Our World in Data's "Carbon intensity of electricity generation" series (lifecycle
// gCO2e per kWh generated; OWID takes it from Ember and the Energy Institute), for 2023, rounded
// to whole grams. They were transcribed by hand (the build has no network access), so they can
// differ by a few grams from the current OWID release; docs/energy.md lists which were checked
// against OWID's table and how a user overrides any of them (grid_g_co2_per_kwh).
//
// Cloud regions use their country's annual national average. That is the honest offline
// figure, but it misses sub-national grids (a US region in Oregon draws on a cleaner grid than
// the US average) and the providers' renewable contracts, which are market-based, not
// location-based; docs/energy.md says so.
#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include "atlas/carbon.hpp"

namespace atlas::carbon {
namespace {

constexpr int kYear = 2023;
constexpr std::string_view kOwid = "Our World in Data (Ember; Energy Institute), 2023";
constexpr std::string_view kCloudSource =
    "Our World in Data (Ember; Energy Institute), 2023: the region's national grid average";

constexpr GridIntensity Country(std::string_view code, std::string_view name, double g) {
  return GridIntensity{code, name, g, kYear, kOwid};
}

// WORLD first, then countries sorted by code (a test checks the order and uniqueness).
constexpr std::array kCountries = {
    Country("WORLD", "World", 481),
    Country("ARE", "United Arab Emirates", 561),
    Country("ARG", "Argentina", 354),
    Country("AUS", "Australia", 549),
    Country("AUT", "Austria", 111),
    Country("BEL", "Belgium", 138),
    Country("BGD", "Bangladesh", 691),
    Country("BGR", "Bulgaria", 335),
    Country("BIH", "Bosnia and Herzegovina", 600),
    Country("BLR", "Belarus", 441),
    Country("BOL", "Bolivia", 532),
    Country("BRA", "Brazil", 98),
    Country("CAN", "Canada", 170),
    Country("CHE", "Switzerland", 35),
    Country("CHL", "Chile", 291),
    Country("CHN", "China", 582),
    Country("COL", "Colombia", 260),
    Country("CRI", "Costa Rica", 53),
    Country("CYP", "Cyprus", 534),
    Country("CZE", "Czechia", 450),
    Country("DEU", "Germany", 381),
    Country("DNK", "Denmark", 152),
    Country("DZA", "Algeria", 634),
    Country("ECU", "Ecuador", 150),
    Country("EGY", "Egypt", 570),
    Country("ESP", "Spain", 174),
    Country("EST", "Estonia", 417),
    Country("FIN", "Finland", 79),
    Country("FRA", "France", 56),
    Country("GBR", "United Kingdom", 238),
    Country("GEO", "Georgia", 168),
    Country("GRC", "Greece", 337),
    Country("HKG", "Hong Kong", 699),
    Country("HRV", "Croatia", 205),
    Country("HUN", "Hungary", 204),
    Country("IDN", "Indonesia", 676),
    Country("IND", "India", 713),
    Country("IRL", "Ireland", 291),
    Country("IRN", "Iran", 655),
    Country("IRQ", "Iraq", 689),
    Country("ISL", "Iceland", 28),
    Country("ISR", "Israel", 583),
    Country("ITA", "Italy", 288),
    Country("JPN", "Japan", 485),
    Country("KAZ", "Kazakhstan", 821),
    Country("KOR", "South Korea", 432),
    Country("KWT", "Kuwait", 649),
    Country("LTU", "Lithuania", 160),
    Country("LUX", "Luxembourg", 105),
    Country("LVA", "Latvia", 123),
    Country("MAR", "Morocco", 630),
    Country("MEX", "Mexico", 423),
    Country("MLT", "Malta", 351),
    Country("MYS", "Malaysia", 605),
    Country("NGA", "Nigeria", 523),
    Country("NLD", "Netherlands", 268),
    Country("NOR", "Norway", 30),
    Country("NZL", "New Zealand", 112),
    Country("OMN", "Oman", 565),
    Country("PAK", "Pakistan", 440),
    Country("PER", "Peru", 267),
    Country("PHL", "Philippines", 610),
    Country("POL", "Poland", 662),
    Country("PRT", "Portugal", 165),
    Country("PRY", "Paraguay", 24),
    Country("QAT", "Qatar", 602),
    Country("ROU", "Romania", 240),
    Country("RUS", "Russia", 441),
    Country("SAU", "Saudi Arabia", 696),
    Country("SGP", "Singapore", 470),
    Country("SLV", "El Salvador", 271),
    Country("SRB", "Serbia", 648),
    Country("SVK", "Slovakia", 117),
    Country("SVN", "Slovenia", 231),
    Country("SWE", "Sweden", 41),
    Country("THA", "Thailand", 549),
    Country("TUR", "Turkey", 414),
    Country("TWN", "Taiwan", 561),
    Country("UKR", "Ukraine", 256),
    Country("USA", "United States", 369),
    Country("VNM", "Vietnam", 472),
    Country("ZAF", "South Africa", 708),
};

struct CloudRegion {
  std::string_view code;  // "<provider>:<region>", lower case
  std::string_view name;
  std::string_view grid;  // ISO alpha-3 of the country the region sits in
};

// Sorted by code. Each grid code must be a country row (a test checks it).
constexpr std::array kCloudRegions = {
    CloudRegion{"aws:af-south-1", "AWS af-south-1 (Cape Town)", "ZAF"},
    CloudRegion{"aws:ap-east-1", "AWS ap-east-1 (Hong Kong)", "HKG"},
    CloudRegion{"aws:ap-northeast-1", "AWS ap-northeast-1 (Tokyo)", "JPN"},
    CloudRegion{"aws:ap-northeast-2", "AWS ap-northeast-2 (Seoul)", "KOR"},
    CloudRegion{"aws:ap-northeast-3", "AWS ap-northeast-3 (Osaka)", "JPN"},
    CloudRegion{"aws:ap-south-1", "AWS ap-south-1 (Mumbai)", "IND"},
    CloudRegion{"aws:ap-southeast-1", "AWS ap-southeast-1 (Singapore)", "SGP"},
    CloudRegion{"aws:ap-southeast-2", "AWS ap-southeast-2 (Sydney)", "AUS"},
    CloudRegion{"aws:ap-southeast-3", "AWS ap-southeast-3 (Jakarta)", "IDN"},
    CloudRegion{"aws:ca-central-1", "AWS ca-central-1 (Montreal)", "CAN"},
    CloudRegion{"aws:eu-central-1", "AWS eu-central-1 (Frankfurt)", "DEU"},
    CloudRegion{"aws:eu-central-2", "AWS eu-central-2 (Zurich)", "CHE"},
    CloudRegion{"aws:eu-north-1", "AWS eu-north-1 (Stockholm)", "SWE"},
    CloudRegion{"aws:eu-south-1", "AWS eu-south-1 (Milan)", "ITA"},
    CloudRegion{"aws:eu-south-2", "AWS eu-south-2 (Aragon, Spain)", "ESP"},
    CloudRegion{"aws:eu-west-1", "AWS eu-west-1 (Ireland)", "IRL"},
    CloudRegion{"aws:eu-west-2", "AWS eu-west-2 (London)", "GBR"},
    CloudRegion{"aws:eu-west-3", "AWS eu-west-3 (Paris)", "FRA"},
    CloudRegion{"aws:il-central-1", "AWS il-central-1 (Tel Aviv)", "ISR"},
    CloudRegion{"aws:me-central-1", "AWS me-central-1 (UAE)", "ARE"},
    CloudRegion{"aws:sa-east-1", "AWS sa-east-1 (Sao Paulo)", "BRA"},
    CloudRegion{"aws:us-east-1", "AWS us-east-1 (N. Virginia)", "USA"},
    CloudRegion{"aws:us-east-2", "AWS us-east-2 (Ohio)", "USA"},
    CloudRegion{"aws:us-west-1", "AWS us-west-1 (N. California)", "USA"},
    CloudRegion{"aws:us-west-2", "AWS us-west-2 (Oregon)", "USA"},
    CloudRegion{"azure:australiaeast", "Azure australiaeast (New South Wales)", "AUS"},
    CloudRegion{"azure:brazilsouth", "Azure brazilsouth (Sao Paulo)", "BRA"},
    CloudRegion{"azure:canadacentral", "Azure canadacentral (Toronto)", "CAN"},
    CloudRegion{"azure:centralindia", "Azure centralindia (Pune)", "IND"},
    CloudRegion{"azure:centralus", "Azure centralus (Iowa)", "USA"},
    CloudRegion{"azure:eastasia", "Azure eastasia (Hong Kong)", "HKG"},
    CloudRegion{"azure:eastus", "Azure eastus (Virginia)", "USA"},
    CloudRegion{"azure:eastus2", "Azure eastus2 (Virginia)", "USA"},
    CloudRegion{"azure:francecentral", "Azure francecentral (Paris)", "FRA"},
    CloudRegion{"azure:germanywestcentral", "Azure germanywestcentral (Frankfurt)", "DEU"},
    CloudRegion{"azure:italynorth", "Azure italynorth (Milan)", "ITA"},
    CloudRegion{"azure:japaneast", "Azure japaneast (Tokyo)", "JPN"},
    CloudRegion{"azure:koreacentral", "Azure koreacentral (Seoul)", "KOR"},
    CloudRegion{"azure:northeurope", "Azure northeurope (Ireland)", "IRL"},
    CloudRegion{"azure:norwayeast", "Azure norwayeast (Oslo)", "NOR"},
    CloudRegion{"azure:polandcentral", "Azure polandcentral (Warsaw)", "POL"},
    CloudRegion{"azure:southafricanorth", "Azure southafricanorth (Johannesburg)", "ZAF"},
    CloudRegion{"azure:southcentralus", "Azure southcentralus (Texas)", "USA"},
    CloudRegion{"azure:southeastasia", "Azure southeastasia (Singapore)", "SGP"},
    CloudRegion{"azure:swedencentral", "Azure swedencentral (Gavle)", "SWE"},
    CloudRegion{"azure:switzerlandnorth", "Azure switzerlandnorth (Zurich)", "CHE"},
    CloudRegion{"azure:uaenorth", "Azure uaenorth (Dubai)", "ARE"},
    CloudRegion{"azure:uksouth", "Azure uksouth (London)", "GBR"},
    CloudRegion{"azure:westeurope", "Azure westeurope (Netherlands)", "NLD"},
    CloudRegion{"azure:westus", "Azure westus (California)", "USA"},
    CloudRegion{"azure:westus2", "Azure westus2 (Washington)", "USA"},
    CloudRegion{"gcp:asia-east1", "GCP asia-east1 (Taiwan)", "TWN"},
    CloudRegion{"gcp:asia-east2", "GCP asia-east2 (Hong Kong)", "HKG"},
    CloudRegion{"gcp:asia-northeast1", "GCP asia-northeast1 (Tokyo)", "JPN"},
    CloudRegion{"gcp:asia-northeast3", "GCP asia-northeast3 (Seoul)", "KOR"},
    CloudRegion{"gcp:asia-south1", "GCP asia-south1 (Mumbai)", "IND"},
    CloudRegion{"gcp:asia-southeast1", "GCP asia-southeast1 (Singapore)", "SGP"},
    CloudRegion{"gcp:asia-southeast2", "GCP asia-southeast2 (Jakarta)", "IDN"},
    CloudRegion{"gcp:australia-southeast1", "GCP australia-southeast1 (Sydney)", "AUS"},
    CloudRegion{"gcp:europe-central2", "GCP europe-central2 (Warsaw)", "POL"},
    CloudRegion{"gcp:europe-north1", "GCP europe-north1 (Finland)", "FIN"},
    CloudRegion{"gcp:europe-southwest1", "GCP europe-southwest1 (Madrid)", "ESP"},
    CloudRegion{"gcp:europe-west1", "GCP europe-west1 (Belgium)", "BEL"},
    CloudRegion{"gcp:europe-west2", "GCP europe-west2 (London)", "GBR"},
    CloudRegion{"gcp:europe-west3", "GCP europe-west3 (Frankfurt)", "DEU"},
    CloudRegion{"gcp:europe-west4", "GCP europe-west4 (Netherlands)", "NLD"},
    CloudRegion{"gcp:europe-west6", "GCP europe-west6 (Zurich)", "CHE"},
    CloudRegion{"gcp:europe-west8", "GCP europe-west8 (Milan)", "ITA"},
    CloudRegion{"gcp:europe-west9", "GCP europe-west9 (Paris)", "FRA"},
    CloudRegion{"gcp:me-west1", "GCP me-west1 (Tel Aviv)", "ISR"},
    CloudRegion{"gcp:northamerica-northeast1", "GCP northamerica-northeast1 (Montreal)", "CAN"},
    CloudRegion{"gcp:northamerica-northeast2", "GCP northamerica-northeast2 (Toronto)", "CAN"},
    CloudRegion{"gcp:southamerica-east1", "GCP southamerica-east1 (Sao Paulo)", "BRA"},
    CloudRegion{"gcp:southamerica-west1", "GCP southamerica-west1 (Santiago)", "CHL"},
    CloudRegion{"gcp:us-central1", "GCP us-central1 (Iowa)", "USA"},
    CloudRegion{"gcp:us-east1", "GCP us-east1 (South Carolina)", "USA"},
    CloudRegion{"gcp:us-east4", "GCP us-east4 (N. Virginia)", "USA"},
    CloudRegion{"gcp:us-west1", "GCP us-west1 (Oregon)", "USA"},
    CloudRegion{"gcp:us-west2", "GCP us-west2 (Los Angeles)", "USA"},
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

const GridIntensity* FindCountry(std::string_view code) {
  for (const GridIntensity& row : kCountries) {
    if (EqualsIgnoreCase(row.code, code)) return &row;
  }
  return nullptr;
}

// Countries, then each cloud region carrying its grid's value. Built once; a region whose grid
// is missing is left out (the table test fails on it, so a release never has one).
std::vector<GridIntensity> BuildTable() {
  std::vector<GridIntensity> rows(kCountries.begin(), kCountries.end());
  rows.reserve(kCountries.size() + kCloudRegions.size());
  for (const CloudRegion& region : kCloudRegions) {
    const GridIntensity* grid = FindCountry(region.grid);
    if (grid == nullptr) continue;
    rows.push_back(GridIntensity{region.code, region.name, grid->g_co2_per_kwh, grid->year,
                                 kCloudSource, region.grid});
  }
  return rows;
}

}  // namespace

std::span<const GridIntensity> GridTable() {
  static const std::vector<GridIntensity> kTable = BuildTable();
  return kTable;
}

std::optional<GridIntensity> FindGridIntensity(std::string_view code) {
  for (const GridIntensity& row : GridTable()) {
    if (EqualsIgnoreCase(row.code, code)) return row;
  }
  return std::nullopt;
}

GridIntensity WorldAverage() { return kCountries.front(); }

// The EEA's provisional 2023 average for new passenger cars registered in the EU, Iceland and
// Norway (WLTP type approval, tailpipe CO2): 106.6 g/km. A conservative figure: real-world
// emissions and the on-road fleet are higher, so the car-km equivalent errs on the large side.
double DefaultCarCo2GramsPerKm() { return 106.6; }

std::string_view DefaultCarCo2Source() {
  return "EEA, average CO2 of new passenger cars registered in the EU, Iceland and Norway in "
         "2023 (provisional, WLTP type approval): 106.6 g/km";
}

}  // namespace atlas::carbon
