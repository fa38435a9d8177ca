"""Bad input gets a clear 4xx naming the problem, nothing partial is stored, and the server
keeps serving."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from atlasd import Server, step


def stored_steps(server: Server, run: str) -> int:
    count: int = server.get(f"/api/v1/runs/{run}").body["totals"]["step_records"]
    return count


def assert_error(reply: object, status: int, error: str, field: str | None = None) -> None:
    assert getattr(reply, "status", None) == status, reply
    body = reply.body  # type: ignore[attr-defined]
    assert body["error"] == error, body
    assert body["reason"], body
    if field is not None:
        assert body["field"] == field, body


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"records": [', b"\xff\xfe{}"])
def test_malformed_json_is_400(server: Server, raw: bytes) -> None:
    run = server.create_run()
    assert_error(server.post_raw(f"/api/v1/runs/{run}/records", raw), 400, "malformed_json")
    assert stored_steps(server, run) == 0


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"kind": "step", "seq": 1, "step": 1, "ts": 1.7e9, "loss": "low"}, "records[1].loss"),
        ({"kind": "step", "seq": 1, "ts": 1.7e9}, "records[1].step"),
        ({"kind": "step", "seq": 1, "step": -1, "ts": 1.7e9}, "records[1].step"),
        ({"kind": "step", "seq": 1.5, "step": 1, "ts": 1.7e9}, "records[1].seq"),
        ({"kind": "step", "seq": 1, "step": 1, "ts": 1.7e9, "lost": 1}, "records[1].lost"),
        ({"kind": "bogus", "seq": 1}, "records[1].kind"),
        ({"seq": 1, "step": 1}, "records[1].kind"),
        (
            {
                "kind": "epoch",
                "seq": 1,
                "epoch": 0,
                "ts": 1.7e9,
                "energy": [{"component": "gpu", "joules": 1.0}],
            },
            "records[1].energy[0].method",
        ),
    ],
)
def test_an_invalid_record_rejects_the_whole_batch(
    server: Server, record: dict[str, object], field: str
) -> None:
    run = server.create_run()
    reply = server.post(f"/api/v1/runs/{run}/records", {"records": [step(0), record, step(2)]})
    assert_error(reply, 422, "invalid_field", field)
    assert stored_steps(server, run) == 0
    assert server.get(f"/api/v1/runs/{run}/epochs").body["epochs"] == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "r"}, "project"),
        ({"project_id": 1}, "name"),
        ({"project_id": "one", "name": "r"}, "project_id"),
        ({"project_id": 1, "name": "r", "run_id": "no spaces"}, "run_id"),
        ({"project_id": 1, "name": "r", "config": [1]}, "config"),
    ],
)
def test_invalid_run_creation_is_422(
    server: Server, payload: dict[str, object], field: str
) -> None:
    assert_error(server.post("/api/v1/runs", payload), 422, "invalid_field", field)
    assert server.get("/api/v1/runs").body["total"] == 0


def test_records_for_an_unknown_run_are_404(server: Server) -> None:
    reply = server.post("/api/v1/runs/nope/records", {"records": [step(0)]})
    assert_error(reply, 404, "not_found")
    assert_error(server.get("/api/v1/runs/nope"), 404, "not_found")


def test_wrong_content_type_is_415(server: Server) -> None:
    run = server.create_run()
    reply = server.post_raw(f"/api/v1/runs/{run}/records", b'{"records": []}', "text/plain")
    assert_error(reply, 415, "unsupported_media_type", "Content-Type")


def test_unknown_content_encoding_is_415(server: Server) -> None:
    run = server.create_run()
    reply = server.post_raw(
        f"/api/v1/runs/{run}/records", b'{"records": []}', extra={"Content-Encoding": "br"}
    )
    assert_error(reply, 415, "unsupported_media_type")


def test_corrupt_gzip_is_400(server: Server) -> None:
    run = server.create_run()
    reply = server.post_raw(
        f"/api/v1/runs/{run}/records",
        b"\x1f\x8b\x08\x00garbage",
        extra={"Content-Encoding": "gzip"},
    )
    assert reply.status == 400, reply
    assert stored_steps(server, run) == 0


def test_unknown_path_and_method(server: Server) -> None:
    assert_error(server.get("/api/v1/nothing"), 404, "not_found")
    reply = server.request("DELETE", "/api/v1/runs")
    assert reply.status == 405
    assert "GET" in reply.headers["allow"]


def test_bad_query_parameters_are_400(server: Server) -> None:
    run = server.create_run()
    assert_error(server.get("/api/v1/runs?limit=0"), 400, "bad_query", "limit")
    assert_error(server.get("/api/v1/runs?status=dancing"), 400, "bad_query", "status")
    assert_error(
        server.get(f"/api/v1/runs/{run}/series/loss?points=abc"), 400, "bad_query", "points"
    )
    assert_error(server.get(f"/api/v1/runs/{run}/series/loss?x=epoch"), 400, "bad_query", "x")
    assert_error(server.get(f"/api/v1/runs/{run}/series/no_such_metric"), 404, "not_found")


def test_oversized_body_is_413_and_nothing_is_stored(tmp_path: Path) -> None:
    with Server(tmp_path / "small", "--body-limit", "4096") as server:
        run = server.create_run()
        big = {"records": [step(i) for i in range(200)]}
        reply = server.post(f"/api/v1/runs/{run}/records", big)
        assert_error(reply, 413, "payload_too_large")
        assert stored_steps(server, run) == 0
        assert server.get("/healthz").status == 200


def test_too_many_records_in_one_batch_is_413(server: Server) -> None:
    run = server.create_run()
    # Small records, so the body fits the byte limit but not the per-batch record limit.
    records = ",".join(
        f'{{"kind":"event","seq":{i},"ts":1,"level":"info","type":"t","message":""}}'
        for i in range(100_001)
    )
    reply = server.post_raw(f"/api/v1/runs/{run}/records", f'{{"records":[{records}]}}'.encode())
    assert_error(reply, 413, "payload_too_large")


def raw_exchange(server: Server, data: bytes, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        if not read:
            return b""
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_truncated_body_stores_nothing_and_server_survives(server: Server) -> None:
    run = server.create_run()
    body = (
        b'{"records": ['
        + b",".join(
            f'{{"kind":"step","seq":{i},"step":{i},"ts":1700000000}}'.encode() for i in range(50)
        )
        + b"]}"
    )
    head = (
        f"POST /api/v1/runs/{run}/records HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    answer = raw_exchange(server, head + body[: len(body) // 2])
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400")
    assert stored_steps(server, run) == 0
    assert server.get("/healthz").status == 200


def test_client_disconnecting_mid_request_does_not_hurt(server: Server) -> None:
    run = server.create_run()
    head = (
        f"POST /api/v1/runs/{run}/records HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    for _ in range(20):
        raw_exchange(server, head + b'{"records": [{"kind":"st', read=False)
    assert stored_steps(server, run) == 0
    assert server.post(f"/api/v1/runs/{run}/records", {"records": [step(0)]}).status == 200
    assert stored_steps(server, run) == 1


def test_garbage_instead_of_http(server: Server) -> None:
    answer = raw_exchange(server, b"\x00\x01\x02 definitely not http\r\n\r\n")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400")
    assert server.get("/healthz").status == 200
