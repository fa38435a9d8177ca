"""The diagnostics API over a real atlasd: the run's document, the check catalogue and the
threshold table, per-project threshold overrides that change a result, the runs list's grade,
and `atlas report` printing the same document."""

from __future__ import annotations

import json
import subprocess

from atlasd import ATLAS_CLI, Server, step

FINDING_KEYS = {
    "check",
    "category",
    "severity",
    "layer",
    "epochs",
    "title",
    "evidence",
    "why",
    "fix",
    "energy_at_stake",
}


def epoch(seq: int, number: int, loss: float) -> dict[str, object]:
    return {
        "kind": "epoch",
        "seq": seq,
        "epoch": number,
        "ts": 1_700_000_100.0 + number * 10,
        "duration_s": 10.0,
        "train": {"loss": loss},
        "val": {"loss": loss * 1.05},
        "energy": [{"component": "gpu", "joules": 36_000.0, "method": "measured:nvml-counter"}],
    }


def train(server: Server, run: str, epochs: int = 6) -> None:
    """Posts steps and epochs of a run whose loss falls, then finishes it."""
    seq = 0
    for e in range(epochs):
        records = []
        for _ in range(20):
            records.append(step(seq, loss=1.0 / (e + 1), epoch=e))
            seq += 1
        records.append(epoch(seq, e, 1.0 / (e + 1)))
        seq += 1
        assert server.post(f"/api/v1/runs/{run}/records", {"records": records}).status == 200
    finish = {"seq": seq, "ts": 1_700_001_000.0, "status": "completed"}
    assert server.post(f"/api/v1/runs/{run}/finish", finish).status == 200


def test_unknown_run_is_404(server: Server) -> None:
    reply = server.get("/api/v1/runs/nope/diagnostics")
    assert reply.status == 404


def test_a_run_without_epochs_has_a_valid_document(server: Server) -> None:
    run = server.create_run()
    doc = server.get(f"/api/v1/runs/{run}/diagnostics").body
    assert doc["run_id"] == run
    assert doc["grade"] in ("A", "B", "C", "D", "E", "F")
    assert 0 <= doc["score"] <= 100
    assert isinstance(doc["findings"], list)
    for key in ("category_scores", "waste", "forecast", "layer_scores"):
        assert key in doc


def test_document_of_a_trained_run_and_the_runs_list(server: Server) -> None:
    run = server.create_run(config={"energy": {"country_iso_code": "POL"}})
    train(server, run)
    doc = server.get(f"/api/v1/runs/{run}/diagnostics").body
    for finding in doc["findings"]:
        assert set(finding) == FINDING_KEYS
    assert "carbon.high_intensity_grid" in {f["check"] for f in doc["findings"]}
    for key in ("epochs", "seconds", "kwh", "kg_co2", "eur", "car_km", "fraction"):
        assert key in doc["waste"]

    listed = server.get("/api/v1/runs").body["runs"][0]
    assert listed["id"] == run
    assert listed["diagnosis"]["grade"] == doc["grade"]
    assert listed["diagnosis"]["score"] == doc["score"]
    assert listed["diagnosis"]["kwh"] > 0
    assert listed["diagnosis"]["kg_co2"] > 0
    detail = server.get(f"/api/v1/runs/{run}").body
    assert detail["diagnosis"]["grade"] == doc["grade"]


def test_catalogue_and_threshold_table(server: Server) -> None:
    checks = server.get("/api/v1/diagnostics/checks").body["checks"]
    ids = [c["id"] for c in checks]
    assert len(ids) == len(set(ids)) >= 40
    categories = {"layer", "gradient", "architecture", "convergence", "device", "carbon"}
    assert {c["category"] for c in checks} == categories
    assert all(c["summary"] for c in checks)
    table = server.get("/api/v1/diagnostics/thresholds").body["thresholds"]
    keys = {t["key"] for t in table}
    assert "carbon.high_intensity_grid.g_co2_per_kwh" in keys
    assert all(t["source"] and t["unit"] for t in table)


def test_threshold_overrides_are_validated_and_change_the_result(server: Server) -> None:
    run = server.create_run(config={"energy": {"country_iso_code": "POL"}})
    project = server.get(f"/api/v1/runs/{run}").body["project_id"]
    path = f"/api/v1/projects/{project}/thresholds"
    key = "carbon.high_intensity_grid.g_co2_per_kwh"

    unknown = server.request("PUT", path, json.dumps({"no.such": 1}).encode(), _json())
    assert unknown.status == 400
    assert unknown.body["field"] == "no.such"
    not_number = server.request("PUT", path, json.dumps({key: "high"}).encode(), _json())
    assert not_number.status == 400
    assert not_number.body["field"] == key
    assert server.get(path).body["overrides"] == {}

    train(server, run)
    before = server.get(f"/api/v1/runs/{run}/diagnostics").body
    assert key.rsplit(".", 1)[0] in {f["check"] for f in before["findings"]}

    put = server.request("PUT", path, json.dumps({key: 5000}).encode(), _json())
    assert put.status == 200
    assert put.body["overrides"] == {key: 5000}
    assert put.body["effective"][key] == 5000
    assert server.get(path).body["overrides"] == {key: 5000}
    after = server.get(f"/api/v1/runs/{run}/diagnostics").body
    assert key.rsplit(".", 1)[0] not in {f["check"] for f in after["findings"]}


def test_any_finite_override_of_every_threshold_leaves_atlasd_answering(server: Server) -> None:
    """Overrides are user input: every key at once set to 0, -1 or 1e300 (windows of no samples,
    counts past any run) must still give a valid document for a run without epochs and a trained
    run, and atlasd must stay up."""
    empty = server.create_run(config={"energy": {"country_iso_code": "POL"}})
    trained = server.create_run(config={"energy": {"country_iso_code": "POL"}})
    train(server, trained)
    project = server.get(f"/api/v1/runs/{trained}").body["project_id"]
    assert server.get(f"/api/v1/runs/{empty}").body["project_id"] == project
    keys = [t["key"] for t in server.get("/api/v1/diagnostics/thresholds").body["thresholds"]]
    for value in (0, -1, 1e300):
        overrides = json.dumps({key: value for key in keys}).encode()
        put = server.request("PUT", f"/api/v1/projects/{project}/thresholds", overrides, _json())
        assert put.status == 200, put.body
        for run in (empty, trained):
            reply = server.get(f"/api/v1/runs/{run}/diagnostics")
            assert reply.status == 200, (value, reply.body)
            for finding in reply.body["findings"]:
                assert set(finding) == FINDING_KEYS
        assert server.alive()


def test_atlas_report_prints_the_document(server: Server) -> None:
    run = server.create_run(config={"energy": {"country_iso_code": "POL"}})
    train(server, run)
    doc = server.get(f"/api/v1/runs/{run}/diagnostics").body
    url = ["--url", f"http://127.0.0.1:{server.port}"]
    as_json = json.loads(_atlas("report", run, "--json", *url))
    # The analysis worker may have re-diagnosed the same records in between: the time of the
    # computation may differ, the document may not.
    as_json.pop("computed_at")
    assert as_json == {k: v for k, v in doc.items() if k != "computed_at"}
    text = _atlas("report", run, *url)
    assert f"grade {doc['grade']}" in text
    assert "optimal stop epoch" in text
    for finding in doc["findings"]:
        assert finding["title"] in text
        assert finding["check"] in text
    missing = subprocess.run(
        [str(ATLAS_CLI), "report", "nope", *url], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2


def _atlas(*args: str) -> str:
    done = subprocess.run([str(ATLAS_CLI), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _json() -> dict[str, str]:
    return {"Content-Type": "application/json"}
