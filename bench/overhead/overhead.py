"""What the Observer costs a training loop, and whether libatlas's sender ever holds the GIL.

Not a test: a measurement, printed as markdown. Usage:

    .venv/bin/python bench/overhead/overhead.py [--rounds 40] [--steps 25] [--heap steady|glibc]
        [--models cnn,transformer,tiny linear] [--settings defaults,everything,...]

Step time. Two small models train on CPU: a CNN on scikit-learn's digits (batch 64) and a
two-block transformer on a toy token stream (batch 32 x 32 tokens). Each measurement is a pair:
one model and optimizer trained alternately bare (forward, loss, backward, optimizer
step, zero_grad) and through ``observer.step`` with an Observer, for three settings:

- ``defaults``: ``ObserverConfig()`` (layer health every 100 steps, gradient-noise windows,
  energy, memory, throughput);
- ``everything``: every flag on, the profiler's windows included, layer health every step;
- ``everything (health every 10)``: the same with a layer-health sample every 10th step;

and the same on a third model, logistic regression on the digits (``tiny linear``), whose step
is so short that the difference shows the Observer's fixed cost per step in microseconds;

and an A/A control, ``bare (again)``: one model trained bare in both halves, whose ratio shows
the timing noise left. Both halves of a pair step the same tensors in the same memory: two
identical models in different memory differ by a few percent in step time on these machines
(cache placement), more than the effects measured here. The Observer's optimizer hooks (global
in torch) are attached only while its own half runs.

The two halves of a pair alternate step by step (bare, observed, observed, bare, ...), so that
drift of the machine (other processes, frequency changes) touches both alike even within a
round; a round is ``--steps`` steps of each half of one pair, and the pairs take their rounds
in a rotating order. A profiler window is run to its end before the next bare step (the
profiler is global: it would time the bare step too). Every step is timed (the whole loop
iteration) in wall-clock time and in the training thread's CPU time (``time.thread_time``:
time in which other processes ran is not in it, which makes it the steadier figure on a shared
machine; work the Observer moves to its own threads, the sender and the energy sampler, is not
in it either, see the GIL probe). The table gives medians (the typical step), the thread CPU
ratio round by round (each observed round's median against the same round's bare one: slow
drift cancels; the median over rounds and the middle half of them), the paired difference
(each observed step's thread CPU minus that of the bare step run next to it on the same batch:
the median, as a share of the bare median, with a 95 % interval bootstrapped by round; this
cancels even short slowdowns of the machine) and the ratio of means
(which includes the sampled steps: layer health every 100 steps by default, profiler windows).
Observers run offline (spooling to a temporary directory), so the sender serialises,
compresses and writes everything but no server competes for the CPU.

The heap. With glibc's default malloc settings, a CPU training step of these models returns
memory to the kernel and faults it back in: 600 to 1,100 minor page faults per step (2.4-4.4
MB), a quarter of the CNN's step time, by an amount that depends on the heap's layout in each
process (the same script gives 608 in one process and 1,120 in the next) and that the Observer's
own small allocations shift by chance (+20 faults per step in one process, -10 in another).
That is the allocator's cost, not the Observer's, and it is larger than the effect measured
here, so by default (``--heap steady``) the benchmark re-runs itself with glibc's tunables set
so that the heap keeps its memory (``glibc.malloc.trim_threshold`` 1 GiB, ``mmap_threshold`` 32
MiB): no page faults, a faster bare step (which makes the Observer's share larger, not
smaller). ``--heap glibc`` measures under the defaults. The table gives the minor page faults
per step of both halves either way.

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
import random
import resource
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

# glibc malloc tunables under which the heap keeps the memory it has (see --heap).
STEADY_HEAP = "glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_threshold=33554432"


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


class TinyLinear(nn.Module):
    """Logistic regression on the digits' pixels: a step so short (a few hundred
    microseconds) that the Observer's fixed cost per step shows in microseconds, free of the
    noise a longer step carries."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(x)
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


# Each model's factory and its batches, by the name the tables and --models use.
MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[], list[Batch]]]] = {
    "cnn": (SmallCNN, digits_batches),
    "transformer": (SmallTransformer, token_batches),
    "tiny linear": (TinyLinear, digits_batches),
}


# ----- pairs: one model trained bare and observed, alternately -----


EVERYTHING: dict[str, Any] = {
    "track_profiler": True,
    "track_memory": True,
    "track_throughput": True,
    "track_layer_health": True,
    "track_sustainability": True,
    "track_carbon_emissions": True,
}

OBSERVED_SETTINGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "everything": {**EVERYTHING, "layer_health_every": 1},
    # The same with layer health sampled every 10th step: what everything on costs when the
    # per-layer statistics are not needed at every single step.
    "everything (health every 10)": {**EVERYTHING, "layer_health_every": 10},
}


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


def set_optimizer_hooks(observer: Observer, attached: bool) -> None:
    """Detaches the observer's optimizer hooks from torch for the bare half of a pair (they
    are global: they would fire in the bare loop too) and attaches them again. Reaches into
    the Observer's internals: a benchmark's privilege."""
    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    watch: Any = observer._optimizers
    if watch is None:
        return
    for handle in watch._handles:
        handle.remove()
    watch._handles = []
    if attached:
        recorder = watch._recorder
        watch._handles = [
            register_optimizer_step_pre_hook(recorder.optimizer_pre_hook),
            register_optimizer_step_post_hook(recorder.optimizer_post_hook),
        ]


@dataclass
class Half:
    """One way of training a pair's model, and what each of its steps took."""

    step: Callable[[Batch], None]
    observer: Observer | None = None
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)  # minor page faults of the training thread
    round_cpu_s: list[float] = field(default_factory=list)  # the median of each timed round


@dataclass
class Pair:
    """One model and optimizer, trained bare and through an Observer alternately, step by step
    (or bare twice: the A/A control). Both halves step the same tensors in the same memory, so
    the ratio is free of the few percent by which two identical models in different memory
    differ on these machines."""

    name: str
    bare: Half
    other: Half
    # Thread CPU of each observed step minus that of the bare step next to it (same batch, run
    # back to back), one list per round: a slowdown of the machine that lasts longer than two
    # steps cancels.
    step_diffs_s: list[list[float]] = field(default_factory=list)


def make_pairs(
    factory: Callable[[], nn.Module], spool: str, model_name: str, settings: list[str]
) -> list[Pair]:
    def model_and_optimizer() -> tuple[nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = factory()
        return model, torch.optim.AdamW(model.parameters(), lr=1e-3)

    model, optimizer = model_and_optimizer()
    pairs = [
        Pair("bare (again)", Half(bare_step(model, optimizer)), Half(bare_step(model, optimizer)))
    ]
    for name in settings:
        extra = OBSERVED_SETTINGS[name]
        model, optimizer = model_and_optimizer()
        config = ObserverConfig(offline=True, spool_dir=spool, **extra)
        observer = Observer(project="bench", run_name=f"{model_name}-{name}", config=config)
        observer.register_model(model)
        set_optimizer_hooks(observer, attached=False)  # attached while its half runs only
        observed = Half(observed_step(observer, model, optimizer), observer)
        pairs.append(Pair(name, Half(bare_step(model, optimizer)), observed))
    return pairs


def run_half(half: Half, batches: list[Batch], cursor: int, steps: int, timed: bool) -> int:
    observer = half.observer
    if observer is not None:
        set_optimizer_hooks(observer, attached=True)
    for _ in range(steps):
        cursor = timed_step(half, batches[cursor % len(batches)], timed, cursor)
    profiler: Any = observer._profiler if observer is not None else None
    while profiler is not None and profiler.active:  # never leave a window open into bare steps
        cursor = timed_step(half, batches[cursor % len(batches)], timed, cursor)
    if observer is not None:
        set_optimizer_hooks(observer, attached=False)
    return cursor


def timed_step(half: Half, batch: Batch, timed: bool, cursor: int) -> int:
    faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    cpu = time.thread_time()
    wall = time.perf_counter()
    half.step(batch)
    wall_s = time.perf_counter() - wall
    cpu_s = time.thread_time() - cpu
    if timed:
        half.wall_s.append(wall_s)
        half.cpu_s.append(cpu_s)
        half.faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - faults)
    return cursor + 1


def run_pair(pair: Pair, batches: list[Batch], cursor: int, steps: int) -> int:
    """One round of a pair: `steps` steps of each half, alternating step by step in the order
    bare, other, other, bare, ... (so that neither half always follows the other's step), both
    halves on the same batch at each step: nothing but the Observer differs between them."""
    marks = [(half, len(half.cpu_s)) for half in (pair.bare, pair.other)]
    diffs: list[float] = []
    pair.step_diffs_s.append(diffs)
    for index in range(steps):
        order = (pair.bare, pair.other) if index % 2 == 0 else (pair.other, pair.bare)
        bare_first, other_first = len(pair.bare.cpu_s), len(pair.other.cpu_s)
        cursor = max([run_half(half, batches, cursor, 1, timed=True) for half in order])
        diffs.append(
            math.fsum(pair.other.cpu_s[other_first:]) - math.fsum(pair.bare.cpu_s[bare_first:])
        )
    for half, first in marks:
        half.round_cpu_s.append(statistics.median(half.cpu_s[first:]))
    return cursor


def run_interleaved(
    pairs: list[Pair], batches: list[Batch], rounds: int, steps: int, warmup: int
) -> None:
    """Runs `rounds` rounds of every pair (run_pair), the pairs in a rotating order, after
    `warmup` untimed steps of each half (allocator, first-step work)."""
    cursor = 0
    for pair in pairs:
        for half in (pair.bare, pair.other):
            cursor = run_half(half, batches, cursor, warmup, timed=False)
    for round_index in range(rounds):
        shift = round_index % len(pairs)
        for pair in pairs[shift:] + pairs[:shift]:
            cursor = run_pair(pair, batches, cursor, steps)


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


def median_with_interval(
    rounds: list[list[float]], resamples: int = 1000
) -> tuple[float, float, float]:
    """The median of all values of `rounds` and a 95 % interval for it, bootstrapped by round
    (steps of one round share the machine's state of the moment, so they are not independent
    draws; fixed seed: reruns of the summary agree)."""
    rng = random.Random(0)
    medians = sorted(
        statistics.median([v for r in rng.choices(rounds, k=len(rounds)) for v in r])
        for _ in range(resamples)
    )
    return (
        statistics.median([v for r in rounds for v in r]),
        medians[int(0.025 * resamples)],
        medians[int(0.975 * resamples) - 1],
    )


def summarise(model_name: str, pairs: list[Pair]) -> list[str]:
    rows = []
    for pair in pairs:
        bare_wall = statistics.median(pair.bare.wall_s)
        other_wall = statistics.median(pair.other.wall_s)
        bare_cpu = statistics.median(pair.bare.cpu_s)
        other_cpu = statistics.median(pair.other.cpu_s)
        mean_ratio = statistics.fmean(pair.other.wall_s) / statistics.fmean(pair.bare.wall_s)
        # Round by round: each observed round against the same round's bare one, so that slow
        # drift of the machine cancels; the median of those ratios and their middle half.
        quartiles = statistics.quantiles(
            [o / b for o, b in zip(pair.other.round_cpu_s, pair.bare.round_cpu_s, strict=True)],
            n=4,
        )
        paired_s, low_s, high_s = median_with_interval(pair.step_diffs_s)
        rows.append(
            f"| {model_name} | {pair.name} | {len(pair.other.wall_s)} | {bare_wall * 1e3:.3f} | "
            f"{other_wall * 1e3:.3f} | {other_wall / bare_wall:.4f} | "
            f"{(other_cpu - bare_cpu) * 1e6:+.1f} us | {other_cpu / bare_cpu:.4f} | "
            f"{quartiles[1]:.4f} ({quartiles[0]:.4f}-{quartiles[2]:.4f}) | "
            f"{paired_s * 1e6:+.1f} us, {paired_s / bare_cpu * 100:+.2f}% "
            f"({low_s / bare_cpu * 100:+.2f} to {high_s / bare_cpu * 100:+.2f}) | "
            f"{mean_ratio:.4f} | "
            f"{statistics.fmean(pair.bare.faults):.0f} / "
            f"{statistics.fmean(pair.other.faults):.0f} |"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--steps", type=int, default=25, help="steps per half per round")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--probe-records", type=int, default=400_000)
    parser.add_argument("--probe-seconds", type=float, default=1.0)
    parser.add_argument("--probe-trials", type=int, default=3)
    parser.add_argument(
        "--heap",
        choices=("steady", "glibc"),
        default="steady",
        help="steady: glibc's malloc keeps its memory (see the module's docstring); glibc: "
        "its defaults",
    )
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    parser.add_argument(
        "--settings", default=",".join(OBSERVED_SETTINGS), help="comma-separated subset"
    )
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (the interval is bootstrapped by round)")
    for given, known in ((args.models, MODELS), (args.settings, OBSERVED_SETTINGS)):
        unknown = [name for name in given.split(",") if name not in known]
        if unknown:
            parser.error(f"unknown {unknown}: choose from {', '.join(known)}")
    if args.heap == "steady" and os.environ.get("GLIBC_TUNABLES") != STEADY_HEAP:
        # glibc reads its tunables at start-up: run again with them set.
        os.execve(
            sys.executable,
            [sys.executable, *sys.argv],
            {**os.environ, "GLIBC_TUNABLES": STEADY_HEAP},
        )
    torch.set_num_threads(args.threads)

    lines = [
        f"torch {torch.__version__}, {args.threads} intra-op thread(s), "
        f"{args.rounds} rounds x {args.steps} steps per half, alternating step by step, "
        f"heap: {args.heap} ({os.environ.get('GLIBC_TUNABLES', 'glibc defaults')})",
        "",
        "| model | pair | steps per half | bare median ms | observed median ms | "
        "median ratio | thread CPU per step, observed - bare (medians) | thread CPU ratio "
        "(medians) | thread CPU ratio round by round: median (middle half) | thread CPU, "
        "observed step - the bare step beside it: median, as % of the bare median (95% "
        "interval) | mean ratio | page faults per step, bare / observed (means) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as spool:
        for name in args.models.split(","):
            factory, make_batches = MODELS[name]
            batches = make_batches()
            pairs = make_pairs(factory, spool, name, args.settings.split(","))
            run_interleaved(pairs, batches, args.rounds, args.steps, args.warmup)
            for pair in pairs:
                if pair.other.observer is not None:
                    stats = pair.other.observer.finish()
                    errors = stats["telemetry_errors"]
                    if errors:
                        print(f"warning: {name}/{pair.name}: contained errors {errors}")
            lines += summarise(name, pairs)
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
