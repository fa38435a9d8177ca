"""The offline analyst checked against a zoo run's diagnostics (issue 8; docs/agent.md).

The zoo's vanishing-gradients case trains for real against one atlasd with no language model
configured, twice: as planted (six epochs of a deep sigmoid MLP: critical and warning findings,
epochs past its optimal stop) and stopped after two epochs (the same architecture, a smaller
bill). The analyst's answers to the main questions, asked over POST /api/v1/agent/chat, must say
what GET /api/v1/runs/{id}/diagnostics says: the grade and score, the fix of the problem ranked
first (severity, then CO2 at stake; one check on several layers is one problem), the waste and
the footprint to the rounding the answer prints, and which run was cheaper. The numbers here
are recomputed from the diagnosis in Python, independently of the C++ that wrote the answer.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from obs_helpers import ATLASD, Atlasd, final_diagnosis
from zoo import CASES, ZooCase, run_case

Json = Any
LABEL = "[Offline analyst: a deterministic answer from Atlas's diagnostics, no language model]"
PROVIDER_ENV = (
    "ATLAS_LLM_BASE_URL",
    "ATLAS_LLM_API_KEY",
    "ATLAS_LLM_MODEL",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
)
PLANTED = next(c for c in CASES if c.name == "vanishing_gradients")
SHORT = dataclasses.replace(PLANTED, name="vanishing_gradients_short", epochs=2)


@dataclasses.dataclass
class ZooRun:
    run_id: str
    name: str
    diagnosis: Json


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Atlasd]:
    if not ATLASD.exists():
        pytest.fail(f"{ATLASD} is not built")
    # No provider in atlasd's environment: every answer must come from the offline analyst.
    with pytest.MonkeyPatch.context() as patch:
        for name in PROVIDER_ENV:
            patch.delenv(name, raising=False)
        atlasd = Atlasd(tmp_path_factory.mktemp("agent-zoo") / "atlasd").start()
    try:
        yield atlasd
    finally:
        atlasd.stop()


def train(server: Atlasd, case: ZooCase) -> ZooRun:
    run_id = run_case(case, server.url)
    return ZooRun(run_id, case.name, final_diagnosis(server, run_id, case.epochs))


@pytest.fixture(scope="module")
def runs(server: Atlasd) -> dict[str, ZooRun]:
    # The short run trains second, so it is the later run of the same architecture.
    return {"planted": train(server, PLANTED), "short": train(server, SHORT)}


def post(server: Atlasd, path: str, body: Json) -> Json:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def ask(server: Atlasd, run_id: str, question: str, other: str | None = None) -> Json:
    body: Json = {"run_id": run_id, "question": question, "stream": False}
    if other is not None:
        body["other_run_id"] = other
    done = post(server, "/api/v1/agent/chat", body)
    assert done["offline"] is True
    assert done["provider"] == "offline"
    assert done["answer"].startswith(LABEL + "\n\n"), done["answer"]
    return done


# ----- the answer's number formats, as docs/agent.md states them -----


def energy(kwh: float) -> str:
    return f"{kwh * 1000:.3g} Wh" if kwh < 1 else f"{kwh:.3g} kWh"


def co2(kg: float) -> str:
    return f"{kg * 1000:.3g} g CO2" if kg < 1 else f"{kg:.3g} kg CO2"


def footprint(j: Json) -> str:
    return f"{energy(j['kwh'])}, {co2(j['kg_co2'])}, EUR {j['eur']:.4g}"


def score(value: float) -> str:
    return f"{value:.4g}"


# ----- the ranking, recomputed from the diagnosis -----

RANK = {"critical": 2, "warning": 1, "info": 0}


def at_stake_co2(finding: Json) -> float:
    return float((finding.get("energy_at_stake") or {}).get("kg_co2", 0.0))


def problems(diagnosis: Json) -> list[list[Json]]:
    """Findings grouped by (check, severity), each group's most energy first; groups ordered by
    severity, then their summed CO2 at stake (Python's sorts are stable, like the server's)."""
    groups: dict[tuple[str, str], list[Json]] = {}
    for finding in diagnosis["findings"]:
        groups.setdefault((finding["check"], finding["severity"]), []).append(finding)
    ordered = [sorted(g, key=at_stake_co2, reverse=True) for g in groups.values()]
    return sorted(
        ordered,
        key=lambda g: (RANK[g[0]["severity"]], sum(map(at_stake_co2, g))),
        reverse=True,
    )


# ----- the questions -----


def test_no_provider_is_configured(server: Atlasd) -> None:
    info = server.get("/api/v1/agent")
    assert info["offline"] is True
    assert info["providers"] == []


def test_why_this_grade_quotes_the_diagnosis(server: Atlasd, runs: dict[str, ZooRun]) -> None:
    run = runs["planted"]
    d = run.diagnosis
    done = ask(server, run.run_id, "Why is my grade what it is?")
    answer = done["answer"]
    assert f"has grade {d['grade']} (score {score(d['score'])}/100)" in answer, answer
    counts = {s: sum(f["severity"] == s for f in d["findings"]) for s in RANK}
    assert (
        f"from {counts['critical']} critical, {counts['warning']} warning and "
        f"{counts['info']} info findings" in answer
    ), answer
    weakest = min(d["category_scores"].items(), key=lambda item: (item[1], item[0]))
    if weakest[1] < 100:
        assert f"The weakest category is {weakest[0]} ({score(weakest[1])}/100)." in answer
    else:
        assert "Every category scores 100/100." in answer
    ranked = problems(d)
    assert ranked, "the planted run has findings"
    for place, group in enumerate(ranked[:3], start=1):
        assert f"\n{place}. {group[0]['title']} ({group[0]['severity']}" in answer, answer
    assert done["tools_used"] == ["get_run_summary", "get_findings"]


def test_what_to_change_first_is_the_top_problems_fix(
    server: Atlasd, runs: dict[str, ZooRun]
) -> None:
    run = runs["planted"]
    answer = ask(server, run.run_id, "What should I change first?")["answer"]
    serious = [g for g in problems(run.diagnosis) if g[0]["severity"] in ("critical", "warning")]
    assert serious, "the planted run has warning or critical findings"
    top = serious[0]
    assert answer.startswith(f"{LABEL}\n\nChange this first: {top[0]['fix']}\n"), answer
    others = [f["layer"] for f in top[1:] if f.get("layer")]
    if others:
        listed = ", ".join(others[:-1]) + " and " + others[-1] if len(others) > 1 else others[0]
        assert f"\nThe same applies to {listed}.\n" in answer, answer
    for group in serious[1:3]:
        assert f"\nThen: {group[0]['fix']} (for: {group[0]['title']}" in answer, answer


def test_waste_and_its_cost_are_the_diagnosis_figures(
    server: Atlasd, runs: dict[str, ZooRun]
) -> None:
    run = runs["planted"]
    d = run.diagnosis
    w = d["waste"]
    assert w["epochs"] > 0, f"the planted case trained past its optimal stop: {w}"
    answer = ask(server, run.run_id, "How much did this waste, and what did it cost?")["answer"]
    assert (
        f"trained {w['epochs']} epochs past its optimal stop (epoch {d['optimal_stop_epoch']}): "
        f"{w['fraction'] * 100:.1f}% of its compute, {w['seconds']:.0f} s, {footprint(w)} "
        f"(about {w['car_km']:.2g} km by car)." in answer
    ), answer
    assert f"The whole run so far: {footprint(d['spent'])}." in answer, answer
    for finding in d["findings"]:
        if finding.get("energy_at_stake"):
            line = f"\n- {finding['title']}: {footprint(finding['energy_at_stake'])}"
            assert line in answer, answer
    # Whether the energy was measured or estimated, as the energy timeline says.
    timeline = post(server, "/api/v1/agent/tools/get_energy_timeline", {"run_id": run.run_id})
    kind = "measured" if timeline["measured"] else "estimated"
    assert f"J, {kind} (" in answer, answer

    # The MCP tool the answer is built from serves the same figures.
    reply = post(
        server,
        "/mcp",
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "get_waste_report", "arguments": {"run_id": run.run_id}},
        },
    )
    report = reply["result"]["structuredContent"]
    assert report["waste"] == w
    assert report["optimal_stop_epoch"] == d["optimal_stop_epoch"]


def side_line(run: ZooRun) -> str:
    d = run.diagnosis
    return f"{run.run_id} ({run.name}): grade {d['grade']} (score {score(d['score'])}/100)"


def cheaper_line(a: ZooRun, b: ZooRun) -> str:
    cost_a, cost_b = a.diagnosis["spent"]["kwh"], b.diagnosis["spent"]["kwh"]
    assert cost_a != cost_b, "two runs of different lengths cost different amounts"
    cheap, dear = (a, b) if cost_a < cost_b else (b, a)
    return (
        f"{cheap.run_id} ({cheap.name}) was the cheaper run: {footprint(cheap.diagnosis['spent'])}"
        f" against {footprint(dear.diagnosis['spent'])} for {dear.run_id}"
    )


def test_comparison_names_the_cheaper_run(server: Atlasd, runs: dict[str, ZooRun]) -> None:
    planted, short = runs["planted"], runs["short"]
    expected = cheaper_line(planted, short)
    # Two epochs cost less than six of the same model: the diagnoses agree, and so must the
    # answer.
    assert expected.startswith(short.run_id)

    # Unnamed, the other run is the newest earlier run of the same architecture.
    implicit = ask(server, short.run_id, "How does this run compare with my earlier one?")
    answer = implicit["answer"]
    assert f"Comparing {short.run_id} with {planted.run_id} (the same architecture):" in answer
    assert expected in answer, answer
    assert side_line(short) in answer, answer
    assert side_line(planted) in answer, answer
    assert implicit["tools_used"] == ["get_project_history", "compare_runs"]

    # Named, in the other order: the same verdict.
    named = ask(server, planted.run_id, "Compare it", other=short.run_id)["answer"]
    assert f"Comparing {planted.run_id} with {short.run_id}" in named
    assert expected in named, named


def test_the_same_question_gets_the_same_answer(server: Atlasd, runs: dict[str, ZooRun]) -> None:
    run_id = runs["planted"].run_id
    question = "What should I change first?"
    assert ask(server, run_id, question)["answer"] == ask(server, run_id, question)["answer"]
