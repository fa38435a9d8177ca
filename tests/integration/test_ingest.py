"""Protocol v1 ingest against a real atlasd: every record kind arrives and reads back."""

from __future__ import annotations

import math
import shutil
import subprocess

import pytest
from atlasd import Server, step

ARCH = [
    {
        "name": "",
        "type": "Net",
        "parent": None,
        "params": 0,
        "trainable_params": 0,
        "input_shape": [64, 1, 8, 8],
        "output_shape": [64, 10],
        "flops": 1.5e5,
    },
    {
        "name": "conv1",
        "type": "Conv2d",
        "parent": "",
        "params": 160,
        "trainable_params": 160,
        "input_shape": [64, 1, 8, 8],
        "output_shape": [64, 16, 8, 8],
        "flops": 9216.0,
    },
    {
        "name": "fc",
        "type": "Linear",
        "parent": "",
        "params": 10250,
        "trainable_params": 10250,
        "input_shape": [64, 1024],
        "output_shape": [64, 10],
        "flops": 20480.0,
    },
]


def full_batch() -> list[dict[str, object]]:
    return [
        {"kind": "hyperparameters", "seq": 0, "values": {"batch_size": 64, "optimizer": "Adam"}},
        {"kind": "architecture", "seq": 1, "modules": ARCH},
        step(
            2,
            0,
            forward_ms=1.5,
            backward_ms=2.5,
            data_ms=0.2,
            rss_bytes=1e8,
            metrics={"grad_scale": 1024},
        ),
        step(3, 1, loss="NaN"),
        {
            "kind": "layer_stats",
            "seq": 4,
            "step": 1,
            "epoch": 0,
            "ts": 1_700_000_001.0,
            "layers": [
                {
                    "layer": "conv1",
                    "grad_norm": 0.5,
                    "dead_fraction": 0.9,
                    "extra": {"unit_active_frac": [0.0, 0.1]},
                },
                {"layer": "fc", "update_ratio": 1e-3},
            ],
        },
        {
            "kind": "profile",
            "seq": 5,
            "step": 1,
            "ts": 1_700_000_001.5,
            "data": {"top_ops": [{"name": "aten::conv2d", "self_ms": 1.2}]},
        },
        {
            "kind": "event",
            "seq": 6,
            "ts": 1_700_000_002.0,
            "level": "warning",
            "type": "log",
            "message": "hello",
            "data": {"k": 1},
        },
        {
            "kind": "epoch",
            "seq": 7,
            "epoch": 0,
            "ts": 1_700_000_003.0,
            "duration_s": 3.0,
            "train": {"loss": 1.0},
            "val": {"loss": 1.1, "accuracy": 0.7},
            "energy": [
                {
                    "component": "cpu",
                    "device": "package-0",
                    "joules": 12.5,
                    "method": "estimated:cpu-model",
                }
            ],
        },
    ]


def test_health_and_version(server: Server) -> None:
    assert server.get("/healthz").body == {"status": "ok"}
    version = server.get("/api/v1/version").body
    assert version["name"] == "atlasd"
    assert version["protocol"] == 1


def test_project_id_one_works_against_a_fresh_server(server: Server) -> None:
    reply = server.post("/api/v1/runs", {"project_id": 1, "name": "my-run"})
    assert reply.status == 201
    assert reply.body["project_id"] == 1
    assert reply.body["status"] == "running"
    projects = server.get("/api/v1/projects").body["projects"]
    assert [p["id"] for p in projects] == [1]


def test_project_by_name_is_created_once(server: Server) -> None:
    a = server.post("/api/v1/runs", {"project": "vision", "name": "a"}).body
    b = server.post("/api/v1/runs", {"project": "vision", "name": "b"}).body
    assert a["project_id"] == b["project_id"]
    assert a["project"] == "vision"


def test_client_chosen_run_id_makes_creation_idempotent(server: Server) -> None:
    first = server.post("/api/v1/runs", {"project_id": 1, "name": "r", "run_id": "abc-123"})
    again = server.post("/api/v1/runs", {"project_id": 1, "name": "r", "run_id": "abc-123"})
    assert (first.status, again.status) == (201, 200)
    assert again.body["resumed"] is True
    assert server.get("/api/v1/runs").body["total"] == 1


def test_every_record_kind_round_trips(server: Server) -> None:
    run = server.create_run(config={"track_memory": True}, host={"hostname": "h"})
    reply = server.post(f"/api/v1/runs/{run}/records", {"records": full_batch()})
    assert reply.status == 200, reply.body
    assert reply.body == {"accepted": 8, "duplicates": 0}

    detail = server.get(f"/api/v1/runs/{run}").body
    assert detail["hyperparameters"] == {"batch_size": 64, "optimizer": "Adam"}
    assert [m["name"] for m in detail["architecture"]] == ["", "conv1", "fc"]
    assert detail["architecture"][1]["output_shape"] == [64, 16, 8, 8]
    assert detail["config"] == {"track_memory": True}
    assert detail["host"] == {"hostname": "h"}
    totals = detail["totals"]
    assert totals["step_records"] == 2
    assert totals["last_step"] == 1
    assert totals["epochs"] == 1
    assert totals["samples"] == 128
    assert totals["energy_joules"] == pytest.approx(12.5)

    series = server.get(f"/api/v1/runs/{run}/series").body["series"]
    assert {"loss", "forward_ms", "backward_ms", "grad_scale"} <= set(series)
    loss = server.get(f"/api/v1/runs/{run}/series/loss").body
    assert loss["x"] == [0, 1]
    assert loss["last"][0] == pytest.approx(2.0 / 3.0)  # step(2, ...) has loss 2 / (seq + 1)
    assert loss["last"][1] == "NaN"
    scale = server.get(f"/api/v1/runs/{run}/series/grad_scale").body
    assert scale["last"] == [1024]

    epochs = server.get(f"/api/v1/runs/{run}/epochs").body["epochs"]
    assert epochs[0]["val"] == {"loss": 1.1, "accuracy": 0.7}
    assert epochs[0]["energy"][0]["method"] == "estimated:cpu-model"

    layers = server.get(f"/api/v1/runs/{run}/layers").body["samples"]
    assert layers[0]["layers"][0]["dead_fraction"] == 0.9
    assert layers[0]["layers"][0]["extra"] == {"unit_active_frac": [0.0, 0.1]}

    events = server.get(f"/api/v1/runs/{run}/events").body["events"]
    assert events[0]["message"] == "hello"
    profiles = server.get(f"/api/v1/runs/{run}/profiles").body["profiles"]
    assert profiles[0]["data"]["top_ops"][0]["name"] == "aten::conv2d"


def test_finish_sets_the_status_and_reason(server: Server) -> None:
    run = server.create_run()
    reply = server.post(
        f"/api/v1/runs/{run}/finish",
        {
            "seq": 0,
            "ts": 1_700_000_100.0,
            "status": "failed",
            "reason": "Traceback: boom",
            "client_stats": {"dropped": {"queue": 3}},
        },
    )
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "failed"
    detail = server.get(f"/api/v1/runs/{run}").body
    assert detail["status"] == "failed"
    assert detail["status_reason"] == "Traceback: boom"
    assert detail["client_stats"] == {"dropped": {"queue": 3}}
    assert detail["finished_at"] == 1_700_000_100.0


def test_resending_a_batch_stores_nothing_twice(server: Server) -> None:
    run = server.create_run()
    batch = {"records": [step(i) for i in range(100)]}
    assert server.post(f"/api/v1/runs/{run}/records", batch).body == {
        "accepted": 100,
        "duplicates": 0,
    }
    assert server.post(f"/api/v1/runs/{run}/records", batch).body == {
        "accepted": 0,
        "duplicates": 100,
    }
    overlap = {"records": [step(i) for i in range(50, 150)]}
    assert server.post(f"/api/v1/runs/{run}/records", overlap).body == {
        "accepted": 50,
        "duplicates": 50,
    }
    detail = server.get(f"/api/v1/runs/{run}").body
    assert detail["totals"]["step_records"] == 150
    loss = server.get(f"/api/v1/runs/{run}/series/loss?points=1000").body
    assert loss["points_in_range"] == 150


def test_gzip_body_is_accepted(server: Server) -> None:
    run = server.create_run()
    reply = server.post(f"/api/v1/runs/{run}/records", {"records": [step(0)]}, encoding="gzip")
    assert reply.status == 200, reply.body
    assert reply.body["accepted"] == 1


@pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd command is not installed")
def test_zstd_body_is_accepted(server: Server) -> None:
    run = server.create_run()
    raw = (
        '{"records": ['
        + ",".join(
            f'{{"kind":"step","seq":{i},"step":{i},"ts":1700000000,"loss":1}}' for i in range(10)
        )
        + "]}"
    ).encode()
    body = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
    reply = server.post_raw(f"/api/v1/runs/{run}/records", body, extra={"Content-Encoding": "zstd"})
    assert reply.status == 200, reply.body
    assert reply.body["accepted"] == 10


def test_infinity_round_trips(server: Server) -> None:
    run = server.create_run()
    server.post(
        f"/api/v1/runs/{run}/records",
        {"records": [step(0, loss="Infinity"), step(1, loss="-Infinity")]},
    )
    loss = server.get(f"/api/v1/runs/{run}/series/loss").body
    assert loss["last"] == ["Infinity", "-Infinity"]
    assert math.isinf(float(loss["max"][0]))
