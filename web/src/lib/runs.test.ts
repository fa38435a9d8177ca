import { describe, expect, it } from "vitest";
import type { RunSummary } from "../api/client";
import { filterRows, runDuration, sortRows, toRow, type RunRow } from "./runs";

function summary(over: Partial<RunSummary> = {}): RunSummary {
  return {
    id: "r1",
    project_id: 1,
    project: "p",
    name: "baseline",
    status: "completed",
    status_reason: "",
    started_at: 1000,
    created_at: 1000,
    finished_at: 1100,
    totals: {
      step_records: 10,
      last_step: 9,
      last_loss: 0.1,
      epochs: 2,
      samples: 640,
      tokens: 0,
      energy_joules: 7.2e6,
      layer_samples: 0,
      events: 0,
      last_ts: 1100,
    },
    ...over,
  };
}

describe("toRow", () => {
  it("leaves what the server does not provide empty instead of zero", () => {
    const row = toRow(summary(), undefined, undefined, 2000);
    expect(row.grade).toBeNull();
    expect(row.kgCo2).toBeNull();
    expect(row.wastedFraction).toBeNull();
    expect(row.kwh).toBe(2);
    expect(row.kwhMeasuredBasis).toBe("device");
    expect(row.durationS).toBe(100);
  });

  it("prefers the diagnostics document's facility figures", () => {
    const row = toRow(
      summary(),
      undefined,
      {
        grade: "B",
        score: 80,
        findings: [],
        spent: { kwh: 3, kg_co2: 1.2, eur: 0.06 },
        waste: { fraction: 0.25 },
      },
      2000,
    );
    expect(row).toMatchObject({
      grade: "B",
      kwh: 3,
      kwhMeasuredBasis: "facility",
      kgCo2: 1.2,
      wastedFraction: 0.25,
    });
  });

  it("measures a running run's duration up to now", () => {
    expect(runDuration(summary({ status: "running", finished_at: null }), 1500)).toBe(500);
  });
});

describe("sortRows and filterRows", () => {
  const rows = [
    toRow(
      summary({ id: "a", name: "alpha" }),
      undefined,
      { grade: "C", score: 50, findings: [] },
      0,
    ),
    toRow(
      summary({ id: "b", name: "beta", status: "running", finished_at: null }),
      undefined,
      undefined,
      0,
    ),
    toRow(
      summary({ id: "c", name: "gamma" }),
      undefined,
      { grade: "A", score: 95, findings: [] },
      0,
    ),
  ] as RunRow[];

  it("sorts and keeps missing values last in both directions", () => {
    expect(sortRows(rows, "grade", "asc").map((r) => r.id)).toEqual(["c", "a", "b"]);
    expect(sortRows(rows, "grade", "desc").map((r) => r.id)).toEqual(["a", "c", "b"]);
  });

  it("filters by name search and status", () => {
    expect(filterRows(rows, { search: "ALP", status: "", project: "" }).map((r) => r.id)).toEqual([
      "a",
    ]);
    expect(
      filterRows(rows, { search: "", status: "running", project: "" }).map((r) => r.id),
    ).toEqual(["b"]);
  });
});
