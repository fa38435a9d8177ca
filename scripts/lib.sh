# Shared helpers for the scripts: progress lines that stand out in long build logs.
# Each step line carries the wall-clock time, so a slow CI log shows which phase took the time.
step() { printf '\n\033[1;34m==> [%s] %s\033[0m\n' "$(date -u +%H:%M:%S)" "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '\033[1;33m    warning: %s\033[0m\n' "$*" >&2; }
die() { printf '\033[1;31merror: %s\033[0m\n' "$*" >&2; exit 1; }
done_msg() { printf '\033[1;32m==> %s\033[0m\n' "$*"; }

# Configures the C++ tree into directory $1 with the options every build of ours uses; further
# CMake arguments follow it.
configure_cxx() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DATLAS_BUILD_TESTS=ON -DATLAS_BUILD_BENCH=ON "$@"
}
