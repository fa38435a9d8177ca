#include "store/downsample.hpp"

#include <algorithm>
#include <cmath>

namespace atlas::store {

std::vector<Bucket> Downsample(const std::vector<SeriesPoint>& points, std::size_t max_points) {
  std::vector<Bucket> out;
  if (points.empty() || max_points == 0) return out;
  const bool keep_all = points.size() <= max_points;
  const double lo = points.front().x;
  const double hi = points.back().x;
  const double width = (hi - lo) / static_cast<double>(max_points);
  out.reserve(std::min(points.size(), max_points));

  std::size_t current = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    // Each point is its own bucket when nothing needs merging; otherwise the bucket index is
    // the point's position in [lo, hi], with hi folded into the last bucket.
    std::size_t index = i;
    if (!keep_all) {
      index = width > 0 ? static_cast<std::size_t>(std::floor((p.x - lo) / width)) : 0;
      index = std::min(index, max_points - 1);
    }
    if (out.empty() || index != current) {
      out.push_back({p.x, p.y, p.y, p.y, 1});
      current = index;
      continue;
    }
    Bucket& b = out.back();
    b.x = p.x;
    b.min = std::min(b.min, p.y);
    b.max = std::max(b.max, p.y);
    b.last = p.y;
    ++b.count;
  }
  return out;
}

}  // namespace atlas::store
