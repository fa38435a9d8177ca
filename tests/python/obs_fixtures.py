"""Fixtures of the Observer tests (conftest.py imports them), and the rule that containment
cannot hide bugs.

Every error the Observer contains is kept by atlas_observatory.containment; after each test this
file drains them and fails the test if there were any, unless the test is marked
``@pytest.mark.telemetry_errors`` (it provokes them on purpose and checks them itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from obs_helpers import ATLASD, Atlasd

from atlas_observatory import drain_captured

# One intra-op thread: the tests' models are tiny, and on a small shared machine a second
# OpenMP thread only waits for a core (steps then take hundreds of milliseconds instead of one).
torch.set_num_threads(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "telemetry_errors: the test provokes contained telemetry errors on purpose"
    )


@pytest.fixture(autouse=True)
def contained_errors_fail_the_test(request: pytest.FixtureRequest) -> Iterator[None]:
    drain_captured()
    torch.manual_seed(0)
    yield
    captured = drain_captured()
    if captured and request.node.get_closest_marker("telemetry_errors") is None:
        first = captured[0]
        raise AssertionError(
            f"{len(captured)} telemetry error(s) were contained; the first, at "
            f"{first.site!r}: {type(first.error).__name__}: {first.error}"
        ) from first.error


@pytest.fixture
def atlasd(tmp_path: Path) -> Iterator[Atlasd]:
    """A fresh atlasd with an empty database, stopped after the test."""
    if not ATLASD.exists():
        pytest.fail(f"{ATLASD} is not built: run `ninja -C build atlasd` first")
    server = Atlasd(tmp_path / "atlasd").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def spool_dir(tmp_path: Path) -> str:
    path = tmp_path / "spool"
    path.mkdir()
    return str(path)
