"""The diagnostics zoo: small models trained for real, each with one planted problem, and
healthy controls.

Every case trains on scikit-learn's bundled digits with the pitch's Observer API against a real
atlasd, then reads the run's diagnostics. A planted case names the checks that may find its
problem and the layers they may name; a control must get no warning-or-worse finding and grade
A or B.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from atlas_observatory import Observer, ObserverConfig

Json = Any


@dataclass
class Planted:
    """What the diagnostics must find: one of `checks` on one of `layers` (None: run-wide)."""

    checks: frozenset[str]
    layers: frozenset[str | None] = frozenset({None})


@dataclass
class ZooCase:
    name: str
    build: Callable[[], nn.Module]
    planted: Planted | None  # None for a healthy control
    epochs: int = 6
    lr: float = 3e-3
    optimizer: str = "adam"
    train_limit: int | None = None  # a tiny training set (overfitting)
    image_size: int = 8  # digits upsampled to this size
    slow_loader_ms: float = 0.0  # a starved data loader: sleep per sample
    optimizer_params: Callable[[nn.Module], Iterator[nn.Parameter]] | None = None
    batch_size: int = 64
    # A regression instead of the classification: the model predicts the digit's label plus
    # this offset, by mean squared error (raw, unnormalised targets).
    regression_offset: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ----- data -----


def digits_split(image_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if image_size != 8:
        x = nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear")
    y = torch.tensor(digits.target)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(x), generator=generator)
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    return x[:split], y[:split], x[split:], y[split:]


class SlowDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A dataset whose every sample costs `delay_s` of host time: a starved input pipeline."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, delay_s: float) -> None:
        self.x, self.y, self.delay_s = x, y, delay_s

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        time.sleep(self.delay_s)
        return self.x[index], self.y[index]


# ----- models -----


def healthy_mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def healthy_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


class DeadLayerMLP(nn.Module):
    """fc1's bias pushed far negative for 80% of its units: those units of act1 never fire,
    while the other 20% still let the model learn."""

    def __init__(self) -> None:
        super().__init__()
        self.flat = nn.Flatten()
        self.fc1 = nn.Linear(64, 128)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(128, 64)
        self.act2 = nn.ReLU()
        self.head = nn.Linear(64, 10)
        with torch.no_grad():
            self.fc1.bias[: int(0.8 * 128)].fill_(-40.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(self.fc1(self.flat(x)))
        out: torch.Tensor = self.head(self.act2(self.fc2(h)))
        return out


def deep_sigmoid() -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(64, 32), nn.Sigmoid()]
    for _ in range(12):
        layers += [nn.Linear(32, 32), nn.Sigmoid()]
    layers.append(nn.Linear(32, 10))
    return nn.Sequential(*layers)


def fc_dominated_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 512),
        nn.ReLU(),
        nn.Linear(512, 10),
    )


class NoDownsamplingCNN(nn.Module):
    """Four convolutions at the full 32x32 resolution, then a global pool."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.conv4 = nn.Conv2d(16, 16, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = self.act(conv(x))
        out: torch.Tensor = self.head(self.pool(x).flatten(1))
        return out


class CollapsibleMLP(nn.Module):
    """proj1 and proj2 are two linear maps with nothing between them: one matrix would do."""

    def __init__(self) -> None:
        super().__init__()
        self.flat = nn.Flatten()
        self.proj1 = nn.Linear(64, 128)
        self.proj2 = nn.Linear(128, 128)
        self.act = nn.ReLU()
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.act(self.proj2(self.proj1(self.flat(x)))))
        return out


def wide_mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 512),
        nn.ReLU(),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Linear(512, 10),
    )


class TwoStageMLP(nn.Module):
    """A model whose optimizer is only given `head`: `body` gets gradients but never changes."""

    def __init__(self) -> None:
        super().__init__()
        self.flat = nn.Flatten()
        self.body = nn.Linear(64, 64)
        self.act = nn.ReLU()
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.act(self.body(self.flat(x))))
        return out


class RowTransformer(nn.Module):
    """A small transformer classifier: each of a digit's 8 rows is a token."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.embed = nn.Linear(8, width)
        self.pos = nn.Parameter(torch.zeros(8, width))
        self.encoder = nn.TransformerEncoderLayer(
            width, nhead=4, dim_feedforward=2 * width, dropout=0.0, batch_first=True
        )
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x.flatten(1, 2)) + self.pos  # (batch, 8 rows, width)
        out: torch.Tensor = self.head(self.norm(self.encoder(tokens)).mean(1))
        return out


def regression_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


def regression_loss(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(output.squeeze(1), targets)


def head_only(model: nn.Module) -> Iterator[nn.Parameter]:
    head: nn.Module = model.head  # type: ignore[assignment]
    return head.parameters()


CASES: list[ZooCase] = [
    ZooCase(
        "dead_layer", DeadLayerMLP, Planted(frozenset({"layer.dead"}), frozenset({"fc1", "act1"}))
    ),
    ZooCase(
        "vanishing_gradients",
        deep_sigmoid,
        Planted(frozenset({"gradient.vanishing"}), frozenset({None, "1", "2"})),
        optimizer="sgd",
        lr=0.01,
    ),
    ZooCase(
        "exploding_lr",
        healthy_mlp,
        Planted(
            frozenset(
                {"convergence.divergence", "convergence.loss_explosion", "gradient.exploding"}
            )
        ),
        optimizer="sgd",
        lr=8.0,
    ),
    ZooCase(
        "fc_dominated",
        fc_dominated_cnn,
        Planted(frozenset({"architecture.fc_dominance"}), frozenset({None, "3"})),
    ),
    ZooCase(
        "no_downsampling",
        NoDownsamplingCNN,
        Planted(
            frozenset({"architecture.missing_downsampling"}),
            frozenset({None, "conv1", "conv2", "conv3", "conv4"}),
        ),
        image_size=32,
        epochs=3,
    ),
    ZooCase(
        "collapsible_linear",
        CollapsibleMLP,
        Planted(frozenset({"architecture.collapsible_linear"}), frozenset({"proj1", "proj2"})),
    ),
    ZooCase(
        "overfitting",
        wide_mlp,
        Planted(frozenset({"convergence.overfitting"})),
        train_limit=60,
        epochs=40,
    ),
    ZooCase(
        "past_convergence",
        healthy_cnn,
        Planted(frozenset({"convergence.past_optimal_stop"})),
        epochs=30,
    ),
    ZooCase(
        "starved_loader",
        healthy_mlp,
        Planted(frozenset({"device.dataloader_bound"})),
        slow_loader_ms=1.0,
        epochs=2,
    ),
    ZooCase(
        "optimizer_missing_params",
        TwoStageMLP,
        Planted(frozenset({"layer.not_updating"}), frozenset({"body"})),
        optimizer_params=head_only,
    ),
    # Raw regression targets around 100: every sample's gradient points the same way (shift the
    # output up), so the gradient noise scale is ~1 sample and a batch of 64 buys ~64x the
    # samples per step for hardly fewer steps. (A classification of digits measures ~100, too
    # close to the training set's 1437 samples for a batch to exceed it tenfold.)
    ZooCase(
        "unnormalised_regression",
        regression_mlp,
        Planted(frozenset({"gradient.noise_scale"})),
        optimizer="sgd",
        lr=1e-4,
        epochs=4,
        regression_offset=100.0,
    ),
    ZooCase("control_mlp", healthy_mlp, None, epochs=4),
    ZooCase("control_cnn", healthy_cnn, None, epochs=4),
    ZooCase("control_transformer", RowTransformer, None, epochs=4),
]


# ----- training -----


def make_optimizer(case: ZooCase, model: nn.Module) -> torch.optim.Optimizer:
    params = list(case.optimizer_params(model) if case.optimizer_params else model.parameters())
    if case.optimizer == "sgd":
        return torch.optim.SGD(params, lr=case.lr)
    return torch.optim.Adam(params, lr=case.lr)


def observer_for(case: ZooCase, server_url: str) -> Observer:
    config = ObserverConfig(
        server_url=server_url,
        track_layer_health=True,
        layer_health_every=5,
        gradient_noise_every=10,
        track_profiler=False,
        loss_fn=regression_loss if case.regression_offset is not None else None,
    )
    return Observer(project="zoo", run_name=case.name, config=config)


def train_digits(case: ZooCase, model: nn.Module, observer: Observer) -> None:
    x_train, labels, x_val, val_labels = digits_split(case.image_size)
    y_train: torch.Tensor = labels
    y_val: torch.Tensor = val_labels
    if case.regression_offset is not None:
        y_train, y_val = (
            labels.float() + case.regression_offset,
            val_labels.float() + case.regression_offset,
        )
    if case.train_limit is not None:
        x_train, y_train = x_train[: case.train_limit], y_train[: case.train_limit]
    dataset: Dataset[Any]
    if case.slow_loader_ms:
        dataset = SlowDataset(x_train, y_train, case.slow_loader_ms / 1000.0)
    else:
        dataset = TensorDataset(x_train, y_train)
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(dataset, batch_size=case.batch_size, shuffle=True, generator=generator)
    optimizer = make_optimizer(case, model)
    for _ in range(case.epochs):
        model.train()
        for x, y in loader:
            observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            if case.regression_offset is not None:
                observer.end_epoch(val_loss=regression_loss(logits, y_val).item())
                continue
            val_loss = nn.functional.cross_entropy(logits, y_val).item()
            val_acc = (logits.argmax(1) == y_val).float().mean().item()
        observer.end_epoch(val_loss=val_loss, val_accuracy=val_acc)


def run_case(case: ZooCase, server_url: str) -> str:
    """Trains the case's model with the Observer; returns the run id."""
    torch.manual_seed(0)
    model = case.build()
    observer = observer_for(case, server_url)
    observer.log_hyperparameters(
        {
            "batch_size": case.batch_size,
            "num_epochs": case.epochs,
            "learning_rate": case.lr,
            "optimizer": case.optimizer,
        }
    )
    observer.register_model(model)
    train_digits(case, model, observer)
    observer.finish()
    run_id = observer.run_id
    assert run_id is not None, f"{case.name}: the Observer did not start a run"
    return run_id
