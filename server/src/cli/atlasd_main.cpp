// atlasd: the Atlas server (the same as `atlas serve`).
#include <CLI/CLI.hpp>

#include "cli/logging.hpp"
#include "cli/serve_flags.hpp"

int main(int argc, char** argv) {
  using namespace atlas::cli;
  CLI::App app{"atlasd: the Atlas server (ingest, storage and queries over HTTP)"};
  app.set_version_flag("--version", std::string("atlasd ") + ATLAS_VERSION);
  ServeOptions options;
  AddServeFlags(app, options);
  CLI11_PARSE(app, argc, argv);
  ConfigureLogging();
  return Serve(options);
}
