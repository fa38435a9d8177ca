"""A short, paced training for the dashboard's end-to-end test (web/e2e/dashboard.test.mjs).

A small CNN on scikit-learn's digits, streamed to atlasd ($ATLAS_URL) by the Observer. Each step
sleeps a little so the run stays live long enough for the browser to watch it; the loop honours
a stop from the dashboard (observer.should_stop) and then finishes the run as stopped.

Usage: python web/e2e/train.py --epochs 30 --step-sleep 0.03 --run-name e2e-digits
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from atlas_observatory import Observer, ObserverConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--step-sleep", type=float, default=0.03)
    parser.add_argument("--run-name", default="e2e-digits")
    parser.add_argument(
        "--no-energy",
        action="store_true",
        help="do not track energy (for a server older than the energy step fields)",
    )
    args = parser.parse_args()

    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target)
    split = int(0.8 * len(x))
    loader = DataLoader(TensorDataset(x[:split], y[:split]), batch_size=64, shuffle=True)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    config = ObserverConfig(track_sustainability=not args.no_energy)
    observer = Observer(project="e2e", run_name=args.run_name, config=config)
    observer.log_hyperparameters({"num_epochs": args.epochs, "batch_size": 64, "lr": 3e-3})
    observer.register_model(model)
    print(f"run {observer.run_id}", flush=True)

    stopped = False
    for _ in observer.epochs(args.epochs):
        for xb, yb in loader:
            if observer.should_stop:
                stopped = True
                break
            observer.step(model, xb, yb)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            time.sleep(args.step_sleep)
        if stopped:
            break
        with torch.no_grad():
            logits = model(x[split:])
            val_loss = nn.functional.cross_entropy(logits, y[split:]).item()
            val_acc = (logits.argmax(1) == y[split:]).float().mean().item()
        observer.end_epoch(val_loss=val_loss, val_accuracy=val_acc)
    # A stop may land in the loop (a step boundary) or at an epoch's end, where observer.epochs
    # ends the loop itself: either way the run is stopped, and the output says so.
    status = "stopped" if stopped or observer.should_stop else "completed"
    observer.finish(status=status)
    print(status, flush=True)


if __name__ == "__main__":
    main()
