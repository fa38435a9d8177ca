"""A CNN with four problems planted on purpose, trained on scikit-learn's digits with the
Observer; Atlas should flag every one of them, with the energy each wastes.

1. conv2 and conv3 never downsample: every convolution runs at the full 16x16 resolution.
2. The head is FC-dominated: flattening 32x16x16 features into fc1 puts almost all of the
   model's parameters in one Linear layer.
3. fc1 is mostly dead: a bad initialisation (bias -40 on 80% of its units) leaves those ReLUs
   never firing, so their share of the compute is spent for nothing.
4. Far too many epochs: the model converges in a handful, and trains on for 20.

Usage: python examples/broken_cnn.py [--epochs 20]   (atlasd at $ATLAS_URL or 127.0.0.1:7878)
Compare with examples/fixed_cnn.py.
"""

from __future__ import annotations

import torch
from digits_training import IMAGE_SIZE, parse_args, train
from torch import nn


class BrokenCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.act = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * IMAGE_SIZE * IMAGE_SIZE, 256)
        self.fc1_act = nn.ReLU()
        self.fc2 = nn.Linear(256, 10)
        with torch.no_grad():  # the planted dead layer
            self.fc1.bias[: int(0.8 * 256)].fill_(-40.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        x = self.act(self.conv3(x))
        out: torch.Tensor = self.fc2(self.fc1_act(self.fc1(self.flatten(x))))
        return out


def main() -> None:
    args = parse_args(__doc__ or "", default_epochs=20, default_name="broken-cnn")
    torch.manual_seed(0)
    train(BrokenCNN(), args, learning_rate=1e-3)


if __name__ == "__main__":
    main()
