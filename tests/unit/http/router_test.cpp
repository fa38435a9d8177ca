#include <gtest/gtest.h>

#include <stdexcept>

#include "bodies.hpp"
#include "http/http.hpp"
#include "nlohmann/json.hpp"

namespace atlas::http {
namespace {

using testing::Text;

Request Make(std::string method, std::string target) {
  Request request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.path = request.target.substr(0, request.target.find('?'));
  return request;
}

nlohmann::json BodyOf(const Response& response) { return nlohmann::json::parse(response.body); }

std::optional<std::string> HeaderOf(const Response& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

TEST(Router, CapturesDecodedPathParameters) {
  Router router;
  router.Add("GET", "/api/v1/runs/{id}/series/{name}",
             [](const Request& r) { return Text(r.params.at("id") + "|" + r.params.at("name")); });
  Request request = Make("GET", "/api/v1/runs/run%201/series/loss%2Fval?x=1");
  const Response response = router.Dispatch(request);
  EXPECT_EQ(response.status, 200u);
  // The encoded slash stays inside its segment instead of splitting the path.
  EXPECT_EQ(response.body, "run 1|loss/val");
  EXPECT_EQ(request.params.at("id"), "run 1");
}

TEST(Router, LiteralSegmentsMustMatchExactly) {
  Router router;
  router.Add("GET", "/runs/{id}", [](const Request&) { return Text("run"); });
  router.Add("GET", "/runs", [](const Request&) { return Text("list"); });
  Request list = Make("GET", "/runs");
  EXPECT_EQ(router.Dispatch(list).body, "list");
  Request one = Make("GET", "/runs/7");
  EXPECT_EQ(router.Dispatch(one).body, "run");
  // A capture never matches an empty segment, and extra segments do not match.
  Request trailing = Make("GET", "/runs/");
  EXPECT_EQ(router.Dispatch(trailing).status, 404u);
  Request deeper = Make("GET", "/runs/7/x");
  EXPECT_EQ(router.Dispatch(deeper).status, 404u);
}

TEST(Router, FallsBackToThePathWhenThereIsNoTarget) {
  Router router;
  router.Add("GET", "/runs/{id}", [](const Request& r) { return Text(r.params.at("id")); });
  Request request;
  request.method = "GET";
  request.path = "/runs/abc";
  EXPECT_EQ(router.Dispatch(request).body, "abc");
}

TEST(Router, UnknownPathIs404) {
  Router router;
  router.Add("GET", "/healthz", [](const Request&) { return Text("ok"); });
  Request request = Make("GET", "/nope");
  const Response response = router.Dispatch(request);
  EXPECT_EQ(response.status, 404u);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(BodyOf(response)["error"], "not_found");
  EXPECT_EQ(BodyOf(response)["field"], "path");
}

TEST(Router, OtherMethodIs405WithAllowHeader) {
  Router router;
  router.Add("PUT", "/runs/{id}", [](const Request&) { return Text("put"); });
  router.Add("GET", "/runs/{id}", [](const Request&) { return Text("get"); });
  router.Add("POST", "/other", [](const Request&) { return Text("post"); });
  Request request = Make("DELETE", "/runs/1");
  const Response response = router.Dispatch(request);
  EXPECT_EQ(response.status, 405u);
  EXPECT_EQ(BodyOf(response)["error"], "method_not_allowed");
  EXPECT_EQ(HeaderOf(response, "Allow"), "GET, PUT");
}

TEST(Router, ThrowingHandlerGives500AndRouterKeepsWorking) {
  Router router;
  router.Add("GET", "/boom",
             [](const Request&) -> Response { throw std::runtime_error("database exploded"); });
  router.Add("GET", "/fine", [](const Request&) { return Text("fine"); });
  Request boom = Make("GET", "/boom");
  const Response response = router.Dispatch(boom);
  EXPECT_EQ(response.status, 500u);
  EXPECT_EQ(BodyOf(response)["error"], "internal");
  // The exception text stays in the log; clients get a generic reason.
  EXPECT_EQ(response.body.find("database exploded"), std::string::npos);
  Request fine = Make("GET", "/fine");
  EXPECT_EQ(router.Dispatch(fine).body, "fine");
}

TEST(Router, MalformedTargetIs400) {
  Router router;
  router.Add("GET", "/runs/{id}", [](const Request&) { return Text("run"); });
  Request request = Make("GET", "/runs/%zz");
  const Response response = router.Dispatch(request);
  EXPECT_EQ(response.status, 400u);
  EXPECT_EQ(BodyOf(response)["field"], "target");
}

TEST(Request, QueryReturnsTheValueOrNothing) {
  Request request;
  request.query = {{"limit", "5"}, {"empty", ""}};
  EXPECT_EQ(request.Query("limit"), "5");
  EXPECT_EQ(request.Query("empty"), "");
  EXPECT_FALSE(request.Query("missing").has_value());
}

TEST(ErrorResponse, EscapesItsFieldsAsJson) {
  const Response response =
      ErrorResponse(422, "invalid", "records[0].\"loss\"", "line1\nline2 \\ \x01 bad\xff");
  EXPECT_EQ(response.status, 422u);
  EXPECT_EQ(response.content_type, "application/json");
  const nlohmann::json body = BodyOf(response);
  EXPECT_EQ(body["error"], "invalid");
  EXPECT_EQ(body["field"], "records[0].\"loss\"");
  // Invalid UTF-8 is replaced rather than making the body unparseable.
  const std::string valid_prefix = "line1\nline2 \\ \x01 bad";
  EXPECT_EQ(body["reason"].get<std::string>().substr(0, valid_prefix.size()), valid_prefix);
}

}  // namespace
}  // namespace atlas::http
