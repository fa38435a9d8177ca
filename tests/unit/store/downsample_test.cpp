#include "store/downsample.hpp"

#include <cmath>

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

TEST(Downsample, MinSkipsNaNWhileMaxShowsIt) {
  const double nan = std::nan("");
  std::vector<SeriesPoint> points = {{0, nan}, {1, 2.0}, {2, 3.0}, {3, -1.0},
                                     {4, nan}, {5, nan}, {6, 4.0}, {7, 5.0}};
  auto buckets = Downsample(points, 4);
  ASSERT_EQ(buckets.size(), 4u);
  EXPECT_EQ(buckets[0].min, 2.0);  // a NaN first in the bucket does not hide the number
  EXPECT_TRUE(std::isnan(buckets[0].max));
  EXPECT_EQ(buckets[0].last, 2.0);
  EXPECT_EQ(buckets[1].min, -1.0);
  EXPECT_EQ(buckets[1].max, 3.0);
  EXPECT_TRUE(std::isnan(buckets[2].min));  // only NaN in this bucket
  EXPECT_TRUE(std::isnan(buckets[2].max));
  EXPECT_TRUE(std::isnan(buckets[2].last));
  EXPECT_EQ(buckets[3].min, 4.0);
  EXPECT_EQ(buckets[3].max, 5.0);
}

TEST(Downsample, SeriesMinAndMaxDoNotDependOnGrouping) {
  const double nan = std::nan("");
  const std::vector<double> values = {nan, 0.0, -0.0, 3.0, nan, -2.5, -0.0, 0.0};
  // Every split point: folding the two halves separately then merging gives the same result.
  for (std::size_t split = 0; split <= values.size(); ++split) {
    auto fold = [&](std::size_t from, std::size_t to, double (*op)(double, double)) {
      double acc = nan;
      for (std::size_t i = from; i < to; ++i) acc = op(acc, values[i]);
      return acc;
    };
    const double min =
        SeriesMin(fold(0, split, &SeriesMin), fold(split, values.size(), &SeriesMin));
    const double max =
        SeriesMax(fold(0, split, &SeriesMax), fold(split, values.size(), &SeriesMax));
    EXPECT_EQ(min, -2.5);
    EXPECT_TRUE(std::isnan(max));
  }
  EXPECT_TRUE(std::signbit(SeriesMin(0.0, -0.0)));
  EXPECT_TRUE(std::signbit(SeriesMin(-0.0, 0.0)));
  EXPECT_FALSE(std::signbit(SeriesMax(0.0, -0.0)));
  EXPECT_FALSE(std::signbit(SeriesMax(-0.0, 0.0)));
  EXPECT_TRUE(std::isnan(SeriesMin(nan, nan)));
  EXPECT_EQ(SeriesMin(nan, 1.0), 1.0);
  EXPECT_TRUE(std::isnan(SeriesMax(1.0, nan)));
}

// Feeds `points` to a BucketBuilder as summaries of `run` consecutive points where they fit,
// as points where they do not.
std::vector<Bucket> BuildFromRuns(const std::vector<SeriesPoint>& points, std::size_t max_points,
                                  std::size_t run, std::size_t* whole) {
  BucketBuilder builder(points.front().x, points.back().x, static_cast<std::int64_t>(points.size()),
                        max_points);
  for (std::size_t start = 0; start < points.size(); start += run) {
    const std::size_t end = std::min(points.size(), start + run);
    SeriesSummary s{points[start].x, points[end - 1].x, points[start].y,
                    points[start].y, points[end - 1].y, static_cast<std::int64_t>(end - start)};
    for (std::size_t i = start; i < end; ++i) {
      s.min = SeriesMin(s.min, points[i].y);
      s.max = SeriesMax(s.max, points[i].y);
    }
    if (builder.Fits(s)) {
      builder.AddSummary(s);
      ++*whole;
      continue;
    }
    for (std::size_t i = start; i < end; ++i) builder.AddPoint(points[i]);
  }
  return std::move(builder).Take();
}

TEST(BucketBuilder, FittingSummariesGiveWhatThePointsGive) {
  std::vector<SeriesPoint> points;
  points.reserve(5000);
  for (int i = 0; i < 5000; ++i) {
    // Repeated x values and an uneven spread, as steps stored again after a resume give.
    const int x = i / 3 + (i > 2500 ? 700 : 0);
    points.push_back({static_cast<double>(x), static_cast<double>((i * 7919) % 1013) - 500.0});
  }
  for (std::size_t max_points : {1, 2, 7, 640, 1666, 5000, 6000}) {
    for (std::size_t run : {1, 2, 16, 100, 4999}) {
      std::size_t whole = 0;
      const std::vector<Bucket> got = BuildFromRuns(points, max_points, run, &whole);
      const std::vector<Bucket> expected = Downsample(points, max_points);
      ASSERT_EQ(got.size(), expected.size()) << max_points << " " << run;
      for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].x, expected[i].x);
        EXPECT_EQ(got[i].min, expected[i].min);
        EXPECT_EQ(got[i].max, expected[i].max);
        EXPECT_EQ(got[i].last, expected[i].last);
        EXPECT_EQ(got[i].count, expected[i].count);
      }
      // Summaries were taken whole wherever no bucket edge crosses them.
      if (run > 1 && max_points < 100) {
        EXPECT_GT(whole, 0u);
      }
    }
  }
}

}  // namespace
}  // namespace atlas::store
