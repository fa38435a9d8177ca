#!/usr/bin/env bash
# Builds the dashboard (web/: React + TypeScript + Vite) into web/dist, which atlasd serves at /.
# `npm ci` runs only when web/package-lock.json changed since the last install; the TypeScript
# API client is regenerated from docs/openapi.yaml on every build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "Dashboard (web/) into web/dist/"
command -v npm >/dev/null || die "npm not found: run scripts/setup.sh (it installs Node.js)"
want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
have=""
[ -f web/node_modules/.package-lock.sha256 ] && have=$(cat web/node_modules/.package-lock.sha256)
if [ "$want" != "$have" ]; then
  info "npm ci (web/package-lock.json changed)"
  (cd web && npm ci --no-audit --no-fund)
  echo "$want" > web/node_modules/.package-lock.sha256
else
  info "npm packages already installed"
fi
(cd web && npm run --silent build)
done_msg "built: web/dist (served by atlasd at /)"
