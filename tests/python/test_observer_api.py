"""The package's surface and its pieces in isolation: exported names, the binding (exceptions,
the GIL, the stub), containment, JSON conversion, model facts, FLOPs formulas, the step queue."""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from obs_helpers import HangingServer, TinyGPT
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import atlas_observatory
from atlas_observatory import _atlas
from atlas_observatory.containment import Containment, drain_captured
from atlas_observatory.deferred import PendingStep, StepQueue
from atlas_observatory.flops import formula_flops
from atlas_observatory.jsonsafe import dumps, to_jsonable
from atlas_observatory.modelinfo import (
    batch_size,
    split_output,
    targets_parameter,
    token_count,
    unwrap,
)
from atlas_observatory.observer import default_loss

MODULES = [
    "architecture",
    "config",
    "containment",
    "control",
    "deferred",
    "energy",
    "errors",
    "flops",
    "gradient_noise",
    "hostinfo",
    "jsonsafe",
    "layer_health",
    "lifecycle",
    "modelinfo",
    "observer",
    "optim_hooks",
    "profiling",
    "resume",
    "run_settings",
    "sync",
    "system",
]


def test_the_public_surface() -> None:
    assert set(atlas_observatory.__all__) == {
        "AtlasError",
        "CapturedError",
        "ConflictError",
        "InternalError",
        "InvalidArgumentError",
        "IoError",
        "NotFoundError",
        "Observer",
        "ObserverConfig",
        "StepTracker",
        "TrainingStopped",
        "UnavailableError",
        "__version__",
        "default_loss",
        "default_spool_dir",
        "drain_captured",
        "spool_files",
        "sync",
    }
    for name in atlas_observatory.__all__:
        assert hasattr(atlas_observatory, name)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_what_it_exports(name: str) -> None:
    module = importlib.import_module(f"atlas_observatory.{name}")
    exported = module.__all__
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), n))
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.{symbol}"


def stub_names(tree: ast.Module | ast.ClassDef) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_the_stub_matches_the_native_module() -> None:
    stub = ast.parse((Path(atlas_observatory.__file__).parent / "_atlas.pyi").read_text())
    native = {n for n in dir(_atlas) if not n.startswith("_")}
    assert stub_names(stub) == native
    classes = {n.name: n for n in stub.body if isinstance(n, ast.ClassDef)}
    for cls in ("Client", "ClientConfig", "EnergyMonitor", "StepRecorder"):
        members = {n for n in dir(getattr(_atlas, cls)) if not n.startswith("_")}
        assert stub_names(classes[cls]) - {"__init__"} == members


def test_step_fields_come_from_libatlas() -> None:
    assert _atlas.STEP_FIELDS[:3] == ("loss", "samples", "tokens")
    assert len(_atlas.STEP_FIELDS) == 19
    assert "layer_stats" in _atlas.JSON_RECORD_KINDS


def test_the_binding_turns_statuses_into_exceptions(tmp_path: Path) -> None:
    config = _atlas.ClientConfig()
    with pytest.raises(atlas_observatory.InvalidArgumentError, match="project") as raised:
        _atlas.Client.start(config)
    assert raised.value.code == "invalid_argument"
    assert isinstance(raised.value, ValueError)

    config.project = "api"
    config.offline = True
    config.spool_dir = str(tmp_path)
    config.batch_max_delay_s = 0.05
    with pytest.raises(ValueError, match="compression"):
        config.compression = "brotli"
    client = _atlas.Client.start(config)
    assert len(client.run_id) == 32
    assert client.record(0, {"loss": 1.5, "samples": 8}, {"accuracy": 0.5}, epoch=0)
    with pytest.raises(atlas_observatory.InvalidArgumentError, match="not a step field"):
        client.record(1, {"accuracy": 0.5})
    assert not client.record_json("no-such-kind", "{}")
    with pytest.raises(ValueError, match="status"):
        client.finish("exploded", "", 1.0)
    client.finish("completed", "", 5.0)
    assert client.health() == ("ok", "")
    stats = client.stats()
    assert stats["enqueued"] == 1
    assert stats["spooled"] == 2  # the step and the finish
    assert not client.record(2, {"loss": 1.0})  # after finish: dropped, counted
    assert client.stats()["dropped_by_reason"] == {"closed": 1}

    with pytest.raises(atlas_observatory.NotFoundError) as missing:
        _atlas.sync(str(tmp_path / "nothing-here"), "http://127.0.0.1:1")
    assert missing.value.report is not None
    assert missing.value.report["frames"] == 0


def test_waiting_calls_release_the_gil(tmp_path: Path) -> None:
    """While flush() waits for a server that never answers, other Python threads run: some
    ran strictly inside the wait, which a call holding the GIL would make impossible."""
    with HangingServer() as server:
        config = _atlas.ClientConfig()
        config.server_url = server.url
        config.project_id = 1
        config.spool_dir = str(tmp_path)
        config.request_timeout_s = 5.0
        client = _atlas.Client.start(config)
        client.record(0, {"loss": 1.0})
        stamps: list[float] = []
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(0.001):
                stamps.append(time.perf_counter())

        thread = threading.Thread(target=tick)
        thread.start()
        try:
            started = time.perf_counter()
            with pytest.raises(atlas_observatory.UnavailableError, match="timed out"):
                client.flush(1.0)
            ended = time.perf_counter()
        finally:
            stop.set()
            thread.join()
        with pytest.raises(atlas_observatory.UnavailableError):
            client.shutdown(0.2)
    inside = [t for t in stamps if started + 0.2 < t < ended - 0.2]
    assert inside


# ----- containment -----


def test_containment_counts_and_reports_at_1_10_100() -> None:
    reported: list[tuple[str, int]] = []
    containment = Containment(lambda site, error, count: reported.append((site, count)))
    for _ in range(120):
        with containment.capture("site"):
            raise RuntimeError("x")
    assert containment.counts == {"site": 120}
    assert reported == [("site", 1), ("site", 10), ("site", 100)]
    assert len(drain_captured()) == 120


def test_containment_lets_keyboard_interrupt_and_exit_through() -> None:
    containment = Containment()
    with pytest.raises(KeyboardInterrupt), containment.capture("site"):
        raise KeyboardInterrupt
    with pytest.raises(SystemExit), containment.capture("site"):
        raise SystemExit(3)
    assert containment.counts == {}


def test_a_failing_reporter_is_contained_too() -> None:
    def reporter(site: str, error: BaseException, count: int) -> None:
        raise OSError("the reporter broke")

    containment = Containment(reporter)
    with containment.capture("site"):
        raise ValueError("first")
    assert containment.counts == {"site": 1}
    assert [c.site for c in drain_captured()] == ["site"]


# ----- JSON -----


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Settings:
    depth: int
    path: Path


def test_to_jsonable_handles_what_users_put_in_hyperparameters() -> None:
    value = {
        "nan": float("nan"),
        "inf": -math.inf,
        "np": np.float32(0.5),
        "np_int": np.int64(3),
        "tensor": torch.tensor(2.0),
        "array": np.arange(3),
        "enum": Color.RED,
        "dc": Settings(2, Path("/tmp/x")),
        "set": {2, 1},
        "fn": default_loss,
        1: "int key",
    }
    assert to_jsonable(value) == {
        "nan": "NaN",
        "inf": "-Infinity",
        "np": 0.5,
        "np_int": 3,
        "tensor": 2.0,
        "array": [0, 1, 2],
        "enum": "red",
        "dc": {"depth": 2, "path": "/tmp/x"},
        "set": [1, 2],
        "fn": "default_loss",
        "1": "int key",
    }
    assert dumps({"x": math.nan}) == '{"x":"NaN"}'


# ----- model facts -----


class HuggingFaceLike(nn.Module):
    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
        return {"logits": input_ids.float(), "loss": input_ids.float().mean()}


def test_targets_parameter_and_split_output() -> None:
    assert targets_parameter(TinyGPT()) == "targets"
    assert targets_parameter(HuggingFaceLike()) == "labels"
    assert targets_parameter(nn.Linear(2, 2)) is None
    logits, loss = torch.ones(2, 3), torch.tensor(0.5)
    assert split_output((logits, loss)) == (logits, loss)
    assert split_output({"logits": logits, "loss": loss}) == (logits, loss)
    assert split_output(logits)[1] is None
    assert split_output((logits, None))[1] is None
    pair = (torch.ones(2, 3), torch.ones(2, 3))  # two outputs, neither a scalar loss
    assert split_output(pair)[0] is pair


def test_unwrap_sees_through_compile_and_data_parallel() -> None:
    model = nn.Linear(2, 2)
    assert unwrap(nn.DataParallel(model)) is model
    assert unwrap(model) is model
    try:
        compiled = torch.compile(model)
    except Exception as error:  # compile unavailable: the wrapper cannot be built at all
        pytest.skip(f"torch.compile is unavailable: {error}")
    assert unwrap(compiled) is model  # type: ignore[arg-type]


def test_batch_facts() -> None:
    tokens = torch.zeros(4, 16, dtype=torch.long)
    assert batch_size(tokens) == 4
    assert token_count(tokens) == 64
    assert token_count(torch.zeros(4, 16)) is None  # features, not token ids
    assert batch_size({"input_ids": tokens}) == 4
    assert batch_size(3.0) is None


def test_default_loss_handles_sequences() -> None:
    logits = torch.randn(2, 5, 7)
    targets = torch.randint(0, 7, (2, 5))
    expected = nn.functional.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1))
    assert torch.equal(default_loss(logits, targets), expected)


# ----- FLOPs -----


@pytest.mark.parametrize(
    ("module", "shape"),
    [
        (nn.Linear(32, 16), (8, 32)),
        (nn.Linear(32, 16), (8, 5, 32)),
        (nn.Conv2d(3, 8, 3, padding=1), (2, 3, 10, 10)),
        (nn.Conv2d(8, 8, 3, groups=4), (2, 8, 10, 10)),
        (nn.Conv1d(4, 6, 5, stride=2), (3, 4, 20)),
    ],
)
def test_the_formulas_agree_with_flop_counter(module: nn.Module, shape: tuple[int, ...]) -> None:
    x = torch.randn(shape)
    with FlopCounterMode(display=False) as counter:
        out = module(x)
    counted = counter.get_total_flops()
    assert formula_flops(module, [list(shape)], list(out.shape)) == pytest.approx(counted)


def test_attention_formula_agrees_with_flop_counter() -> None:
    attention = nn.MultiheadAttention(32, 4, batch_first=True)
    x = torch.randn(2, 6, 32)
    with FlopCounterMode(display=False) as counter:
        out, _ = attention(x, x, x, need_weights=False)
    assert formula_flops(attention, [[2, 6, 32]] * 3, list(out.shape)) == pytest.approx(
        counter.get_total_flops()
    )


# ----- the step queue -----


def test_the_step_queue_keeps_order_and_reads_every_value() -> None:
    emitted: list[PendingStep] = []
    queue = StepQueue(emitted.append, batch_steps=4)
    for step in range(6):
        pending = PendingStep(step, 0, 1.0)
        pending.set_value(True, "loss", torch.tensor(float(step), requires_grad=True) * 2)
        pending.set_value(False, "acc", 0.5)
        queue.push(pending)
    queue.drain()
    assert [p.step for p in emitted] == list(range(6))
    assert [p.fields["loss"] for p in emitted] == [2.0 * s for s in range(6)]
    assert all(p.tensors == [] and p.metrics == {"acc": 0.5} for p in emitted)
    with pytest.raises(ValueError, match="one-element"):
        PendingStep(0, 0, 1.0).set_value(True, "loss", torch.ones(2))


def test_signature_of_the_pitch_api() -> None:
    parameters = inspect.signature(atlas_observatory.Observer).parameters
    assert list(parameters)[:3] == ["project_id", "run_name", "config"]
    flags = [
        "track_profiler",
        "track_memory",
        "track_throughput",
        "track_layer_health",
        "track_sustainability",
        "track_carbon_emissions",
    ]
    fields = {f.name for f in dataclasses.fields(atlas_observatory.ObserverConfig)}
    assert set(flags) <= fields
