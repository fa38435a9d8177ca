"""What the Observer costs a training loop, and whether libatlas's sender ever holds the GIL.

Not a test: a measurement, printed as markdown. Usage:

    .venv/bin/python bench/overhead/overhead.py [--rounds 10] [--steps 100] [--threads 1]

Step time. Two small models train on CPU: a CNN on scikit-learn's digits (batch 64) and a
two-block transformer on a toy token stream (batch 32 x 32 tokens). Each is trained three ways,
each with its own model, optimizer and (for the observed ones) Observer:

- ``bare``: forward, loss, backward, optimizer step, zero_grad;
- ``bare (again)``: the same loop once more, with its own model: an A/A control whose ratio to
  ``bare`` shows this machine's noise floor;
- ``defaults``: the same through ``observer.step`` with ``ObserverConfig()`` defaults;
- ``everything``: every flag on, the profiler's windows included, layer health every step;
- ``everything, health every 10``: the same with a layer-health sample every 10th step.

The variants run interleaved, ``--steps`` steps each per round, in a rotating order
(ABCD, BCDA, ...), so that drift of the machine (other processes, frequency changes) touches
all of them alike. Every step of every round is timed (the whole loop iteration); the table shows
the median step (the typical step) and the mean (which includes the sampled steps: layer health
every 50 steps by default, profiler windows) as ratios to ``bare``. Observers run offline
(spooling to a temporary directory), so the sender serialises, compresses and writes everything
but no server competes for the CPU.

Observer CPU time. Wall-clock ratios cannot resolve 1 % on this kind of machine (the A/A control
differs by a few percent), so each observed variant also measures the thread CPU time
(``time.thread_time_ns``) spent inside the observer's own code: its step entry points (control,
begin, forward end, backward start and end, step end, output split, the optimizer hooks) and layer
health's activation reductions (which run inside the model's forward). The table gives it per
timed step and as a share of the median ``bare`` step. Time torch spends in the training loop
because of the observer (e.g. autograd keeping a hooked tensor) is not in it; the wall-clock
ratios are. The meter's own clock reads (two per entry point, ~16 per step) are counted in
the observed variants' wall-clock, which makes those ratios slightly pessimistic. They also fall
partly inside the timed intervals (``time.thread_time_ns`` is a system call, 1-2 us on a VM):
the table gives the metered CPU as measured, and less the meter's own cost per timed call,
calibrated at start-up on a wrapped call that does nothing.

GIL probe. A probe loops on ``time.perf_counter()`` and adds up every gap longer than 0.2 ms
between two iterations: time in which it could not run. It runs while libatlas's sender drains a
burst of step records queued just before (serialising, compressing and spooling them), with the
main thread asleep, in two forms:

- a thread of this process, which needs this process's GIL to run: it is blocked while the
  sender holds the GIL, and also whenever its CPU is busy elsewhere;
- a separate process (the control), with a GIL of its own: it is blocked only by CPU contention.

Both are pinned to one CPU and the sender thread to the others (when there are two; the
sender's thread id is the one that appeared in /proc/self/task when the client started), and
each form also runs with libatlas idle. The share of wall time the sender holds the GIL is
what the in-process probe loses beyond the control, during the drain. Each number is the median
of ``--probe-trials`` runs.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from sklearn.datasets import load_digits
from torch import nn

from atlas_observatory import Observer, ObserverConfig, _atlas

Batch = tuple[torch.Tensor, torch.Tensor]


# ----- models and data -----


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x))
        return out


class Block(nn.Module):
    def __init__(self, embed: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(embed)
        self.attn = nn.MultiheadAttention(embed, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(embed)
        self.mlp = nn.Sequential(
            nn.Linear(embed, 4 * embed), nn.GELU(), nn.Linear(4 * embed, embed)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        attended, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False)
        x = x + attended
        out: torch.Tensor = x + self.mlp(self.ln2(x))
        return out


class SmallTransformer(nn.Module):
    """nanoGPT-shaped: forward(idx, targets) returns (logits, loss)."""

    def __init__(self, vocab: int = 64, block: int = 32, embed: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, embed)
        self.wpe = nn.Embedding(block, embed)
        self.blocks = nn.ModuleList([Block(embed, heads) for _ in range(2)])
        self.ln_f = nn.LayerNorm(embed)
        self.head = nn.Linear(embed, vocab)
        mask = torch.triu(torch.ones(block, block, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, Any]:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        mask: torch.Tensor = self.mask  # type: ignore[assignment]
        for block in self.blocks:
            x = block(x, mask)
        logits: torch.Tensor = self.head(self.ln_f(x))
        flat = logits.reshape(-1, logits.shape[-1])
        return logits, nn.functional.cross_entropy(flat, targets.reshape(-1))


def digits_batches() -> list[Batch]:
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    usable = len(order) // 64 * 64
    return [(images[order[i : i + 64]], labels[order[i : i + 64]]) for i in range(0, usable, 64)]


def token_batches(count: int = 64, vocab: int = 64, block: int = 32) -> list[Batch]:
    generator = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(count):
        start = torch.randint(0, vocab, (32, 1), generator=generator)
        seq = (start + torch.arange(block + 1)) % vocab
        batches.append((seq[:, :-1].contiguous(), seq[:, 1:].contiguous()))
    return batches


# ----- variants -----


# The observer's entry points from a training step (see "Observer CPU time" above).
OBSERVER_ENTRY_POINTS = (
    "_control_step",
    "_begin_step",
    "_target_kwargs",
    "_forward_end",
    "_split",
    "_backward_start",
    "_backward_end",
    "_end_step",
    "_optimizer_before",
    "_optimizer_after",
)


class CpuMeter:
    """Adds up thread CPU time spent inside wrapped methods (outermost calls only)."""

    def __init__(self) -> None:
        self.ns = 0
        self.calls = 0  # outermost timed calls
        self._depth = 0

    def wrap(self, owner: Any, name: str) -> None:
        """Replaces owner.name by a timed version (an instance attribute shadowing the class's
        method; callers that look it up later, hooks included, get the timed one)."""
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return inner(*args, **kwargs)
            self._depth += 1
            self.calls += 1
            started = time.thread_time_ns()
            try:
                return inner(*args, **kwargs)
            finally:
                self.ns += time.thread_time_ns() - started
                self._depth -= 1

        setattr(owner, name, timed)


class _Empty:
    def call(self) -> None:
        return None


def meter_cost_ns(batches: int = 9, calls: int = 2000) -> float:
    """What the meter reports for a call that does nothing: its own clock reads and wrapper
    (time.thread_time_ns is a system call, ~1-2 us on a VM). The median over `batches`."""
    costs = []
    for _ in range(batches):
        meter, empty = CpuMeter(), _Empty()
        meter.wrap(empty, "call")
        for _ in range(calls):
            empty.call()
        costs.append(meter.ns / meter.calls)
    return statistics.median(costs)


@dataclass
class Variant:
    name: str
    step: Callable[[Batch], None]
    times_s: list[float] = field(default_factory=list)
    observer: Observer | None = None
    meter: CpuMeter | None = None


def bare_step(model: nn.Module, optimizer: torch.optim.Optimizer) -> Callable[[Batch], None]:
    def step(batch: Batch) -> None:
        x, y = batch
        out = model(x, y) if isinstance(model, SmallTransformer) else model(x)
        loss: Any = out[1] if isinstance(out, tuple) else nn.functional.cross_entropy(out, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def observed_step(
    observer: Observer, model: nn.Module, optimizer: torch.optim.Optimizer
) -> Callable[[Batch], None]:
    def step(batch: Batch) -> None:
        x, y = batch
        observer.step(model, x, y)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def make_variants(factory: Callable[[], nn.Module], spool: str, model_name: str) -> list[Variant]:
    variants = []
    settings: dict[str, dict[str, Any] | None] = {
        "bare": None,
        "bare (again)": None,  # an A/A control: how far two identical loops differ here
        "defaults": {},
        "everything": {
            "track_profiler": True,
            "track_memory": True,
            "track_throughput": True,
            "track_layer_health": True,
            "track_sustainability": True,
            "track_carbon_emissions": True,
            "layer_health_every": 1,
        },
        # The same with layer health sampled every 10th step: what everything on costs when
        # the per-layer statistics are not needed at every single step.
        "everything, health every 10": {
            "track_profiler": True,
            "track_memory": True,
            "track_throughput": True,
            "track_layer_health": True,
            "track_sustainability": True,
            "track_carbon_emissions": True,
            "layer_health_every": 10,
        },
    }
    for name, extra in settings.items():
        torch.manual_seed(0)
        model = factory()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        if extra is None:
            variants.append(Variant(name, bare_step(model, optimizer)))
            continue
        config = ObserverConfig(offline=True, spool_dir=spool, **extra)
        observer = Observer(project="bench", run_name=f"{model_name}-{name}", config=config)
        meter = CpuMeter()
        for entry_point in OBSERVER_ENTRY_POINTS:  # before register_model: it hooks the optimizer
            meter.wrap(observer, entry_point)
        observer.register_model(model)
        health = observer._layer_health
        if health is not None:
            meter.wrap(health, "_accumulate")
        step = observed_step(observer, model, optimizer)
        variants.append(Variant(name, step, [], observer, meter))
    return variants


def run_interleaved(
    variants: list[Variant], batches: list[Batch], rounds: int, steps: int, warmup: int
) -> None:
    for variant in variants:  # warm-up: allocator, kernels, first-step work (architecture)
        for i in range(warmup):
            variant.step(batches[i % len(batches)])
        if variant.meter is not None:
            variant.meter.ns = variant.meter.calls = 0  # count timed steps only
    cursor = 0
    for round_index in range(rounds):
        shift = round_index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            for _ in range(steps):
                batch = batches[cursor % len(batches)]
                cursor += 1
                started = time.perf_counter()
                variant.step(batch)
                variant.times_s.append(time.perf_counter() - started)


# ----- the GIL probe -----


PROBE_SOURCE = """
import os, sys, time
cpu, duration = int(sys.argv[1]), float(sys.argv[2])
if cpu >= 0:
    os.sched_setaffinity(0, {cpu})
sys.stdin.readline()  # start when told
blocked, start = 0.0, time.perf_counter()
last = start
while last - start < duration:
    now = time.perf_counter()
    if now - last > 0.0002:
        blocked += now - last
    last = now
print(blocked / duration, flush=True)
"""


def probe_thread(duration_s: float, cpu: int | None) -> float:
    """The share of `duration_s` in which a Python thread (pinned to `cpu`) could not run."""
    blocked = 0.0
    stop = threading.Event()

    def probe() -> None:
        nonlocal blocked
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})  # 0: the calling thread
        last = time.perf_counter()
        while not stop.is_set():
            now = time.perf_counter()
            if now - last > 0.0002:
                blocked += now - last
            last = now

    thread = threading.Thread(target=probe)
    thread.start()
    time.sleep(duration_s)
    stop.set()
    thread.join()
    return blocked / duration_s


class ProbeProcess:
    """The control probe: the same loop in a separate process (with a GIL of its own)."""

    def __init__(self, duration_s: float, cpu: int | None) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", PROBE_SOURCE, str(-1 if cpu is None else cpu), str(duration_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self) -> float:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()
        share = float(self._proc.stdout.readline())
        self._proc.wait()
        return share


def thread_ids() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/task")}


def drain_with_probe(
    spool: str, records: int, probe: Callable[[], float], cpus: list[int]
) -> tuple[float, float]:
    """Queues `records` step records, runs `probe` while the sender drains them; returns the
    probe's blocked share and how long the sender was busy after the records were queued."""
    config = _atlas.ClientConfig()
    config.project = "bench"
    config.offline = True
    config.spool_dir = spool
    config.queue_capacity = 1 << 21
    before = thread_ids()
    client = _atlas.Client.start(config)
    if len(cpus) >= 2:
        for tid in thread_ids() - before:  # the sender thread
            os.sched_setaffinity(tid, set(cpus[1:]))
    fields = {"loss": 0.5, "samples": 64.0, "step_ms": 3.0, "data_ms": 0.1, "rss_bytes": 1e9}
    for step in range(records):
        client.record(step, fields, {"accuracy": 0.9})
    started = time.perf_counter()
    share = probe()
    client.flush(600.0)
    busy_s = time.perf_counter() - started
    client.shutdown(60.0)
    return share, busy_s


def gil_probe(spool: str, records: int, duration_s: float, trials: int) -> dict[str, float]:
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[0] if len(cpus) >= 2 else None
    results: dict[str, list[float]] = {
        k: [] for k in ("thread_idle", "thread_busy", "process_idle", "process_busy", "busy_s")
    }
    for _ in range(trials):
        results["thread_idle"].append(probe_thread(duration_s, cpu))
        share, busy_s = drain_with_probe(
            spool, records, lambda: probe_thread(duration_s, cpu), cpus
        )
        results["thread_busy"].append(share)
        results["busy_s"].append(busy_s)
        results["process_idle"].append(ProbeProcess(duration_s, cpu).run())
        control = ProbeProcess(duration_s, cpu)
        share, busy_s = drain_with_probe(spool, records, control.run, cpus)
        results["process_busy"].append(share)
        results["busy_s"].append(busy_s)
    out = {k: statistics.median(v) for k, v in results.items()}
    out["pinned"] = 1.0 if cpu is not None else 0.0
    return out


# ----- report -----


def summarise(model_name: str, variants: list[Variant], meter_ns: float) -> list[str]:
    """Table rows; the observer CPU is given as metered, then less the meter's own cost
    (`meter_ns` per timed call, from meter_cost_ns)."""
    base_median = statistics.median(variants[0].times_s)
    base_mean = statistics.fmean(variants[0].times_s)
    rows = []
    for variant in variants:
        median = statistics.median(variant.times_s)
        mean = statistics.fmean(variant.times_s)
        cpu = "-"
        if variant.meter is not None:
            steps = len(variant.times_s)
            raw_s = variant.meter.ns / 1e9 / steps
            net_s = max(0.0, variant.meter.ns - variant.meter.calls * meter_ns) / 1e9 / steps
            cpu = (
                f"{raw_s * 1e6:.1f} us ({raw_s / base_median * 100:.2f}%); less the meter "
                f"({variant.meter.calls / steps:.1f} calls/step): {net_s * 1e6:.1f} us "
                f"({net_s / base_median * 100:.2f}%)"
            )
        rows.append(
            f"| {model_name} | {variant.name} | {len(variant.times_s)} | {median * 1e3:.3f} | "
            f"{median / base_median:.3f} | {mean * 1e3:.3f} | {mean / base_mean:.3f} | {cpu} |"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--steps", type=int, default=25, help="steps per variant per round")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--probe-records", type=int, default=400_000)
    parser.add_argument("--probe-seconds", type=float, default=1.0)
    parser.add_argument("--probe-trials", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    lines = [
        f"torch {torch.__version__}, {args.threads} intra-op thread(s), "
        f"{args.rounds} rounds x {args.steps} steps per variant, interleaved",
        "",
        "| model | variant | steps | median ms | median ratio | mean ms | mean ratio | "
        "observer CPU per step (share of bare median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    meter_ns = meter_cost_ns()
    lines.insert(
        1, f"meter cost: {meter_ns:.0f} ns per timed call (median of 9 x 2000 empty calls)"
    )
    with tempfile.TemporaryDirectory() as spool:
        models: list[tuple[str, Callable[[], nn.Module], list[Batch]]] = [
            ("cnn", SmallCNN, digits_batches()),
            ("transformer", SmallTransformer, token_batches()),
        ]
        for name, factory, batches in models:
            variants = make_variants(factory, spool, name)
            run_interleaved(variants, batches, args.rounds, args.steps, args.warmup)
            for variant in variants:
                if variant.observer is not None:
                    stats = variant.observer.finish()
                    errors = stats["telemetry_errors"]
                    if errors:
                        print(f"warning: {name}/{variant.name}: contained errors {errors}")
            lines += summarise(name, variants, meter_ns)
        probe = gil_probe(spool, args.probe_records, args.probe_seconds, args.probe_trials)
    pinned = "probes and sender on different CPUs" if probe["pinned"] else "one CPU: not pinned"
    gil_share = max(0.0, (probe["thread_busy"] - probe["process_busy"]) * 100)
    lines += [
        "",
        f"GIL probe: {args.probe_trials} trials, medians; {pinned}; the sender drains "
        f"{args.probe_records} records in {probe['busy_s']:.2f} s.",
        "",
        "| probe | libatlas idle | sender draining |",
        "|---|---|---|",
        f"| thread of this process (needs its GIL) | {probe['thread_idle'] * 100:.2f}% | "
        f"{probe['thread_busy'] * 100:.2f}% |",
        f"| separate process (control) | {probe['process_idle'] * 100:.2f}% | "
        f"{probe['process_busy'] * 100:.2f}% |",
        "",
        f"Share of wall time the sender held the GIL (thread minus control, while draining): "
        f"{gil_share:.2f}%",
    ]
    print("\n".join(lines))
    return 0 if all(math.isfinite(v) for v in probe.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
