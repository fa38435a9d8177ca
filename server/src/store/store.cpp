#include "store/store.hpp"

#include <utility>

#include "store/downsample.hpp"

namespace atlas::store {

Result<SeriesBuckets> Store::DownsampleSeries(const std::string& run_id, const SeriesQuery& query,
                                              std::size_t max_points) {
  std::vector<SeriesPoint> points;
  Status status =
      ScanSeries(run_id, query, [&points](const SeriesPoint& p) { points.push_back(p); });
  if (!status.ok()) return status;
  SeriesBuckets out;
  out.points_in_range = static_cast<std::int64_t>(points.size());
  out.buckets = Downsample(points, max_points);
  return out;
}

}  // namespace atlas::store
