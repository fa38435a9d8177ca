"""How runs end and go on: context manager, uncaught exceptions, exit without finish(), resume
by run id, and DataLoader workers (fork) that inherit an Observer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from obs_helpers import REPO, Atlasd, DigitsCNN, digits_dataset, digits_loader, step_series
from torch.utils.data import DataLoader, Dataset

from atlas_observatory import Observer, ObserverConfig


def config(atlasd: Atlasd, spool_dir: str, **settings: Any) -> ObserverConfig:
    return ObserverConfig(server_url=atlasd.url, spool_dir=spool_dir, **settings)


def test_the_context_manager_finishes_a_failing_run_as_failed(
    atlasd: Atlasd, spool_dir: str
) -> None:
    model = DigitsCNN()
    observer = Observer(project_id=1, run_name="ctx", config=config(atlasd, spool_dir))

    def train_until_it_fails() -> None:
        with observer:
            for x, y in digits_loader(limit=128):
                observer.step(model, x, y)
            raise RuntimeError("the loss diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        train_until_it_fails()
    run_id = observer.run_id
    assert run_id is not None
    run = atlasd.run(run_id)
    assert run["status"] == "failed"
    assert "RuntimeError: the loss diverged" in run["status_reason"]
    assert run["totals"]["step_records"] == 2


def test_a_users_exception_inside_step_propagates_unchanged(atlasd: Atlasd, spool_dir: str) -> None:
    observer = Observer(project_id=1, run_name="user-bug", config=config(atlasd, spool_dir))
    model = DigitsCNN()
    x = torch.zeros(4, 1, 7, 7)  # the wrong image size: the model's own error
    with pytest.raises(RuntimeError, match="shape"):
        observer.step(model, x, torch.zeros(4, dtype=torch.long))
    observer.finish("stopped", "gave up")
    run_id = observer.run_id
    assert run_id is not None
    assert atlasd.run(run_id)["status"] == "stopped"


def test_a_huge_finish_reason_is_cut_to_the_protocols_limit(atlasd: Atlasd, spool_dir: str) -> None:
    observer = Observer(project_id=1, run_name="long-reason", config=config(atlasd, spool_dir))
    observer.log_event("one record, so the run exists")
    observer.finish("failed", "x" * 200_000 + "the end")
    run_id = observer.run_id
    assert run_id is not None
    run = atlasd.run(run_id)
    assert run["status"] == "failed"
    assert run["status_reason"].endswith("the end")
    assert len(run["status_reason"].encode()) <= 64 * 1024


SCRIPT = """
import sys
import torch
sys.path.insert(0, {tests!r})
from obs_helpers import DigitsCNN, digits_loader
from atlas_observatory import Observer, ObserverConfig

torch.set_num_threads(1)
config = ObserverConfig(server_url={url!r}, spool_dir={spool!r}, run_id={run_id!r})
observer = Observer(project="lifecycle", run_name="script", config=config)
model = DigitsCNN()
for x, y in digits_loader(limit=192):
    observer.step(model, x, y)
{ending}
"""


def run_script(atlasd: Atlasd, spool_dir: str, run_id: str, ending: str) -> Any:
    source = SCRIPT.format(
        tests=str(REPO / "tests" / "python"),
        url=atlasd.url,
        spool=spool_dir,
        run_id=run_id,
        ending=textwrap.dedent(ending),
    )
    return subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=300, check=False
    )


def test_an_uncaught_exception_finishes_the_run_as_failed_with_its_traceback(
    atlasd: Atlasd, spool_dir: str
) -> None:
    done = run_script(atlasd, spool_dir, "uncaught", "raise ValueError('out of memory, say')")
    assert done.returncode == 1
    assert "ValueError: out of memory, say" in done.stderr  # the default hook still ran
    run = atlasd.run("uncaught")
    assert run["status"] == "failed"
    assert "ValueError: out of memory, say" in run["status_reason"]
    assert run["totals"]["step_records"] == 3


def test_exiting_without_finish_completes_the_run(atlasd: Atlasd, spool_dir: str) -> None:
    done = run_script(atlasd, spool_dir, "no-finish", "print('bye')")
    assert done.returncode == 0, done.stderr
    run = atlasd.run("no-finish")
    assert run["status"] == "completed"
    assert run["totals"]["step_records"] == 3


def test_a_resumed_run_goes_on_from_its_last_step(atlasd: Atlasd, spool_dir: str) -> None:
    losses: list[float] = []
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for session in range(2):
        settings = config(atlasd, spool_dir, run_id="resumable", layer_health_every=5)
        observer = Observer(project="lifecycle", run_name="resume", config=settings)
        assert observer.step_count == 10 * session
        assert observer.epoch == session
        for x, y in digits_loader(limit=640):
            _, loss = observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        observer.end_epoch()
        observer.finish()
    run = atlasd.run("resumable")
    assert run["totals"]["step_records"] == 20
    assert run["totals"]["epochs"] == 2
    assert run["totals"]["layer_samples"] == 4
    assert step_series(atlasd, "resumable")["last"] == pytest.approx(losses, rel=1e-6)
    assert run["status"] == "completed"


class CallsTheObserver(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A dataset whose items touch the Observer from inside the DataLoader worker."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.data = digits_dataset()

    def __len__(self) -> int:
        return 256

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # In a worker (a fork()ed child) the Observer must do nothing, and never hang.
        self.observer.log_event("from a worker", pid=os.getpid())
        self.observer.log_step(loss=1.0)
        x, y = self.data[index]
        return x, y


def test_dataloader_workers_fork_safely(atlasd: Atlasd, spool_dir: str) -> None:
    settings = config(atlasd, spool_dir, layer_health_every=2)
    observer = Observer(project="lifecycle", run_name="workers", config=settings)
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loader = DataLoader(CallsTheObserver(observer), batch_size=32, num_workers=2)
    assert loader.multiprocessing_context is None  # the platform default: fork on Linux
    for _ in range(2):
        for x, y in loader:
            observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        observer.end_epoch()
    stats = observer.finish()
    assert stats["client"]["dropped"] == 0
    run_id = observer.run_id
    assert run_id is not None
    run = atlasd.run(run_id)
    assert run["totals"]["step_records"] == 16  # the workers' log_step calls recorded nothing
    assert run["totals"]["events"] == 0
    assert run["status"] == "completed"


def test_the_package_installs_with_the_native_module() -> None:
    import atlas_observatory
    from atlas_observatory import _atlas

    assert _atlas.STEP_FIELDS[0] == "loss"
    assert (Path(atlas_observatory.__file__).parent / "py.typed").exists()
