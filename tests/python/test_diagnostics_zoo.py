"""End to end: the zoo's planted problems are found on the right layer, the controls stay clean.

Each zoo case trains for real against one atlasd; its diagnosis is read from
GET /api/v1/runs/{id}/diagnostics once the server has analysed the finished run. The summary
test prints precision and recall over the zoo (a finding of warning or worse counts; on a
control every such finding is a false positive).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from obs_helpers import ATLASD, Atlasd, final_diagnosis
from zoo import CASES, ZooCase, run_case

Json = Any
SERIOUS = {"warning", "critical"}


@pytest.fixture(scope="module")
def zoo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Atlasd]:
    if not ATLASD.exists():
        pytest.fail(f"{ATLASD} is not built")
    server = Atlasd(tmp_path_factory.mktemp("zoo") / "atlasd").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def zoo_results(zoo_server: Atlasd) -> dict[str, Json]:
    results = {}
    for case in CASES:
        run_id = run_case(case, zoo_server.url)
        results[case.name] = final_diagnosis(zoo_server, run_id, case.epochs)
    return results


def serious(doc: Json) -> list[Json]:
    return [f for f in doc["findings"] if f["severity"] in SERIOUS]


def found(case: ZooCase, doc: Json) -> bool:
    assert case.planted is not None
    return any(
        f["check"] in case.planted.checks and f.get("layer") in case.planted.layers
        for f in doc["findings"]
    )


def describe(doc: Json) -> str:
    return "\n".join(
        f"  {f['severity']:8} {f['check']:40} {f.get('layer') or '-':12} {f['title']}"
        for f in doc["findings"]
    )


@pytest.mark.parametrize("case", [c for c in CASES if c.planted], ids=lambda c: c.name)
def test_planted_problem_is_found_on_its_layer(case: ZooCase, zoo_results: dict[str, Json]) -> None:
    doc = zoo_results[case.name]
    assert case.planted is not None
    assert found(case, doc), (
        f"{case.name}: expected one of {sorted(case.planted.checks)} on one of "
        f"{sorted(map(str, case.planted.layers))}"
        f"; the diagnosis has:\n{describe(doc)}"
    )


@pytest.mark.parametrize("case", [c for c in CASES if not c.planted], ids=lambda c: c.name)
def test_control_is_clean_and_grades_a_or_b(case: ZooCase, zoo_results: dict[str, Json]) -> None:
    doc = zoo_results[case.name]
    assert not serious(doc), f"{case.name} is healthy, yet:\n{describe(doc)}"
    assert doc["grade"] in ("A", "B"), f"{case.name} graded {doc['grade']} ({doc['score']})"


def test_zoo_precision_and_recall(zoo_results: dict[str, Json], tmp_path: Path) -> None:
    planted = [c for c in CASES if c.planted]
    controls = [c for c in CASES if not c.planted]
    true_positives = sum(found(c, zoo_results[c.name]) for c in planted)
    false_positives = sum(len(serious(zoo_results[c.name])) for c in controls)
    recall = true_positives / len(planted)
    precision = true_positives / max(1, true_positives + false_positives)
    lines = [
        f"zoo: recall {recall:.2f} ({true_positives}/{len(planted)} planted problems found)",
        f"zoo: precision {precision:.2f} ({false_positives} warning-or-worse findings on "
        f"{len(controls)} healthy controls)",
    ]
    for case in CASES:
        doc = zoo_results[case.name]
        lines.append(f"{case.name}: grade {doc['grade']} score {doc['score']:.0f}")
        lines.append(describe(doc))
    print("\n".join(lines))
    assert recall == 1.0
    assert false_positives == 0
