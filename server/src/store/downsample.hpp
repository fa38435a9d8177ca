// Min/max/last downsampling of a series into at most N buckets, so spikes survive.
//
// Points arrive in ascending x order. Their x range is cut into N equal-width buckets;
// each non-empty bucket reports its x (the x of its last point), the min, max and last y and how
// many points fell in it. A series with no more than N points comes back unchanged (one point
// per bucket). Pure and single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "store/store.hpp"

namespace atlas::store {

struct Bucket {
  double x = 0;  // x of the last point in the bucket
  double min = 0;
  double max = 0;
  double last = 0;
  std::int64_t count = 0;
};

// Downsamples `points` (ascending x) into at most `max_points` buckets over [from, to].
// Bucket edges span the first to the last x of `points`.
std::vector<Bucket> Downsample(const std::vector<SeriesPoint>& points, std::size_t max_points);

}  // namespace atlas::store
