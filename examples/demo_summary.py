"""The demo's closing summary: the broken and the fixed CNN side by side, from atlasd's API.

Reads GET /api/v1/runs/{id}, /diagnostics and /energy of both runs and prints their grades, the
broken model's top findings, its optimal stopping point and what training past it wasted, and
how the fixed model's accuracy and emissions compare. Every number printed comes from the API
(`--json` prints them as one document, which the demo's test compares with the API).

Usage: python examples/demo_summary.py BROKEN_RUN_ID FIXED_RUN_ID [--json]
(atlasd at $ATLAS_URL or 127.0.0.1:7878)
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from typing import Any

Json = Any
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def get(url: str, path: str) -> Json:
    with urllib.request.urlopen(url + path, timeout=30) as response:
        return json.load(response)


def best_val_accuracy(url: str, run_id: str) -> float | None:
    epochs = get(url, f"/api/v1/runs/{run_id}/epochs")["epochs"]
    values = [e["val"]["accuracy"] for e in epochs if "accuracy" in e.get("val", {})]
    return max(values) if values else None


def run_figures(url: str, run_id: str) -> Json:
    run = get(url, f"/api/v1/runs/{run_id}")
    diagnosis = get(url, f"/api/v1/runs/{run_id}/diagnostics")
    energy = get(url, f"/api/v1/runs/{run_id}/energy")
    findings = sorted(
        (f for f in diagnosis["findings"] if f["severity"] != "info"),
        key=lambda f: SEVERITY_ORDER[f["severity"]],
    )
    return {
        "run_id": run_id,
        "name": run["name"],
        "grade": diagnosis["grade"],
        "score": diagnosis["score"],
        "findings": [
            {
                "check": f["check"],
                "severity": f["severity"],
                "layer": f["layer"],
                "title": f["title"],
            }
            for f in findings
        ],
        "optimal_stop_epoch": diagnosis["optimal_stop_epoch"],
        "pitch_rule_epoch": diagnosis["pitch_rule_epoch"],
        "waste": diagnosis["waste"],
        "energy": energy["totals"],
        "energy_methods": sorted({c["method"] for c in energy["totals"]["by_component"]}),
        "intensity_source": energy["settings"]["intensity_source"],
        "best_val_accuracy": best_val_accuracy(url, run_id),
    }


def summary(url: str, broken_id: str, fixed_id: str) -> Json:
    broken = run_figures(url, broken_id)
    fixed = run_figures(url, fixed_id)
    emissions_ratio = (
        fixed["energy"]["kg_co2"] / broken["energy"]["kg_co2"]
        if broken["energy"]["kg_co2"] > 0
        else None
    )
    return {"broken": broken, "fixed": fixed, "fixed_emissions_ratio": emissions_ratio}


def print_summary(doc: Json) -> None:
    broken, fixed = doc["broken"], doc["fixed"]
    waste = broken["waste"]
    print(f"{broken['name']}: grade {broken['grade']} (score {broken['score']:.0f})")
    for finding in broken["findings"][:6]:
        layer = f" [{finding['layer']}]" if finding["layer"] else ""
        print(f"  {finding['severity']:8} {finding['check']}{layer}: {finding['title']}")
    print(
        f"  optimal stop: epoch {broken['optimal_stop_epoch']} "
        f"(the pitch's 5% rule: epoch {broken['pitch_rule_epoch']})"
    )
    print(
        f"  wasted after it: {waste['epochs']} epochs, {waste['seconds']:.1f} s, "
        f"{waste['kwh']:.3g} kWh, {waste['kg_co2']:.3g} kg CO2, EUR {waste['eur']:.3g}, "
        f"{waste['car_km']:.3g} car-km ({100 * waste['fraction']:.0f}% of the run's compute)"
    )
    print(f"{fixed['name']}: grade {fixed['grade']} (score {fixed['score']:.0f})")
    for name in ("broken", "fixed"):
        run = doc[name]
        e = run["energy"]
        print(
            f"  {run['name']}: {e['kwh']:.3g} kWh, {e['kg_co2']:.3g} kg CO2, EUR {e['eur']:.3g} "
            f"({', '.join(run['energy_methods'])}; grid: {run['intensity_source']})"
        )
    ratio = doc["fixed_emissions_ratio"]
    broken_acc, fixed_acc = broken["best_val_accuracy"], fixed["best_val_accuracy"]
    if ratio is not None and broken_acc is not None and fixed_acc is not None:
        verb = "reached the same accuracy" if fixed_acc >= broken_acc - 0.005 else "reached"
        print(
            f"The fixed model {verb} ({100 * fixed_acc:.1f}% vs {100 * broken_acc:.1f}% "
            f"validation accuracy) with {100 * ratio:.0f}% of the emissions."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("broken_run_id")
    parser.add_argument("fixed_run_id")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    url = os.environ.get("ATLAS_URL", "http://127.0.0.1:7878").rstrip("/")
    doc = summary(url, args.broken_run_id, args.fixed_run_id)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_summary(doc)


if __name__ == "__main__":
    main()
