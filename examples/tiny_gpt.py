"""A character-level transformer (nanoGPT's shape: forward(idx, targets) returns (logits, loss))
trained on nine of Shakespeare's sonnets (examples/data/sonnets.txt, public domain), observed
with the pitch's API. observer.step() uses the model's own loss.

Usage: python examples/tiny_gpt.py [--epochs 6] [--steps-per-epoch 40]
(atlasd at $ATLAS_URL or 127.0.0.1:7878)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from atlas_observatory import Observer, ObserverConfig

TEXT = Path(__file__).resolve().parent / "data" / "sonnets.txt"


class Block(nn.Module):
    """Pre-norm causal self-attention and an MLP, each with a residual connection."""

    def __init__(self, embed: int, heads: int, block_size: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(embed)
        self.attn = nn.MultiheadAttention(embed, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(embed)
        self.mlp = nn.Sequential(
            nn.Linear(embed, 4 * embed), nn.GELU(), nn.Linear(4 * embed, embed)
        )
        mask = torch.triu(torch.ones(block_size, block_size, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        mask: torch.Tensor = self.mask  # type: ignore[assignment]
        h = self.ln1(x)
        attended, _ = self.attn(h, h, h, attn_mask=mask[:t, :t], need_weights=False)
        x = x + attended
        out: torch.Tensor = x + self.mlp(self.ln2(x))
        return out


class TinyGPT(nn.Module):
    def __init__(self, vocab: int, block_size: int = 64, embed: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab, embed)
        self.wpe = nn.Embedding(block_size, embed)
        self.blocks = nn.Sequential(*(Block(embed, 4, block_size) for _ in range(layers)))
        self.ln_f = nn.LayerNorm(embed)
        self.lm_head = nn.Linear(embed, vocab, bias=False)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.blocks(self.wte(idx) + self.wpe(pos))
        logits: torch.Tensor = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


def batches(
    data: torch.Tensor, count: int, batch: int, block: int, generator: torch.Generator
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for _ in range(count):
        starts = torch.randint(0, len(data) - block - 1, (batch,), generator=generator)
        windows = torch.stack([data[s : s + block + 1] for s in starts.tolist()])
        out.append((windows[:, :-1], windows[:, 1:]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps-per-epoch", type=int, default=40)
    parser.add_argument("--run-name", default="tiny-gpt")
    args = parser.parse_args()

    torch.manual_seed(0)
    text = TEXT.read_text(encoding="utf-8")
    chars = sorted(set(text))
    data = torch.tensor([chars.index(c) for c in text])
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]
    model = TinyGPT(len(chars))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    batch_size = 32

    observer = Observer(project="examples", run_name=args.run_name, config=ObserverConfig())
    observer.log_hyperparameters(
        {
            "batch_size": batch_size,
            "num_epochs": args.epochs,
            "learning_rate": 3e-3,
            "optimizer": "AdamW",
            "block_size": model.block_size,
            "vocab": len(chars),
        }
    )
    observer.register_model(model)
    for epoch in observer.epochs(args.epochs):
        model.train()
        for idx, targets in batches(train_data, args.steps_per_epoch, batch_size, 64, generator):
            observer.step(model, idx, targets)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        model.eval()
        with torch.no_grad():
            val = batches(val_data, 8, batch_size, 64, generator)
            val_loss = sum(float(model(i, t)[1]) for i, t in val) / len(val)
        observer.end_epoch(val_loss=val_loss)
        print(f"  epoch {epoch + 1}/{args.epochs}: val loss {val_loss:.3f}", flush=True)
    observer.finish()
    print(f"run {observer.run_id} streamed to atlasd")


if __name__ == "__main__":
    main()
