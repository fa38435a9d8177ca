"""`make demo`'s main job, run non-interactively: scripts/demo.sh with DEMO_EXIT=1 on a free port
and its own data directory, then its outcome checked against atlasd's API on the same database.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

from obs_helpers import BUILD, REPO, Atlasd

PLANTED: dict[str, set[str | None]] = {
    "layer.dead": {"fc1", "fc1_act"},
    "architecture.fc_dominance": {"fc1", "fc2", None},
    "architecture.missing_downsampling": {"conv1", "conv2", "conv3", None},
    "convergence.past_optimal_stop": {None},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_flags_the_broken_model_and_its_summary_matches_the_api(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    env = dict(
        os.environ,
        DEMO_EXIT="1",
        ATLAS_PORT=str(free_port()),
        ATLAS_DEMO_DATA_DIR=str(data_dir),
        BUILD_DIR=str(BUILD),
    )
    done = subprocess.run(
        [str(REPO / "scripts" / "demo.sh")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # a safety limit, not a timing assertion
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "of the emissions" in done.stdout, done.stdout[-3000:]
    summary = json.loads((data_dir / "demo_summary.json").read_text())
    broken, fixed = summary["broken"], summary["fixed"]

    assert broken["grade"] in "DEF", broken
    found = {(f["check"], f["layer"]) for f in broken["findings"]}
    for check, layers in PLANTED.items():
        assert any(c == check and layer in layers for c, layer in found), (check, found)
    assert fixed["grade"] in "AB", fixed
    assert f"grade {broken['grade']}" in done.stdout

    # The summary's numbers are the API's, read again from the same database.
    server = Atlasd(data_dir).start()
    try:
        for run in (broken, fixed):
            diagnosis = server.get(f"/api/v1/runs/{run['run_id']}/diagnostics")
            energy = server.get(f"/api/v1/runs/{run['run_id']}/energy")
            assert run["grade"] == diagnosis["grade"]
            assert run["waste"] == diagnosis["waste"]
            assert run["optimal_stop_epoch"] == diagnosis["optimal_stop_epoch"]
            assert run["energy"] == energy["totals"]
        ratio = fixed["energy"]["kg_co2"] / broken["energy"]["kg_co2"]
        assert summary["fixed_emissions_ratio"] == ratio
        assert ratio < 1
    finally:
        server.stop()
