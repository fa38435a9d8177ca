#include "web/static_files.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>

namespace atlas::web {
namespace {

constexpr std::string_view kIndex = "index.html";
constexpr std::string_view kAssets = "assets";

struct TypeByExtension {
  std::string_view extension;
  std::string_view type;
};

// What Vite emits, plus the usual static-site extras.
constexpr std::array<TypeByExtension, 17> kTypes{{
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".wasm", "application/wasm"},
}};

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::optional<std::string> ReadWholeFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return body;
}

std::string_view CacheControl(CachePolicy cache) {
  return cache == CachePolicy::kImmutable ? "public, max-age=31536000, immutable" : "no-cache";
}

http::Response NotFound(const http::Request& req) {
  return http::ErrorResponse(404, "not_found", "path", "no file " + req.path);
}

// index.html for a client-side route: the app reads the path and renders the page itself.
http::Response Index(const std::filesystem::path& dir, const http::Request& req) {
  if (auto index = ServeFile(dir, "", kIndex, CachePolicy::kRevalidate)) return *std::move(index);
  return NotFound(req);
}

// A top-level path: a file when it has an extension, else a client-side route ("/runs",
// "/compare"). "api" is never a page, so /api answers the API's kind of 404.
http::Response TopLevel(const std::filesystem::path& dir, const http::Request& req) {
  const std::string& name = req.params.at("file");
  if (name == "api") return NotFound(req);
  if (name.find('.') == std::string::npos) return Index(dir, req);
  if (auto file = ServeFile(dir, "", name, CachePolicy::kRevalidate)) return *std::move(file);
  return NotFound(req);
}

void AddNotBuiltRoute(http::Router& router, const std::filesystem::path& dir) {
  std::string message = "The Atlas dashboard is not built in " + dir.string() +
                        ".\nBuild it with scripts/build.sh (or npm ci && npm run build in web/), "
                        "or point atlasd at a built copy with --web-dir.\n";
  router.Add("GET", "/", [message](const http::Request&) {
    http::Response response;
    response.status = 404;
    response.content_type = "text/plain; charset=utf-8";
    response.body = message;
    return response;
  });
}

}  // namespace

std::string ResolveWebDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("ATLAS_WEB_DIR"); env && *env) return env;
  return ATLAS_DEFAULT_WEB_DIR;
}

std::string_view ContentTypeFor(std::string_view file_name) {
  for (const TypeByExtension& t : kTypes) {
    if (EndsWith(file_name, t.extension)) return t.type;
  }
  return "application/octet-stream";
}

bool IsSafeFileName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '.') return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

std::optional<http::Response> ServeFile(const std::filesystem::path& root, std::string_view sub,
                                        std::string_view name, CachePolicy cache) {
  if (!IsSafeFileName(name)) return std::nullopt;
  std::filesystem::path path = root;
  if (!sub.empty()) path /= sub;
  path /= name;
  std::optional<std::string> body = ReadWholeFile(path);
  if (!body) return std::nullopt;
  http::Response response;
  response.status = 200;
  response.content_type = std::string(ContentTypeFor(name));
  response.body = *std::move(body);
  response.headers.emplace_back("Cache-Control", std::string(CacheControl(cache)));
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
}

bool AddRoutes(http::Router& router, const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(dir / kIndex, ec)) {
    AddNotBuiltRoute(router, dir);
    return false;
  }
  using Req = const http::Request&;
  router.Add("GET", "/", [dir](Req r) { return Index(dir, r); });
  router.Add("GET", "/assets/{file}", [dir](Req r) {
    if (auto file = ServeFile(dir, kAssets, r.params.at("file"), CachePolicy::kImmutable)) {
      return *std::move(file);
    }
    return NotFound(r);
  });
  router.Add("GET", "/{file}", [dir](Req r) { return TopLevel(dir, r); });
  router.Add("GET", "/runs/{id}", [dir](Req r) { return Index(dir, r); });
  return true;
}

}  // namespace atlas::web
