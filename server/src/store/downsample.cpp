#include "store/downsample.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace atlas::store {

double SeriesMin(double a, double b) {
  if (std::isnan(a)) return b;
  if (std::isnan(b)) return a;
  if (a != b) return b < a ? b : a;
  // Equal values differ at most in the sign of zero; the negative one is the minimum.
  return std::signbit(a) ? a : b;
}

double SeriesMax(double a, double b) {
  // A NaN wins the max, so one NaN among thousands of points still shows in its bucket.
  if (std::isnan(a)) return a;
  if (std::isnan(b)) return b;
  if (a != b) return b > a ? b : a;
  return std::signbit(a) ? b : a;
}

BucketBuilder::BucketBuilder(double lo, double hi, std::int64_t total, std::size_t max_points)
    : lo_(lo),
      width_(max_points > 0 ? (hi - lo) / static_cast<double>(max_points) : 0),
      max_points_(max_points),
      keep_all_(total <= static_cast<std::int64_t>(max_points)) {
  out_.reserve(std::min(static_cast<std::size_t>(std::max<std::int64_t>(total, 0)), max_points));
}

std::size_t BucketBuilder::Index(double x, std::int64_t position) const {
  // Each point is its own bucket when nothing needs merging; otherwise the bucket index is the
  // point's position in [lo, hi], with hi folded into the last bucket. This index never
  // decreases as x grows (subtraction, division and floor are all monotonic in IEEE
  // arithmetic), so a run of points whose first and last fall into one bucket lies in it whole.
  if (keep_all_) return static_cast<std::size_t>(position);
  std::size_t index = width_ > 0 ? static_cast<std::size_t>(std::floor((x - lo_) / width_)) : 0;
  return std::min(index, max_points_ - 1);
}

bool BucketBuilder::Fits(const SeriesSummary& summary) const {
  if (max_points_ == 0) return true;
  if (keep_all_) return summary.count <= 1;
  return Index(summary.first_x, 0) == Index(summary.last_x, 0);
}

void BucketBuilder::AddPoint(const SeriesPoint& point) {
  AddSummary({point.x, point.x, point.y, point.y, point.y, 1});
}

void BucketBuilder::AddSummary(const SeriesSummary& summary) {
  if (max_points_ == 0 || summary.count <= 0) return;
  Add(Index(summary.last_x, added_), summary);
  added_ += summary.count;
}

void BucketBuilder::Add(std::size_t index, const SeriesSummary& summary) {
  if (out_.empty() || index != current_) {
    out_.push_back({summary.last_x, summary.min, summary.max, summary.last, summary.count});
    current_ = index;
    return;
  }
  Bucket& b = out_.back();
  b.x = summary.last_x;
  b.min = SeriesMin(b.min, summary.min);
  b.max = SeriesMax(b.max, summary.max);
  b.last = summary.last;
  b.count += summary.count;
}

std::vector<Bucket> Downsample(const std::vector<SeriesPoint>& points, std::size_t max_points) {
  if (points.empty()) return {};
  BucketBuilder builder(points.front().x, points.back().x, static_cast<std::int64_t>(points.size()),
                        max_points);
  for (const SeriesPoint& p : points) builder.AddPoint(p);
  return std::move(builder).Take();
}

}  // namespace atlas::store
