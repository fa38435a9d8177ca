#include "store/downsample.hpp"

#include <gtest/gtest.h>

namespace atlas::store {
namespace {

std::vector<SeriesPoint> Ramp(int n) {
  std::vector<SeriesPoint> points;
  points.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) points.push_back({static_cast<double>(i), static_cast<double>(i)});
  return points;
}

TEST(Downsample, EmptySeriesGivesNoBuckets) { EXPECT_TRUE(Downsample({}, 10).empty()); }

TEST(Downsample, ShortSeriesComesBackUnchanged) {
  auto buckets = Downsample(Ramp(5), 10);
  ASSERT_EQ(buckets.size(), 5u);
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    EXPECT_EQ(buckets[i].x, static_cast<double>(i));
    EXPECT_EQ(buckets[i].count, 1);
    EXPECT_EQ(buckets[i].min, buckets[i].max);
  }
}

TEST(Downsample, NeverExceedsTheRequestedPoints) {
  auto buckets = Downsample(Ramp(100000), 1000);
  EXPECT_LE(buckets.size(), 1000u);
  std::int64_t total = 0;
  for (const auto& b : buckets) total += b.count;
  EXPECT_EQ(total, 100000);
}

TEST(Downsample, ASpikeSurvivesInTheMax) {
  auto points = Ramp(10000);
  for (auto& p : points) p.y = 1.0;
  points[4321].y = 500.0;
  points[7000].y = -3.0;
  auto buckets = Downsample(points, 50);
  double max = 0, min = 1;
  for (const auto& b : buckets) {
    max = std::max(max, b.max);
    min = std::min(min, b.min);
  }
  EXPECT_EQ(max, 500.0);
  EXPECT_EQ(min, -3.0);
}

TEST(Downsample, LastIsTheValueOfTheLastPointInTheBucket) {
  auto buckets = Downsample(Ramp(1000), 10);
  ASSERT_EQ(buckets.size(), 10u);
  EXPECT_EQ(buckets.back().last, 999.0);
  EXPECT_EQ(buckets.back().x, 999.0);
  EXPECT_EQ(buckets.front().min, 0.0);
}

}  // namespace
}  // namespace atlas::store
