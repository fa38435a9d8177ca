"""A loop the pitch's observer.step() cannot express: automatic mixed precision (bfloat16
autocast on the CPU, float16 with a GradScaler on CUDA) and gradient accumulation over four
micro-batches, reported with observer.log_step() after each optimizer step.

Usage: python examples/custom_loop.py [--epochs 3] [--accumulate 4]
(atlasd at $ATLAS_URL or 127.0.0.1:7878)
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from atlas_observatory import Observer, ObserverConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--accumulate", type=int, default=4, help="micro-batches per step")
    parser.add_argument("--run-name", default="custom-loop")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    amp_dtype = torch.float16 if device == "cuda" else torch.bfloat16
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    micro_batch = 16
    loader = DataLoader(TensorDataset(x, y), batch_size=micro_batch, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    # A GradScaler only does something for float16 on CUDA; disabled it passes values through.
    scaler = torch.amp.GradScaler(device, enabled=amp_dtype == torch.float16)

    observer = Observer(project="examples", run_name=args.run_name, config=ObserverConfig())
    observer.log_hyperparameters(
        {
            "batch_size": micro_batch * args.accumulate,
            "micro_batch": micro_batch,
            "accumulate": args.accumulate,
            "num_epochs": args.epochs,
            "learning_rate": 0.05,
            "optimizer": "SGD",
            "amp_dtype": str(amp_dtype),
        }
    )
    observer.register_model(model)
    for epoch in observer.epochs(args.epochs):
        accumulated = 0.0
        for index, (xb, yb) in enumerate(loader, start=1):
            xb, yb = xb.to(device), yb.to(device)
            with torch.autocast(device_type=device, dtype=amp_dtype):
                loss = nn.functional.cross_entropy(model(xb), yb) / args.accumulate
            scaler.scale(loss).backward()
            accumulated += loss.detach()
            if index % args.accumulate:
                continue
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            # One record per optimizer step: the summed loss of its micro-batches, the samples it
            # saw, and any number of extra metrics (here the loss scale).
            observer.log_step(
                loss=accumulated,
                batch_size=micro_batch * args.accumulate,
                lr=optimizer.param_groups[0]["lr"],
                loss_scale=scaler.get_scale() if scaler.is_enabled() else 1.0,
            )
            accumulated = 0.0
        observer.end_epoch()
        print(f"  epoch {epoch + 1}/{args.epochs} done", flush=True)
    observer.finish()
    print(f"run {observer.run_id} streamed to atlasd")


if __name__ == "__main__":
    main()
