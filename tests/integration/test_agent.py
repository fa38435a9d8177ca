"""The agent end to end: a real atlasd whose LLM providers are loopback servers speaking the
real OpenAI and Anthropic streaming formats. Multi-step tool use, the fallback on an error and
on a stall, the offline analyst checked against the run's diagnosis, beliefs and insights, the
tools over HTTP, `atlas ask`, and keys that never leak."""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import chat, parse_sse, post_overtrained_run, wait_for_diagnosis
from atlasd import ATLAS_CLI, ATLASD, Server
from fake_llm import (
    FakeProvider,
    Reply,
    anthropic_text,
    anthropic_tool_use,
    openai_text,
    openai_tool_calls,
)

Json = Any
OPENAI_KEY = "sk-test-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-test-9876543210"
LLM_VARS = (
    "ATLAS_LLM_BASE_URL",
    "ATLAS_LLM_MODEL",
    "ATLAS_LLM_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "ATLAS_ANTHROPIC_BASE_URL",
    "ATLAS_ANTHROPIC_MODEL",
    "ATLAS_LLM_TIMEOUT_S",
    "ATLAS_AGENT_ALLOW_ACTIONS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LLM_VARS:
        monkeypatch.delenv(name, raising=False)
    if not ATLASD.exists():
        pytest.fail(f"{ATLASD} is not built: run `make build` first")


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[Server]:
    with Server(tmp_path / "data") as srv:
        yield srv


def tool_result(body: Json, name: str) -> Json:
    """The content of the last tool message for `name` in an OpenAI request."""
    calls = {}
    for m in body["messages"]:
        for c in m.get("tool_calls") or []:
            calls[c["id"]] = c["function"]["name"]
    results = [
        m for m in body["messages"] if m["role"] == "tool" and calls[m["tool_call_id"]] == name
    ]
    assert results, f"no {name} result in {body['messages']}"
    return json.loads(results[-1]["content"])


def anthropic_tool_result(body: Json) -> Json:
    blocks = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
    results = [b for b in blocks if b["type"] == "tool_result"]
    assert results
    return json.loads(results[-1]["content"])


def test_openai_drives_multi_step_tool_use_and_tokens_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = ""  # set once the server is up; the script reads it when the requests come
    script = [
        lambda body: openai_tool_calls([("get_run_summary", {"run_id": run})]),
        lambda body: openai_tool_calls(
            [
                ("get_findings", {"run_id": run, "severity": "warning"}),
                ("get_waste_report", {"run_id": run}),
            ]
        ),
        lambda body: openai_text(
            [
                "Your run has grade ",
                tool_result(body, "get_run_summary")["diagnosis"]["grade"],
                "; it wasted ",
                str(tool_result(body, "get_waste_report")["waste"]["epochs"]),
                " epochs.",
            ]
        ),
    ]
    with FakeProvider(script) as openai:
        monkeypatch.setenv("ATLAS_LLM_BASE_URL", openai.url + "/v1")
        monkeypatch.setenv("ATLAS_LLM_MODEL", "fake-gpt")
        monkeypatch.setenv("ATLAS_LLM_API_KEY", OPENAI_KEY)
        with Server(tmp_path / "data") as server:
            run = post_overtrained_run(server, "overtrained")
            diagnosis = wait_for_diagnosis(server, run)
            out = chat(server, {"run_id": run, "question": "Why this grade and what did it waste?"})
            log = server.log()

    assert out.status == 200
    expected = (
        f"Your run has grade {diagnosis['grade']}; it wasted {diagnosis['waste']['epochs']} epochs."
    )
    assert out.text == expected
    assert out.done["answer"] == expected
    assert out.done["provider"] == "openai-compatible (fake-gpt)"
    assert out.done["tool_rounds"] == 2
    assert [c["name"] for c in out.named("tool_call")] == [
        "get_run_summary",
        "get_findings",
        "get_waste_report",
    ]
    assert all(r["ok"] for r in out.named("tool_result"))
    assert len(out.named("token")) == 5  # streamed as the deltas arrived, not in one piece

    assert len(openai.seen) == 3
    first = openai.seen[0]
    assert first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert first.body["model"] == "fake-gpt"
    assert first.body["stream"] is True
    offered = {t["function"]["name"] for t in first.body["tools"]}
    assert "get_project_history" in offered
    assert "request_run_action" not in offered
    assert first.body["messages"][0]["role"] == "system"
    assert run in first.body["messages"][0]["content"]
    # The findings the model saw are the run's diagnosis, filtered as it asked.
    seen_findings = tool_result(openai.seen[2].body, "get_findings")["findings"]
    assert seen_findings == [f for f in diagnosis["findings"] if f["severity"] == "warning"]
    assert OPENAI_KEY not in log
    assert OPENAI_KEY not in json.dumps(out.events)


def test_anthropic_takes_over_when_the_openai_endpoint_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = ""
    failing = [lambda body: Reply(status=500, body={"error": {"message": "upstream exploded"}})]
    claude = [
        lambda body: anthropic_tool_use("get_waste_report", {"run_id": run}),
        lambda body: anthropic_text(
            ["Stop at epoch ", str(anthropic_tool_result(body)["optimal_stop_epoch"]), "."]
        ),
    ]
    with FakeProvider(failing) as openai, FakeProvider(claude) as anthropic:
        monkeypatch.setenv("ATLAS_LLM_BASE_URL", openai.url + "/v1")
        monkeypatch.setenv("ATLAS_LLM_MODEL", "fake-gpt")
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        monkeypatch.setenv("ATLAS_ANTHROPIC_BASE_URL", anthropic.url)
        monkeypatch.setenv("ATLAS_ANTHROPIC_MODEL", "fake-claude")
        with Server(tmp_path / "data") as server:
            run = post_overtrained_run(server, "overtrained")
            diagnosis = wait_for_diagnosis(server, run)
            out = chat(server, {"run_id": run, "question": "When should I have stopped?"})
            log = server.log()

    errors = out.named("provider_error")
    assert len(errors) == 1
    assert errors[0]["provider"] == "openai-compatible (fake-gpt)"
    assert "HTTP 500" in errors[0]["message"]
    assert "upstream exploded" in errors[0]["message"]
    assert out.done["provider"] == "anthropic (fake-claude)"
    assert out.done["answer"] == f"Stop at epoch {diagnosis['optimal_stop_epoch']}."
    assert [e["provider"] for e in out.named("start")] == [
        "openai-compatible (fake-gpt)",
        "anthropic (fake-claude)",
    ]
    assert len(anthropic.seen) == 2
    request = anthropic.seen[0]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == ANTHROPIC_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert request.body["stream"] is True
    assert request.body["system"]
    assert {t["name"] for t in request.body["tools"]} >= {"get_waste_report", "compare_runs"}
    # The tool_result went back as a user message answering the tool_use id.
    follow_up = anthropic.seen[1].body["messages"]
    assert follow_up[-2]["content"][0]["type"] == "tool_use"
    assert follow_up[-1]["role"] == "user"
    assert follow_up[-1]["content"][0]["tool_use_id"] == "toolu_get_waste_report"
    for key in (OPENAI_KEY, ANTHROPIC_KEY):
        assert key not in log
        assert key not in json.dumps(out.events)


def test_a_stalled_provider_times_out_and_every_failure_ends_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stalled = [lambda body: Reply(events=openai_text(["never"]).events, stall_s=8)]
    overloaded = [
        lambda body: Reply(
            status=529,
            body={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )
    ]
    with FakeProvider(stalled) as openai, FakeProvider(overloaded) as anthropic:
        monkeypatch.setenv("ATLAS_LLM_BASE_URL", openai.url + "/v1")
        monkeypatch.setenv("ATLAS_LLM_MODEL", "fake-gpt")
        monkeypatch.setenv("ATLAS_LLM_TIMEOUT_S", "2")
        monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        monkeypatch.setenv("ATLAS_ANTHROPIC_BASE_URL", anthropic.url)
        with Server(tmp_path / "data") as server:
            run = post_overtrained_run(server, "overtrained")
            diagnosis = wait_for_diagnosis(server, run)
            out = chat(server, {"run_id": run, "question": "why is the grade what it is?"})

    errors = [e["message"] for e in out.named("provider_error")]
    assert len(errors) == 2
    assert "timeout" in errors[0].lower() or "timed out" in errors[0].lower(), errors[0]
    assert "HTTP 529" in errors[1]
    assert "Overloaded" in errors[1]
    assert out.done["offline"] is True
    assert out.done["provider"] == "offline"
    assert out.done["answer"].startswith("[Offline analyst")
    assert f"grade {diagnosis['grade']}" in out.done["answer"]
    # The void partial text of the stalled stream is followed by the offline answer.
    assert out.text.endswith(out.done["answer"])


def test_offline_analyst_answers_from_the_runs_diagnosis(offline: Server) -> None:
    run = post_overtrained_run(offline, "overtrained")
    other = post_overtrained_run(offline, "overtrained-again", epochs=6)
    diagnosis = wait_for_diagnosis(offline, run)
    wait_for_diagnosis(offline, other)

    info = offline.get("/api/v1/agent").body
    assert info["offline"] is True
    assert info["providers"] == []

    grade = chat(offline, {"run_id": run, "question": "Why is my grade what it is?"}).done
    assert grade["offline"] is True
    answer = grade["answer"]
    assert answer.startswith("[Offline analyst: a deterministic answer")
    assert f"grade {diagnosis['grade']} (score {diagnosis['score']:.4g}/100)" in answer
    counts = {
        s: sum(f["severity"] == s for f in diagnosis["findings"])
        for s in ("critical", "warning", "info")
    }
    assert (
        f"{counts['critical']} critical, {counts['warning']} warning and {counts['info']} info"
        in answer
    )
    ranked = sorted(
        diagnosis["findings"],
        key=lambda f: (
            {"critical": 2, "warning": 1}.get(f["severity"], 0),
            (f.get("energy_at_stake") or {}).get("kg_co2", 0),
        ),
        reverse=True,
    )
    if ranked:
        assert f"1. {ranked[0]['title']}" in answer

    first = chat(offline, {"run_id": run, "question": "What should I change first?"}).done["answer"]
    serious = [f for f in ranked if f["severity"] in ("critical", "warning")]
    if serious:
        assert f"Change this first: {serious[0]['fix']}" in first
    else:
        assert "nothing needs changing first" in first

    waste = chat(
        offline, {"run_id": run, "question": "How much did this waste, and what did it cost?"}
    )
    text = waste.done["answer"]
    w = diagnosis["waste"]
    if w["epochs"] > 0:
        stop = diagnosis["optimal_stop_epoch"]
        assert f"trained {w['epochs']} epochs past its optimal stop (epoch {stop})" in text
        assert f"{w['fraction'] * 100:.1f}% of its compute" in text
    assert "measured" in text
    assert waste.done["tools_used"] == ["get_waste_report", "get_energy_timeline"]

    compare = chat(
        offline, {"run_id": run, "other_run_id": other, "question": "How does it compare?"}
    ).done["answer"]
    assert f"Comparing {run} with {other} (the same architecture)" in compare

    # Deterministic: the same question gives the same answer.
    again = chat(offline, {"run_id": run, "question": "Why is my grade what it is?"}).done["answer"]
    assert again == answer


def test_beliefs_follow_the_diagnosis_and_insights_are_pushed(offline: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", offline.port, timeout=60)
    conn.request("GET", "/api/v1/agent/insights")
    stream = conn.getresponse()
    assert stream.status == 200
    assert stream.getheader("Content-Type", "").startswith("text/event-stream")

    run = post_overtrained_run(offline, "overtrained")
    diagnosis = wait_for_diagnosis(offline, run)
    serious = [f for f in diagnosis["findings"] if f["severity"] != "info"]
    beliefs = offline.get(f"/api/v1/runs/{run}/beliefs").body
    assert beliefs["revision"] >= 1
    assert beliefs["grade"] == diagnosis["grade"]
    assert len(beliefs["hypotheses"]) == len(diagnosis["findings"])
    for h in beliefs["hypotheses"]:
        assert 0 < h["confidence"] <= 0.95
        assert h["history"][0]["note"] == "first found"
        assert h["recommended_action"]
    if serious:
        assert beliefs["primary"] is not None
        # An insight announced the primary belief, on the insights stream.
        buffer = ""
        while "event: insight" not in buffer or "\n\n" not in buffer.split("event: insight", 1)[1]:
            line = stream.readline().decode()
            assert line, "the insights stream ended"
            buffer += line
        insights = [d for e, d in parse_sse(buffer) if e == "insight"]
        assert insights[0]["run_id"] == run
        assert insights[0]["primary"]["id"] == beliefs["primary"]
    conn.close()
    assert offline.get("/api/v1/runs/nope/beliefs").status == 404


def test_tools_over_http_validate_their_arguments(offline: Server) -> None:
    run = post_overtrained_run(offline, "overtrained")
    tools = offline.get("/api/v1/agent/tools").body["tools"]
    names = [t["name"] for t in tools]
    assert len(names) == 13
    assert "request_run_action" not in names
    assert all(t["input_schema"]["type"] == "object" for t in tools)
    ok = offline.post("/api/v1/agent/tools/get_architecture", {"run_id": run})
    assert ok.status == 200
    assert ok.body["total_params"] == 64 * 32 + 32 + 32 * 10 + 10
    bad = offline.post("/api/v1/agent/tools/get_findings", {"run_id": run, "severity": "fatal"})
    assert bad.status == 422
    assert "severity" in bad.body["reason"]
    assert offline.post("/api/v1/agent/tools/get_findings", {}).status == 422
    assert offline.post("/api/v1/agent/tools/get_findings", {"run_id": "nope"}).status == 404
    assert offline.post("/api/v1/agent/tools/request_run_action", {"run_id": run}).status == 404
    assert offline.post("/api/v1/agent/tools/no_such_tool", {}).status == 404
    assert offline.post("/api/v1/agent/chat", {"run_id": run}).status == 422
    assert offline.post("/api/v1/agent/chat", {"run_id": "nope", "question": "hi"}).status == 404


def test_proposals_need_the_flag_and_a_developer(tmp_path: Path) -> None:
    with Server(tmp_path / "data", "--allow-agent-actions") as server:
        run = post_overtrained_run(server, "overtrained")
        filed = server.post(
            "/api/v1/agent/tools/request_run_action",
            {"run_id": run, "action": "stop", "mode": "epoch", "reason": "past the optimal stop"},
        )
        assert filed.status in (200, 409), filed  # 409 when the run is no longer running
        if filed.status == 200:
            assert filed.body["status"] == "pending"
            listed = server.get(f"/api/v1/runs/{run}/proposals").body["proposals"]
            assert [p["status"] for p in listed] == ["pending"]
            assert (
                server.post(f"/api/v1/runs/{run}/proposals/1", {"status": "confirmed"}).status
                == 200
            )
            assert (
                server.post(f"/api/v1/runs/{run}/proposals/1", {"status": "dismissed"}).status
                == 409
            )
            assert server.get(f"/api/v1/runs/{run}/actions").body.get("actions", []) == []


def test_atlas_ask_prints_the_streamed_answer(offline: Server) -> None:
    run = post_overtrained_run(offline, "overtrained")
    diagnosis = wait_for_diagnosis(offline, run)
    url = f"http://127.0.0.1:{offline.port}"
    done = subprocess.run(
        [str(ATLAS_CLI), "ask", run, "why this grade?", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("[Offline analyst")
    assert f"grade {diagnosis['grade']}" in done.stdout
    assert "[offline]" in done.stderr
    missing = subprocess.run(
        [str(ATLAS_CLI), "ask", "nope", "why?", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2
