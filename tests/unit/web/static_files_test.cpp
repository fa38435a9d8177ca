// The dashboard's static routes: content types, cache headers, the index.html fallback for
// client-side routes, refusal of unsafe names, and that the API is never shadowed.
#include "web/static_files.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace atlas::web {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> Header(const http::Response& r, const std::string& name) {
  for (const auto& [key, value] : r.headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("atlas-web-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "assets");
    Write(dir_ / "index.html", "<!doctype html><div id=root></div>");
    Write(dir_ / "assets" / "index-AbC123.js", "console.log(1)");
    Write(dir_ / "assets" / "index-AbC123.css", "body{}");
    Write(dir_ / "favicon.svg", "<svg/>");
    Write(dir_.parent_path() / "atlas-web-secret.txt", "secret");
  }
  void TearDown() override {
    fs::remove_all(dir_);
    fs::remove(dir_.parent_path() / "atlas-web-secret.txt");
  }
  static void Write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

  http::Response Get(const http::Router& router, const std::string& path) {
    http::Request req;
    req.method = "GET";
    req.target = path;
    req.path = path;
    return router.Dispatch(req);
  }

  fs::path dir_;
};

TEST_F(StaticFilesTest, ServesIndexAtRootWithoutLongCaching) {
  http::Router router;
  ASSERT_TRUE(AddRoutes(router, dir_));
  http::Response r = Get(router, "/");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body, "<!doctype html><div id=root></div>");
  EXPECT_EQ(Header(r, "Cache-Control"), "no-cache");
}

TEST_F(StaticFilesTest, HashedAssetsAreImmutableWithTheirContentType) {
  http::Router router;
  ASSERT_TRUE(AddRoutes(router, dir_));
  http::Response js = Get(router, "/assets/index-AbC123.js");
  EXPECT_EQ(js.status, 200u);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(Header(js, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(Get(router, "/assets/index-AbC123.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(Get(router, "/favicon.svg").content_type, "image/svg+xml");
}

TEST_F(StaticFilesTest, ClientRoutesFallBackToIndex) {
  http::Router router;
  ASSERT_TRUE(AddRoutes(router, dir_));
  for (const char* path : {"/runs", "/compare", "/runs/abc-123"}) {
    http::Response r = Get(router, path);
    EXPECT_EQ(r.status, 200u) << path;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8") << path;
  }
}

TEST_F(StaticFilesTest, MissingFilesAndUnsafeNamesAre404) {
  http::Router router;
  ASSERT_TRUE(AddRoutes(router, dir_));
  EXPECT_EQ(Get(router, "/assets/missing-1.js").status, 404u);
  EXPECT_EQ(Get(router, "/missing.png").status, 404u);
  EXPECT_NE(Get(router, "/assets/..").status, 200u);
  EXPECT_EQ(Get(router, "/.hidden").status, 404u);
  EXPECT_FALSE(IsSafeFileName("../atlas-web-secret.txt"));
  EXPECT_FALSE(IsSafeFileName("a/b"));
  EXPECT_FALSE(IsSafeFileName(".."));
  EXPECT_FALSE(IsSafeFileName(""));
  EXPECT_TRUE(IsSafeFileName("index-AbC_1.2.js"));
  EXPECT_FALSE(ServeFile(dir_, "assets", "../../atlas-web-secret.txt", CachePolicy::kImmutable));
}

TEST_F(StaticFilesTest, NeverShadowsTheApi) {
  http::Router router;
  router.Add("GET", "/healthz", [](const http::Request&) {
    http::Response r;
    r.body = "ok";
    return r;
  });
  ASSERT_TRUE(AddRoutes(router, dir_));
  EXPECT_EQ(Get(router, "/healthz").body, "ok");
  http::Response api = Get(router, "/api");
  EXPECT_EQ(api.status, 404u);
  EXPECT_EQ(api.content_type, "application/json");
  EXPECT_EQ(Get(router, "/api/v1/unknown").status, 404u);
  EXPECT_EQ(Get(router, "/api/v1/unknown").content_type, "application/json");
}

TEST_F(StaticFilesTest, WithoutABuildRootSaysHowToBuild) {
  http::Router router;
  EXPECT_FALSE(AddRoutes(router, dir_ / "nowhere"));
  http::Response r = Get(router, "/");
  EXPECT_EQ(r.status, 404u);
  EXPECT_NE(r.body.find("scripts/build.sh"), std::string::npos);
}

TEST(ContentTypeTest, KnownAndUnknownExtensions) {
  EXPECT_EQ(ContentTypeFor("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("a.woff2"), "font/woff2");
  EXPECT_EQ(ContentTypeFor("a.bin"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("noext"), "application/octet-stream");
}

TEST(ResolveWebDirTest, FlagWinsOverEnvironment) {
  ::setenv("ATLAS_WEB_DIR", "/from/env", 1);
  EXPECT_EQ(ResolveWebDir("/from/flag"), "/from/flag");
  EXPECT_EQ(ResolveWebDir(""), "/from/env");
  ::unsetenv("ATLAS_WEB_DIR");
  EXPECT_NE(ResolveWebDir(""), "");
}

}  // namespace
}  // namespace atlas::web
