"""The pitch's Observer API on a small CNN trained on scikit-learn's bundled digits.

Usage: python examples/quickstart.py [--epochs 5]   (atlasd at $ATLAS_URL or 127.0.0.1:7878)
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from atlas_observatory import Observer, ObserverConfig


def digits_loaders(
    batch_size: int,
) -> tuple[DataLoader[tuple[torch.Tensor, ...]], torch.Tensor, torch.Tensor]:
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target)
    split = int(0.8 * len(x))
    train = DataLoader(TensorDataset(x[:split], y[:split]), batch_size=batch_size, shuffle=True)
    return train, x[split:], y[split:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--run-name", default="digits-cnn")
    args = parser.parse_args()

    torch.manual_seed(0)
    batch_size, learning_rate = 64, 3e-3
    train_loader, val_x, val_y = digits_loaders(batch_size)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    device = "cpu"

    config = ObserverConfig(
        track_profiler=True,
        track_memory=True,
        track_throughput=True,
        track_layer_health=True,
        track_sustainability=True,
        track_carbon_emissions=True,
    )
    observer = Observer(project="demo", run_name=args.run_name, config=config)
    observer.log_hyperparameters(
        {
            "batch_size": batch_size,
            "num_epochs": args.epochs,
            "learning_rate": learning_rate,
            "optimizer": "Adam",
        }
    )
    observer.register_model(model)

    for epoch in range(args.epochs):
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            logits, loss = observer.step(model, x, y)  # noqa: RUF059 (the pitch's form)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            val_logits = model(val_x)
            val_loss = nn.functional.cross_entropy(val_logits, val_y).item()
            val_acc = (val_logits.argmax(1) == val_y).float().mean().item()
        observer.end_epoch(val_loss=val_loss, val_accuracy=val_acc)
        print(f"  epoch {epoch}: val loss {val_loss:.3f}, val accuracy {val_acc:.3f}", flush=True)
    observer.finish()
    print(f"run {observer.run_id} streamed to atlasd")


if __name__ == "__main__":
    main()
