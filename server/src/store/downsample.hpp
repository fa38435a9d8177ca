// Min/max/last downsampling of a series into at most N buckets, so spikes survive.
//
// Points arrive in ascending x order. Their x range [lo, hi] (the first and the last x) is cut
// into N equal-width buckets; each non-empty bucket reports its x (the x of its last point), the
// min, max and last y and how many points fell in it. A series with no more than N points comes
// back unchanged (one point per bucket). NaN values: min skips them (it is NaN only when every
// value in the bucket is), max is NaN when any value is, so that a single NaN among thousands of
// points stays visible; last is the bucket's last value as stored, NaN included; -0 counts as
// less than +0. These rules make a bucket's min and max independent of how its points are
// grouped, which is what lets pre-aggregated blocks stand in for their points.
//
// BucketBuilder is the same computation fed in pieces: single points, or summaries of runs of
// consecutive points (the SQLite store's step rollups) that it takes whole when they fall inside
// one bucket (Fits). Fed the same points, one by one or as fitting summaries, it gives exactly
// what Downsample gives. Pure and single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "store/store.hpp"

namespace atlas::store {

using Bucket = SeriesBucket;

// A run of consecutive points of a series (in x order), summarised.
struct SeriesSummary {
  double first_x = 0;  // x of the first point
  double last_x = 0;   // x of the last point
  double min = 0;      // SeriesMin over the values
  double max = 0;      // SeriesMax over the values
  double last = 0;     // the value of the last point
  std::int64_t count = 0;
};

// The min and max of two values as buckets fold them: NaN loses the min to any number and wins
// the max; -0 counts as less than +0. Both are commutative and associative.
double SeriesMin(double a, double b);
double SeriesMax(double a, double b);

class BucketBuilder {
 public:
  // `lo` and `hi`: the x of the first and of the last point of the whole series; `total`: how
  // many points it has. Points and summaries must then be added in x order, `total` in all.
  BucketBuilder(double lo, double hi, std::int64_t total, std::size_t max_points);

  // True when every point `summary` stands for falls into one bucket, so AddSummary may take it.
  bool Fits(const SeriesSummary& summary) const;
  void AddPoint(const SeriesPoint& point);
  // Precondition: Fits(summary).
  void AddSummary(const SeriesSummary& summary);

  std::vector<Bucket> Take() && { return std::move(out_); }

 private:
  // The bucket of the point at `x` that is the `position`-th point of the series.
  std::size_t Index(double x, std::int64_t position) const;
  void Add(std::size_t index, const SeriesSummary& summary);

  double lo_;
  double width_;
  std::size_t max_points_;
  bool keep_all_;
  std::int64_t added_ = 0;  // points added so far
  std::size_t current_ = 0;
  std::vector<Bucket> out_;
};

// Downsamples `points` (ascending x) into at most `max_points` buckets.
// Bucket edges span the first to the last x of `points`.
std::vector<Bucket> Downsample(const std::vector<SeriesPoint>& points, std::size_t max_points);

}  // namespace atlas::store
