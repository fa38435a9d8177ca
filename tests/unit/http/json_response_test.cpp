// The shared JSON response and Status-to-HTTP error mapping (http/json_response.hpp).
#include "http/json_response.hpp"

#include <gtest/gtest.h>

namespace atlas::http {
namespace {

TEST(JsonResponseTest, SerialisesBodyWithStatusAndJsonType) {
  const Response r = JsonResponse(201, {{"id", "r1"}, {"n", 3}});
  EXPECT_EQ(r.status, 201U);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(r.body), (nlohmann::json{{"id", "r1"}, {"n", 3}}));
}

TEST(JsonResponseTest, ReplacesInvalidUtf8InsteadOfThrowing) {
  const Response r = JsonResponse(200, {{"name", std::string("ok\xff")}});
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(nlohmann::json::parse(r.body)["name"], "ok\xef\xbf\xbd");
}

struct Mapping {
  Status status;
  unsigned http_status = 0;
  const char* error = "";
};

TEST(StoreErrorTest, MapsEachStatusCodeToItsHttpError) {
  const Mapping cases[] = {
      {Status::NotFound("no run r9"), 404, "not_found"},
      {Status::Conflict("already settled"), 409, "conflict"},
      {Status::InvalidArgument("bad limit"), 422, "invalid_field"},
      {Status::Unavailable("store closed"), 503, "unavailable"},
      {Status::Internal("disk on fire"), 500, "internal"},
  };
  for (const Mapping& c : cases) {
    const Response r = StoreError(c.status);
    EXPECT_EQ(r.status, c.http_status) << c.status.message();
    const nlohmann::json body = nlohmann::json::parse(r.body);
    EXPECT_EQ(body["error"], c.error);
    EXPECT_EQ(body["reason"], c.status.message());
  }
}

}  // namespace
}  // namespace atlas::http
