#!/usr/bin/env bash
# GPU energy check (issue 5): on an NVIDIA machine, a short training whose per-epoch GPU energy
# from Atlas is compared with NVML's counter read directly around each epoch; target within 2%.
# Prints the per-epoch error. On a machine without an NVIDIA GPU it says so and exits 0.
#   bench/gpu_energy.sh [--epochs 5] [--steps 200] [--target 0.02]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
if ! command -v nvidia-smi >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q libnvidia-ml.so.1; then
  echo "gpu_energy: no NVIDIA driver on this machine (no nvidia-smi, no libnvidia-ml.so.1); nothing to check"
  exit 0
fi
exec "$PYTHON" bench/energy/gpu_energy.py "$@"
