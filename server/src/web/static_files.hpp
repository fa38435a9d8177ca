// Serves the built dashboard (the static files Vite writes to web/dist) at `/`.
//
// Routes are registered after the API's, and each matches a path the API never uses, so the
// dashboard can never shadow /api/ or /healthz. Files are read from disk on each request (a
// rebuilt dashboard shows without a restart); nothing is cached in memory. Stateless and
// thread-safe: the handlers only read files under the configured directory.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "http/http.hpp"

namespace atlas::web {

// How long a browser may keep a response.
enum class CachePolicy {
  kRevalidate,  // index.html and other unhashed files: "no-cache" (always revalidate)
  kImmutable,   // Vite's content-hashed files under assets/: cached for a year
};

// The dashboard directory to use: `flag` when not empty, else $ATLAS_WEB_DIR when set, else the
// build's default (the source tree's web/dist).
std::string ResolveWebDir(const std::string& flag);

// The media type for a file name, by extension; "application/octet-stream" when unknown.
std::string_view ContentTypeFor(std::string_view file_name);

// True when `name` is one plain file name: 1-255 characters of A-Z a-z 0-9 . _ - that is not
// "." or ".." and does not start with a dot. Anything else (slashes, "..", percent tricks after
// decoding) is refused before touching the file system.
bool IsSafeFileName(std::string_view name);

// The file `root/sub/name` as a 200 response with its content type and cache headers, or
// nullopt when the name is unsafe or the file does not exist or cannot be read.
std::optional<http::Response> ServeFile(const std::filesystem::path& root, std::string_view sub,
                                        std::string_view name, CachePolicy cache);

// Registers GET /, /index.html, /assets/{file}, /{file} (top-level files such as favicon.svg)
// and the dashboard's client-side routes (/runs/{id}, /compare), which answer index.html so a
// reload or a shared link opens the right page. Returns false (and registers a "/" that says
// how to build the dashboard) when `dir` holds no index.html.
bool AddRoutes(http::Router& router, const std::filesystem::path& dir);

}  // namespace atlas::web
