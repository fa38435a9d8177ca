from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from atlasd import ATLASD, Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh atlasd with an empty database, stopped (gracefully) after the test."""
    if not ATLASD.exists():
        pytest.fail(f"{ATLASD} is not built: run `make build` first")
    with Server(tmp_path / "data") as srv:
        yield srv
        assert srv.stopped or srv.alive(), f"atlasd died during the test:\n{srv.log()}"
