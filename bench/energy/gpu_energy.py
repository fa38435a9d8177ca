"""GPU energy check: Atlas's per-epoch GPU energy against NVML's counter read directly.

Trains a small convolutional network on synthetic data on CUDA for a few epochs. Around each
epoch (after a device synchronisation) it reads every measured GPU's total-energy counter
through its own NVML handle (nvidia-ml-py), and compares the difference with the epoch's GPU
energy entries that Atlas's monitor produced (AtlasEnergy, the Observer's backend, driven at the
same epoch boundaries). Prints one line per epoch with the relative error; exits 1 when an epoch
misses the target (2% by default), 0 when all meet it, and 0 with a message when there is no
NVIDIA GPU (nothing to check).

    python bench/energy/gpu_energy.py [--epochs 5] [--steps 200] [--target 0.02]
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import time
from typing import Any


def _nvml() -> Any:
    """libnvidia-ml through ctypes (no Python package needed); None without a driver."""
    try:
        lib = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None
    if lib.nvmlInit_v2() != 0:
        return None
    return lib


def _counter_mj(lib: Any, index: int) -> int:
    handle = ctypes.c_void_p()
    if lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)) != 0:
        raise RuntimeError(f"NVML: no device {index}")
    mj = ctypes.c_ulonglong()
    rc = lib.nvmlDeviceGetTotalEnergyConsumption(handle, ctypes.byref(mj))
    if rc != 0:
        raise RuntimeError(f"NVML: device {index} has no energy counter (error {rc})")
    return int(mj.value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200, help="steps per epoch")
    parser.add_argument("--target", type=float, default=0.02, help="max relative error")
    args = parser.parse_args()

    import torch

    lib = _nvml()
    if lib is None or not torch.cuda.is_available():
        print("gpu_energy: no NVIDIA GPU here (NVML or CUDA unavailable); nothing to check")
        return 0
    from atlas_observatory import ObserverConfig
    from atlas_observatory.energy import AtlasEnergy

    device = torch.device("cuda:0")
    config = ObserverConfig(offline=True)
    tracker = AtlasEnergy(config)
    info = tracker.describe()
    gpus = [d for d in info["devices"] if d["component"] == "gpu"]
    print(f"gpu_energy: Atlas measures {[(d['device'], d['name'], d['method']) for d in gpus]}")

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(64, 128, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 10),
    ).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(256, 3, 64, 64, device=device)
    y = torch.randint(0, 10, (256,), device=device)
    gpu_devices = [f"gpu-{i}" for i in range(torch.cuda.device_count())]

    tracker.start()
    failures = 0
    for epoch in range(args.epochs):
        torch.cuda.synchronize()
        before = {d: _counter_mj(lib, int(d.split("-")[1])) for d in gpu_devices}
        tracker.end_epoch(step_open=False)  # the epoch's window starts here, like NVML's
        start = time.perf_counter()
        for _ in range(args.steps):
            loss: Any = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()  # Tensor.backward is untyped in torch's stubs
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        entries = tracker.end_epoch(step_open=False)
        after = {d: _counter_mj(lib, int(d.split("-")[1])) for d in gpu_devices}
        seconds = time.perf_counter() - start
        for entry in entries:
            if entry["component"] != "gpu" or entry["device"] not in before:
                continue
            nvml_j = (after[entry["device"]] - before[entry["device"]]) / 1000.0
            atlas_j = float(entry["joules"])
            error = (atlas_j - nvml_j) / nvml_j if nvml_j > 0 else float("nan")
            ok = abs(error) <= args.target
            failures += 0 if ok else 1
            print(
                f"epoch {epoch} {entry['device']} ({entry['method']}): {seconds:.1f} s, "
                f"NVML {nvml_j:.1f} J, Atlas {atlas_j:.1f} J, error {100 * error:+.2f}% "
                f"{'ok' if ok else 'MISSED'} (target {100 * args.target:.0f}%)"
            )
    tracker.stop()
    lib.nvmlShutdown()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
