#!/usr/bin/env bash
# One-time set-up of everything Atlas builds and tests with, on Debian 12 / Ubuntu 22.04+.
# Idempotent: each step checks what is already there and skips it.
#   scripts/setup.sh          system packages + the Python virtual environment (.venv)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# C++ toolchain and libraries (Debian -dev packages; nothing vendored), linters, Python.
APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates
  libboost-dev libboost-system-dev nlohmann-json3-dev libsimdjson-dev libspdlog-dev libfmt-dev
  libcli11-dev libsqlite3-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev libgtest-dev
  clang-format clang-tidy
  python3 python3-venv python3-dev
  chromium
)

install_system_packages() {
  step "System packages"
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    info "all ${#APT_PACKAGES[@]} packages present"
    return
  fi
  info "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Node.js and npm for the dashboard (web/): Debian's packages (Node 18 on Debian 12) unless a Node
# is already installed (e.g. from NodeSource), whose npm must not be replaced by Debian's.
install_node() {
  step "Node.js (the dashboard's build and tests)"
  if command -v node >/dev/null && command -v npm >/dev/null; then
    info "node $(node --version), npm $(npm --version) present"
    return
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm
}

setup_python() {
  step "Python virtual environment (.venv)"
  if [ ! -x .venv/bin/python ]; then
    info "creating .venv with $(python3 --version)"
    python3 -m venv .venv
  fi
  # Reinstall only when the pinned requirements changed since the last successful install.
  local want have=""
  want=$(cat python/requirements.txt python/constraints.txt | sha256sum | cut -d' ' -f1)
  [ -f .venv/.requirements.sha256 ] && have=$(cat .venv/.requirements.sha256)
  if [ "$want" = "$have" ]; then
    info "pinned packages already installed"
    return
  fi
  info "installing pinned packages (torch is large: the first time takes a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --progress-bar off -r python/requirements.txt \
    -c python/constraints.txt
  echo "$want" > .venv/.requirements.sha256
}

install_system_packages
install_node
setup_python
done_msg "set-up complete"
