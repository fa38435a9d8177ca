#include "agent/fingerprint.hpp"

#include <cstdint>
#include <map>

#include <fmt/format.h>

namespace atlas::agent {
namespace {

// A shape without its batch dimension: the per-sample shape is what the architecture fixes.
std::string SampleShape(const model::Json& shape) {
  if (!shape.is_array() || shape.empty()) return "?";
  std::string out;
  for (std::size_t i = 1; i < shape.size(); ++i) out += shape[i].dump() + ",";
  return out;
}

std::uint64_t Fnv1a(const std::string& text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace

std::string ArchitectureFingerprint(const std::vector<model::ModuleInfo>& modules) {
  if (modules.empty()) return "";
  std::map<std::string, int> depth;
  std::string canonical;
  for (const auto& m : modules) {
    const int d = m.parent && depth.count(*m.parent) ? depth[*m.parent] + 1 : 0;
    depth[m.name] = d;
    canonical += fmt::format("{}|{}|{}|{}|{};", d, m.type, m.params, SampleShape(m.input_shape),
                             SampleShape(m.output_shape));
  }
  return fmt::format("{:016x}", Fnv1a(canonical));
}

}  // namespace atlas::agent
