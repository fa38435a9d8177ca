#include "http/url.hpp"

#include <gtest/gtest.h>

namespace atlas::http {
namespace {

TEST(PercentDecode, DecodesEscapesOfEitherCase) {
  EXPECT_EQ(PercentDecode("a%20b%2fc%2F", false), "a b/c/");
  EXPECT_EQ(PercentDecode("%e2%82%ac", false), "\xe2\x82\xac");
  EXPECT_EQ(PercentDecode("", false), "");
  EXPECT_EQ(PercentDecode("%00", false), std::string(1, '\0'));
}

TEST(PercentDecode, PlusIsSpaceOnlyWhenAsked) {
  EXPECT_EQ(PercentDecode("a+b%2B", true), "a b+");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
}

TEST(PercentDecode, RejectsMalformedEscapes) {
  for (const char* bad : {"%", "%4", "a%zz", "%g1", "abc%", "%%41", "x%4"}) {
    EXPECT_FALSE(PercentDecode(bad, false).has_value()) << bad;
    EXPECT_FALSE(PercentDecode(bad, true).has_value()) << bad;
  }
}

TEST(SplitTarget, SplitsAtTheFirstQuestionMark) {
  const auto parts = SplitTarget("/a/b?x=1?y");
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->path, "/a/b");
  EXPECT_EQ(parts->query, "x=1?y");

  const auto no_query = SplitTarget("/a");
  ASSERT_TRUE(no_query.has_value());
  EXPECT_EQ(no_query->path, "/a");
  EXPECT_EQ(no_query->query, "");
}

TEST(SplitTarget, RejectsTargetsNotInOriginForm) {
  EXPECT_FALSE(SplitTarget("").has_value());
  EXPECT_FALSE(SplitTarget("*").has_value());
  EXPECT_FALSE(SplitTarget("http://host/a").has_value());
}

TEST(DecodePathSegments, DecodesEachSegmentAfterSplitting) {
  const auto segments = DecodePathSegments("/a/b%2Fc/%20/");
  ASSERT_TRUE(segments.has_value());
  EXPECT_EQ(*segments, (std::vector<std::string>{"a", "b/c", " ", ""}));
  EXPECT_EQ(*DecodePathSegments("/"), (std::vector<std::string>{""}));
  EXPECT_FALSE(DecodePathSegments("/a/%zz").has_value());
}

TEST(DecodePath, KeepsPlusLiteral) {
  EXPECT_EQ(DecodePath("/runs/a+b%20c"), "/runs/a+b c");
  EXPECT_FALSE(DecodePath("/runs/%2").has_value());
}

TEST(ParseQuery, DecodesKeysAndValuesAndLastWins) {
  const auto query = ParseQuery("a=1&b=x+y&flag&a=2&&d=%3D%26&e=&f=a=b");
  ASSERT_TRUE(query.has_value());
  const std::map<std::string, std::string> expected = {{"a", "2"},  {"b", "x y"}, {"flag", ""},
                                                       {"d", "=&"}, {"e", ""},    {"f", "a=b"}};
  EXPECT_EQ(*query, expected);
}

TEST(ParseQuery, EmptyQueryHasNoParameters) {
  const auto query = ParseQuery("");
  ASSERT_TRUE(query.has_value());
  EXPECT_TRUE(query->empty());
}

TEST(ParseQuery, RejectsMalformedEscapesInKeyOrValue) {
  EXPECT_FALSE(ParseQuery("a=%zz").has_value());
  EXPECT_FALSE(ParseQuery("%4=1").has_value());
  EXPECT_FALSE(ParseQuery("ok=1&bad=%").has_value());
}

}  // namespace
}  // namespace atlas::http
