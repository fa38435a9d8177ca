"""Control API (issue 7, docs/control.md): actions, their validation, the audit log, and the
observer's side of the wire (ingest replies and the control poll), against a real atlasd."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from atlasd import ATLAS_CLI, Server, step


def actions_of(server: Server, run: str) -> Any:
    reply = server.get(f"/api/v1/runs/{run}/actions")
    assert reply.status == 200, reply
    return reply.body


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"mode": "step"}, 422, "action"),
        ({"action": "explode"}, 422, "action"),
        ({"action": "stop", "mode": "soon"}, 422, "mode"),
        ({"action": "pause", "params": {"lr": 1}}, 422, "params"),
        ({"action": "adjust"}, 422, "params"),
        ({"action": "adjust", "params": {"lr": "fast"}}, 422, "params.lr"),
        ({"action": "adjust", "params": {"lr": "-1x"}}, 422, "params.lr"),
        ({"action": "stop", "why": "x"}, 422, "why"),
        ({"action": "stop", "reason": "r" * 1001}, 422, "reason"),
    ],
)
def test_invalid_actions_name_the_field(
    server: Server, payload: dict[str, object], status: int, field: str
) -> None:
    run = server.create_run()
    reply = server.post(f"/api/v1/runs/{run}/actions", payload)
    assert reply.status == status, reply
    assert reply.body["field"] == field
    assert reply.body["reason"]
    assert actions_of(server, run)["actions"] == []


def test_malformed_bodies_are_400_and_415(server: Server) -> None:
    run = server.create_run()
    assert server.post_raw(f"/api/v1/runs/{run}/actions", b"{not json").status == 400
    assert server.post_raw(f"/api/v1/runs/{run}/actions", b"{}", "text/plain").status == 415
    assert server.post_raw(f"/api/v1/runs/{run}/control", b"[]").status == 400


def test_unknown_and_finished_runs_get_clear_errors(server: Server) -> None:
    reply = server.post("/api/v1/runs/no-such-run/actions", {"action": "stop"})
    assert reply.status == 404
    assert "no-such-run" in reply.body["reason"]
    assert server.get("/api/v1/runs/no-such-run/actions").status == 404
    assert server.post("/api/v1/runs/no-such-run/control", {}).status == 404

    run = server.create_run()
    finish = {"seq": 1, "ts": 1_700_000_100.0, "status": "completed"}
    assert server.post(f"/api/v1/runs/{run}/finish", finish).status == 200
    reply = server.post(f"/api/v1/runs/{run}/actions", {"action": "pause"})
    assert reply.status == 409
    assert f"run '{run}' is completed" in reply.body["reason"]


def test_the_audit_log_records_who_what_when_why_and_the_state(server: Server) -> None:
    run = server.create_run()
    reply = server.post(
        f"/api/v1/runs/{run}/actions",
        {"action": "pause", "reason": "checking the data", "actor": "ana"},
    )
    assert reply.status == 201, reply
    assert reply.body["state"] == "pausing"
    action = reply.body
    assert action["action"] == "pause"
    assert action["id"] == 1
    assert action["actor"] == "ana"
    assert action["reason"] == "checking the data"
    assert action["outcome"] is None
    assert action["created_at"] > 1_600_000_000

    # A second pause, or a resume of nothing, is refused with the state.
    again = server.post(f"/api/v1/runs/{run}/actions", {"action": "pause"})
    assert again.status == 409
    assert "already paused" in again.body["reason"]

    view = actions_of(server, run)
    assert view["state"] == "pausing"
    assert view["run_status"] == "running"
    default_actor = server.post(f"/api/v1/runs/{run}/actions", {"action": "stop"})
    assert default_actor.body["actor"] == "api"
    assert default_actor.body["mode"] == "step"
    assert actions_of(server, run)["state"] == "stopping"


def test_actions_ride_on_ingest_replies_until_acknowledged(server: Server) -> None:
    run = server.create_run()
    quiet = server.post(f"/api/v1/runs/{run}/records", {"records": [step(1)]})
    assert quiet.status == 200
    assert "actions" not in quiet.body

    adjust = {"action": "adjust", "params": {"lr": "0.5x"}, "actor": "ana"}
    assert server.post(f"/api/v1/runs/{run}/actions", adjust).status == 201
    reply = server.post(f"/api/v1/runs/{run}/records", {"records": [step(2)]})
    assert reply.body["accepted"] == 1
    [delivered] = reply.body["actions"]
    assert delivered["action"] == "adjust"
    assert delivered["params"] == {"lr": {"multiply": 0.5}}
    assert actions_of(server, run)["actions"][0]["delivered_at"] is not None

    ack = {"acks": [{"id": delivered["id"], "outcome": "applied", "detail": "lr 0.1 -> 0.05"}]}
    polled = server.post(f"/api/v1/runs/{run}/control", ack)
    assert polled.status == 200, polled
    assert polled.body == {"actions": [], "state": "running"}
    later = server.post(f"/api/v1/runs/{run}/records", {"records": [step(3)]})
    assert "actions" not in later.body
    [logged] = actions_of(server, run)["actions"]
    assert logged["outcome"] == "applied"
    assert logged["detail"] == "lr 0.1 -> 0.05"
    assert logged["applied_at"] >= logged["delivered_at"] >= logged["created_at"]


def test_the_control_poll_registers_and_returns_what_is_new(server: Server) -> None:
    run = server.create_run()
    hello = {"register": {"pause_on": "critical", "adjustable": ["lr", "dropout"]}}
    assert server.post(f"/api/v1/runs/{run}/control", hello).body["actions"] == []
    assert actions_of(server, run)["registration"]["adjustable"] == ["lr", "dropout"]

    # Names the run did not register are refused before they reach it.
    bad = {"action": "adjust", "params": {"momentum": 0.8}}
    refused = server.post(f"/api/v1/runs/{run}/actions", bad)
    assert refused.status == 409
    assert "'momentum'" in refused.body["reason"]
    ok = {"action": "adjust", "params": {"dropout": 0.2}}
    assert server.post(f"/api/v1/runs/{run}/actions", ok).status == 201

    assert len(server.get(f"/api/v1/runs/{run}/control").body["actions"]) == 1
    assert server.get(f"/api/v1/runs/{run}/control?after=1").body["actions"] == []
    assert server.get(f"/api/v1/runs/{run}/control?after=-1").status == 400
    invalid = server.post(f"/api/v1/runs/{run}/control", {"acks": [{"id": 1}]})
    assert invalid.status == 422
    assert invalid.body["field"] == "acks[0].outcome"
    unknown = {"acks": [{"id": 7, "outcome": "applied"}]}
    assert server.post(f"/api/v1/runs/{run}/control", unknown).status == 404


def test_a_hold_waits_for_a_decision_and_the_observer_reports_its_own(server: Server) -> None:
    run = server.create_run()
    hold = {"action": "hold", "reason": "look at the gradients", "actor": "ana"}
    assert server.post(f"/api/v1/runs/{run}/actions", hold).body["state"] == "holding"
    ack = {"acks": [{"id": 1, "outcome": "applied", "detail": "held"}]}
    assert server.post(f"/api/v1/runs/{run}/control", ack).body["state"] == "held_for_decision"
    decided = {"decisions": [{"action": "stop", "actor": "timeout", "reason": "no answer"}]}
    reply = server.post(f"/api/v1/runs/{run}/control", decided)
    assert reply.body["state"] == "stopping"
    log = actions_of(server, run)["actions"]
    assert [a["action"] for a in log] == ["hold", "stop"]
    assert log[1]["actor"] == "timeout"
    assert log[1]["outcome"] == "applied"


def test_the_cli_sends_actions_and_prints_the_log(server: Server) -> None:
    run = server.create_run()
    url = ["--url", f"http://127.0.0.1:{server.port}"]

    def atlas(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ATLAS_CLI), *args, *url], capture_output=True, text=True, timeout=60
        )

    paused = atlas("pause", run, "--reason", "lunch", "--actor", "ana")
    assert paused.returncode == 0, paused.stderr
    assert "pausing" in paused.stdout
    assert atlas("resume", run).returncode == 0
    adjusted = atlas("adjust", run, "--lr", "0.5x", "--set", "dropout=0.1")
    assert adjusted.returncode == 0, adjusted.stderr
    stopped = atlas("stop", run, "--at", "epoch", "--reason", "good enough")
    assert stopped.returncode == 0, stopped.stderr
    assert "end of the epoch" in stopped.stdout

    listing = atlas("actions", run)
    assert listing.returncode == 0, listing.stderr
    for text in ("stopping", "pause", "resume", "adjust", "lr x0.5", "good enough", "ana"):
        assert text in listing.stdout, listing.stdout
    log = actions_of(server, run)["actions"]
    assert log[2]["params"] == {"lr": {"multiply": 0.5}, "dropout": {"set": 0.1}}

    again = atlas("stop", run, "--at", "epoch")
    assert again.returncode == 1
    assert "already stopping" in again.stderr
    missing = atlas("stop", "no-such-run")
    assert missing.returncode == 2
    assert "no-such-run" in missing.stderr
    assert atlas("adjust", run).returncode == 1
