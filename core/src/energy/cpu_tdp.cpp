// The CPU TDP table of the CPU model (docs/energy.md). Each row is one socket's thermal design
// power (Intel: "TDP", or "Processor Base Power" from 12th generation on; AMD: "Default TDP"),
// from the vendor's published specifications. The model name match is a substring of
// /proc/cpuinfo's "model name", chosen to avoid Intel's "(R)" marks; the longest match wins, so
// "Gold 6248R" beats "Gold 6248".
#include <string_view>
#include <vector>

#include "atlas/energy.hpp"

namespace atlas::energy {
namespace {

constexpr std::string_view kIntel = "Intel ARK (TDP / Processor Base Power)";
constexpr std::string_view kAmd = "AMD product specifications (Default TDP)";

}  // namespace

const std::vector<CpuTdp>& CpuTdpTable() {
  static const auto* table = new std::vector<CpuTdp>{
      // NOLINT(cppcoreguidelines-owning-memory)
      // AMD EPYC (servers; 7742 is the DGX A100's CPU).
      {"EPYC 7543", 225, kAmd},
      {"EPYC 7713", 225, kAmd},
      {"EPYC 7742", 225, kAmd},
      {"EPYC 7763", 280, kAmd},
      {"EPYC 9454", 290, kAmd},
      {"EPYC 9554", 360, kAmd},
      {"EPYC 9654", 360, kAmd},
      // AMD desktop and workstation.
      {"Ryzen 9 3950X", 105, kAmd},
      {"Ryzen 9 5950X", 105, kAmd},
      {"Ryzen 9 7950X", 170, kAmd},
      {"Threadripper 3990X", 280, kAmd},
      {"Threadripper PRO 5995WX", 280, kAmd},
      // Intel Xeon (8480+ is the DGX H100's CPU, E5-2698 v4 the DGX-1's).
      {"E5-2683 v4", 120, kIntel},
      {"E5-2690 v4", 135, kIntel},
      {"E5-2698 v4", 135, kIntel},
      {"Gold 6130", 125, kIntel},
      {"Gold 6248", 150, kIntel},
      {"Gold 6248R", 205, kIntel},
      {"Gold 6338", 205, kIntel},
      {"Platinum 8168", 205, kIntel},
      {"Platinum 8280", 205, kIntel},
      {"Platinum 8358", 250, kIntel},
      {"Platinum 8380", 270, kIntel},
      {"Platinum 8468", 350, kIntel},
      {"Platinum 8480", 350, kIntel},
      {"w9-3495X", 350, kIntel},
      // Intel Core (desktop).
      {"i7-12700K", 125, kIntel},
      {"i9-12900K", 125, kIntel},
      {"i9-13900K", 125, kIntel},
  };
  return *table;
}

std::optional<CpuTdp> FindCpuTdp(std::string_view model_name) {
  std::optional<CpuTdp> best;
  for (const CpuTdp& row : CpuTdpTable()) {
    if (model_name.find(row.model) == std::string_view::npos) continue;
    if (!best || row.model.size() > best->model.size()) best = row;
  }
  return best;
}

}  // namespace atlas::energy
