"""The query API: run listing (filters, sort, paging) and server-side downsampled series."""

from __future__ import annotations

from atlasd import Server, step


def test_runs_filter_sort_and_page(server: Server) -> None:
    ids = {}
    for name, project in [("alpha", "p1"), ("beta", "p1"), ("gamma", "p2")]:
        ids[name] = server.post("/api/v1/runs", {"project": project, "name": name}).body["id"]
    server.post(
        f"/api/v1/runs/{ids['beta']}/finish",
        {"seq": 0, "ts": 1_700_000_000.0, "status": "completed"},
    )

    assert server.get("/api/v1/runs").body["total"] == 3
    p1 = server.get("/api/v1/runs?project=p1").body
    assert sorted(r["name"] for r in p1["runs"]) == ["alpha", "beta"]
    p2_id = server.get("/api/v1/runs?project=p2").body["runs"][0]["project_id"]
    assert server.get(f"/api/v1/runs?project={p2_id}").body["runs"][0]["name"] == "gamma"
    done = server.get("/api/v1/runs?status=completed").body
    assert [r["name"] for r in done["runs"]] == ["beta"]
    assert [r["name"] for r in server.get("/api/v1/runs?name=mm").body["runs"]] == ["gamma"]

    by_name = server.get("/api/v1/runs?sort=name&order=asc").body["runs"]
    assert [r["name"] for r in by_name] == ["alpha", "beta", "gamma"]
    page = server.get("/api/v1/runs?sort=name&order=asc&limit=2&offset=2").body
    assert [r["name"] for r in page["runs"]] == ["gamma"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 2)


def test_series_is_downsampled_with_spikes_kept(server: Server) -> None:
    run = server.create_run()
    records = [step(i, loss=1.0) for i in range(5000)]
    records[3210]["loss"] = 99.0
    for start in range(0, 5000, 1000):
        reply = server.post(
            f"/api/v1/runs/{run}/records", {"records": records[start : start + 1000]}
        )
        assert reply.status == 200
    series = server.get(f"/api/v1/runs/{run}/series/loss?points=100").body
    assert series["points_in_range"] == 5000
    assert len(series["x"]) <= 100
    assert max(series["max"]) == 99.0
    assert min(series["min"]) == 1.0
    assert sum(series["count"]) == 5000
    assert series["x"][-1] == 4999


def test_series_range_on_step_and_time_axes(server: Server) -> None:
    run = server.create_run()
    server.post(f"/api/v1/runs/{run}/records", {"records": [step(i) for i in range(100)]})
    by_step = server.get(f"/api/v1/runs/{run}/series/loss?from=10&to=19").body
    assert by_step["x"] == list(range(10, 20))
    t0 = 1_700_000_000.0
    by_time = server.get(f"/api/v1/runs/{run}/series/samples?x=time&from={t0 + 0.5}").body
    assert by_time["x_axis"] == "time"
    assert by_time["points_in_range"] == 50
    assert by_time["x"][0] >= t0 + 0.5


def test_layer_stats_filters(server: Server) -> None:
    run = server.create_run()
    records = [
        {
            "kind": "layer_stats",
            "seq": i,
            "step": i * 10,
            "ts": 1_700_000_000.0 + i,
            "layers": [{"layer": "a", "grad_norm": float(i)}, {"layer": "b", "grad_norm": 0.0}],
        }
        for i in range(5)
    ]
    server.post(f"/api/v1/runs/{run}/records", {"records": records})
    only_a = server.get(f"/api/v1/runs/{run}/layers?layer=a&from_step=10&to_step=30").body
    assert [s["step"] for s in only_a["samples"]] == [10, 20, 30]
    assert all(len(s["layers"]) == 1 for s in only_a["samples"])
    assert only_a["samples"][2]["layers"][0]["grad_norm"] == 3.0
