"""Live push over Server-Sent Events: a run's stream, the runs table's stream, reconnecting with
Last-Event-ID, a slow client that must not hold ingest back, and a graceful stop that ends
streams."""

from __future__ import annotations

import socket

from atlasd import Server, step
from sse import Event, SseClient


def epoch(seq: int, number: int, loss: float) -> dict[str, object]:
    return {
        "kind": "epoch",
        "seq": seq,
        "epoch": number,
        "ts": 1_700_000_100.0 + number,
        "duration_s": 10.0,
        "train": {"loss": loss},
        "val": {"loss": loss * 1.1},
        "energy": [{"component": "gpu", "joules": 5000.0, "method": "measured:nvml-counter"}],
    }


def layer_stats(seq: int, layers: int = 4) -> dict[str, object]:
    return {
        "kind": "layer_stats",
        "seq": seq,
        "step": seq,
        "epoch": 0,
        "ts": 1_700_000_000.0 + seq * 0.01,
        "layers": [
            {"layer": f"block{i}.fc", "grad_norm": 0.1, "dead_fraction": 0.0, "update_ratio": 1e-3}
            for i in range(layers)
        ],
    }


def test_run_stream_carries_steps_epochs_layers_diagnostics_and_status(server: Server) -> None:
    run = server.create_run()
    client = SseClient(server.port, f"/api/v1/runs/{run}/live")
    try:
        assert client.status == 200
        assert client.headers["content-type"] == "text/event-stream"
        records = [step(i) for i in range(50)] + [layer_stats(50), epoch(51, 0, 0.9)]
        assert server.post(f"/api/v1/runs/{run}/records", {"records": records}).status == 200
        finish = {"seq": 52, "ts": 1_700_000_200.0, "status": "completed"}
        assert server.post(f"/api/v1/runs/{run}/finish", finish).status == 200

        seen = {"finished": False, "diagnosed": False}

        def diagnosed_after_finish(event: Event) -> bool:
            # The status event and the finished run's diagnosis come from different threads, in
            # either order; the diagnosis says which run status it saw.
            if event.event == "status" and event.data.get("status") == "completed":
                seen["finished"] = True
            if event.event == "diagnostics" and event.data.get("run_status") == "completed":
                seen["diagnosed"] = True
            return seen["finished"] and seen["diagnosed"]

        events = client.events_until(diagnosed_after_finish)
        kinds = [e.event for e in events]
        assert client.retry == 3000
        assert "steps" in kinds
        assert "epoch" in kinds
        assert "layers" in kinds
        status = [e.data for e in events if e.event == "status"]
        assert {"status": "completed", "reason": ""} in status
        steps = [e.data for e in events if e.event == "steps"]
        assert steps[-1]["step"] == 49  # the newest step always goes out
        assert steps[-1]["fields"]["loss"] == 2.0 / 50
        epoch_event = next(e.data for e in events if e.event == "epoch")
        assert epoch_event["epoch"] == 0
        assert epoch_event["joules"] == 5000.0
        layers_event = next(e.data for e in events if e.event == "layers")
        assert [x["layer"] for x in layers_event["layers"]] == [f"block{i}.fc" for i in range(4)]
        diagnostics = [e.data for e in events if e.event == "diagnostics"][-1]
        assert diagnostics["grade"] in "ABCDEF"
        assert isinstance(diagnostics["findings"], list)
        ids = [int(e.id) for e in events]
        assert ids == sorted(ids)
    finally:
        client.close()


def test_runs_stream_announces_created_updated_and_finished_runs(server: Server) -> None:
    client = SseClient(server.port, "/api/v1/live")
    try:
        run = server.create_run(name="table-row")
        created = client.events_until(
            lambda e: e.event == "run" and e.data.get("type") == "created"
        )
        assert created[-1].data["id"] == run
        assert created[-1].data["name"] == "table-row"
        server.post(f"/api/v1/runs/{run}/records", {"records": [epoch(0, 0, 1.0)]})
        server.post(
            f"/api/v1/runs/{run}/finish", {"seq": 1, "ts": 1_700_000_300.0, "status": "failed"}
        )
        rest = client.events_until(lambda e: e.event == "run" and e.data.get("type") == "finished")
        assert rest[-1].data == {"type": "finished", "id": run, "status": "failed", "reason": ""}
        assert any(e.data.get("type") == "updated" and e.data.get("epoch") == 0 for e in rest)
    finally:
        client.close()


def test_unknown_run_stream_is_404(server: Server) -> None:
    reply = server.get("/api/v1/runs/no-such-run/live")
    assert reply.status == 404


def test_reconnecting_with_last_event_id_replays_what_was_missed(server: Server) -> None:
    run = server.create_run()
    first = SseClient(server.port, f"/api/v1/runs/{run}/live")
    server.post(f"/api/v1/runs/{run}/records", {"records": [epoch(0, 0, 1.0)]})
    seen = first.events_until(lambda e: e.event == "epoch")
    first.close()
    server.post(f"/api/v1/runs/{run}/records", {"records": [epoch(1, 1, 0.8), epoch(2, 2, 0.7)]})
    again = SseClient(server.port, f"/api/v1/runs/{run}/live", last_event_id=seen[-1].id)
    try:
        replayed = again.events_until(lambda e: e.event == "epoch" and e.data["epoch"] == 2)
        epochs = [e.data["epoch"] for e in replayed if e.event == "epoch"]
        assert epochs == [1, 2]
        assert all(int(e.id) > int(seen[-1].id) for e in replayed)
    finally:
        again.close()


def test_a_slow_client_is_dropped_and_never_holds_ingest_back(server: Server) -> None:
    run = server.create_run()
    slow = SseClient(server.port, f"/api/v1/runs/{run}/live", recv_buffer=4096)
    batches = 600
    try:
        # Every batch publishes a large `layers` event (~45 KB; ~27 MB in all, far more than the
        # loopback socket buffers hold) the slow client never reads; ingest must answer every
        # request regardless.
        for b in range(batches):
            records = [layer_stats(b, layers=500)]
            reply = server.post(f"/api/v1/runs/{run}/records", {"records": records})
            assert reply.status == 200, reply
        assert server.get("/healthz").status == 200
        # The server gave up on the client instead of queueing without bound: reading what
        # reached the socket ends in the stream closing, short of every event.
        received = slow.drain()
        assert slow.closed
        assert len([e for e in received if e.event == "layers"]) < batches
    finally:
        slow.close()


def test_graceful_stop_ends_open_streams(server: Server) -> None:
    run = server.create_run()
    clients = [
        SseClient(server.port, f"/api/v1/runs/{run}/live"),
        SseClient(server.port, "/api/v1/live"),
    ]
    try:
        assert server.stop() == 0
        for client in clients:
            client.drain()
            assert client.closed
    finally:
        for client in clients:
            client.close()


def test_stream_head_allows_no_body_on_head_requests(server: Server) -> None:
    # A HEAD of a stream is answered like a HEAD of any other GET endpoint (405, Allow: GET,
    # no body), and no stream is held open: the server closes the connection.
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        sock.sendall(b"HEAD /api/v1/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        assert data.startswith(b"HTTP/1.1 405")
        assert b"Allow: GET" in data
        assert b"event:" not in data
    finally:
        sock.close()
