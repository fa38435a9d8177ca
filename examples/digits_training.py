"""The training loop the demo's examples share: scikit-learn's bundled digits, upsampled, and
the pitch's Observer API around a plain PyTorch loop.

Not an example on its own: broken_cnn.py and fixed_cnn.py import it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from atlas_observatory import Observer, ObserverConfig

# The digits are 8x8; the demo trains at 16x16, closer to the inputs real CNNs see, so that
# where a network downsamples (or does not) matters for its compute.
IMAGE_SIZE = 16


@dataclass
class Split:
    train: DataLoader[tuple[torch.Tensor, ...]]
    val_x: torch.Tensor
    val_y: torch.Tensor


def digits_split(batch_size: int, seed: int = 0) -> Split:
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = nn.functional.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear")
    y = torch.tensor(digits.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    loader = DataLoader(
        TensorDataset(x[:split], y[:split]),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    return Split(loader, x[split:], y[split:])


def parse_args(description: str, default_epochs: int, default_name: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=default_epochs)
    parser.add_argument("--run-name", default=default_name)
    parser.add_argument("--project", default="demo")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    return parser.parse_args()


def train(
    model: nn.Module, args: argparse.Namespace, learning_rate: float, batch_size: int = 64
) -> str:
    """Trains `model` on the digits with the Observer; returns the run id."""
    split = digits_split(batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    config = ObserverConfig(
        track_profiler=True,
        track_memory=True,
        track_throughput=True,
        track_layer_health=True,
        track_sustainability=True,
        track_carbon_emissions=True,
        layer_health_every=10,
    )
    observer = Observer(project=args.project, run_name=args.run_name, config=config)
    observer.log_hyperparameters(
        {
            "batch_size": batch_size,
            "num_epochs": args.epochs,
            "learning_rate": learning_rate,
            "optimizer": "Adam",
        }
    )
    observer.register_model(model)
    observer.register_optimizer(optimizer)
    for epoch in observer.epochs(args.epochs):
        model.train()
        for x, y in split.train:
            observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        model.eval()
        with torch.no_grad():
            logits = model(split.val_x)
            val_loss = nn.functional.cross_entropy(logits, split.val_y).item()
            val_acc = (logits.argmax(1) == split.val_y).float().mean().item()
        observer.end_epoch(val_loss=val_loss, val_accuracy=val_acc)
        if not args.quiet:
            print(
                f"  {args.run_name} epoch {epoch + 1}/{args.epochs}: "
                f"val loss {val_loss:.3f}, val accuracy {val_acc:.3f}",
                flush=True,
            )
    observer.finish()
    run_id = observer.run_id or ""
    print(f"{args.run_name}: run {run_id} streamed to {config.server_url}", flush=True)
    return run_id
