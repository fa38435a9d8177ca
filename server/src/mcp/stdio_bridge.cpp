#include "mcp/stdio_bridge.hpp"

#include <istream>
#include <ostream>

#include "mcp/server.hpp"

namespace atlas::mcp {
namespace {

std::string Trim(const std::string& line) {
  std::size_t end = line.size();
  while (end > 0 && (line[end - 1] == '\r' || line[end - 1] == ' ')) --end;
  return line.substr(0, end);
}

}  // namespace

int RunStdioBridge(const std::string& server_url, agent::HttpClient& http, std::istream& in,
                   std::ostream& out, std::ostream& err) {
  std::string base = server_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  agent::HttpPost post;
  post.url = base + "/mcp";
  post.headers = {{"Content-Type", "application/json"},
                  {"Accept", "application/json, text/event-stream"}};
  post.connect_timeout = std::chrono::milliseconds(5000);
  post.idle_timeout = std::chrono::milliseconds(120000);
  post.total_timeout = std::chrono::milliseconds(300000);
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty()) continue;
    const Json message = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    post.body = line;
    std::string reply;
    Status s = http.Post(post, [&](std::string_view chunk) {
      reply.append(chunk);
      return true;
    });
    if (!s.ok()) {
      // atlasd answers a bad message with a 4xx whose body is the JSON-RPC error; other
      // failures mean atlasd is unreachable or broken.
      err << "atlas mcp: " << s.message() << "\n";
      if (message.is_object() && message.contains("id") && message.contains("method")) {
        out << ErrorMessage(message["id"], kInternalError,
                            "atlasd at " + base + " did not answer: " + s.message())
                   .dump()
            << "\n"
            << std::flush;
      } else if (message.is_discarded()) {
        out << ErrorMessage(nullptr, kParseError, "parse error: not JSON").dump() << "\n"
            << std::flush;
      } else if (!message.is_object()) {
        out << ErrorMessage(nullptr, kInvalidRequest, "a JSON-RPC message must be an object").dump()
            << "\n"
            << std::flush;
      }
      continue;
    }
    if (Trim(reply).empty()) continue;  // a notification: nothing to relay
    out << Trim(reply) << "\n" << std::flush;
  }
  return 0;
}

}  // namespace atlas::mcp
