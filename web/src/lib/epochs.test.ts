import { describe, expect, it } from "vitest";
import type { Epoch } from "../api/client";
import { carbonPerJoule, epochFold, epochLabel, wastedEpochs, wastedRegion } from "./epochs";

const epochs: Epoch[] = [1, 0].map((i) => ({
  seq: i,
  epoch: i,
  ts: 10 + i,
  duration_s: 1,
  train: { loss: 1 - i * 0.5, accuracy: 0.5 + i * 0.1 },
  val: { loss: i === 0 ? "NaN" : 0.7 },
  energy: [{ component: "cpu", device: "", joules: 3.6e6, method: "measured:rapl" }],
}));

describe("epochFold", () => {
  it("aligns epochs on the shared axis, losses first, non-finite as gaps", () => {
    const f = epochFold(epochs, undefined);
    expect(f.x).toEqual([0, 1]);
    expect(f.series.map((s) => s.key)).toEqual(["train.loss", "val.loss", "train.accuracy"]);
    expect(f.series[1].values).toEqual([null, 0.7]);
    expect(f.kwh).toEqual([1, 1]);
    expect(f.kgCo2).toEqual([null, null]);
  });

  it("derives CO2 per epoch from the run's carbon intensity", () => {
    const diag = {
      grade: "A" as const,
      score: 90,
      findings: [],
      spent: { joules: 7.2e6, kg_co2: 0.8 },
    };
    expect(carbonPerJoule(diag)).toBeCloseTo(0.8 / 7.2e6);
    expect(epochFold(epochs, diag).kgCo2[0]).toBeCloseTo(0.4);
  });
});

describe("wastedRegion", () => {
  it("spans from the optimal stopping epoch to the last epoch", () => {
    const diag = { grade: "C" as const, score: 60, findings: [], optimal_stop_epoch: 3 };
    expect(wastedRegion(diag, [0, 1, 2, 3, 4, 5])).toEqual({ from: 3, to: 5 });
    expect(wastedRegion({ ...diag, optimal_stop_epoch: 5 }, [0, 1, 2, 3, 4, 5])).toBeNull();
    expect(wastedRegion(undefined, [0])).toBeNull();
  });
});

describe("one epoch numbering for charts, findings and the waste label", () => {
  // The diagnostics number epochs from 0 (docs/diagnostics.md): a run of 8 epochs whose best
  // validation loss was at epoch 4 has a past-optimal-stop finding covering epochs 5, 6 and 7.
  const run: Epoch[] = Array.from({ length: 8 }, (_, k) => ({
    seq: k,
    epoch: k,
    ts: 100 + k,
    duration_s: 1,
    train: { loss: 1 / (k + 1) },
    val: { loss: k <= 4 ? 1 - k * 0.1 : 0.6 + (k - 4) * 0.05 },
    energy: [],
  }));
  const diag = {
    grade: "C" as const,
    score: 60,
    optimal_stop_epoch: 4,
    waste: { epochs: 3 },
    findings: [
      {
        check: "convergence.past_optimal_stop",
        category: "convergence" as const,
        severity: "warning" as const,
        title: "past the optimal stop",
        epochs: [5, 6, 7],
      },
    ],
  };

  it("plots epoch k at k, so a finding's epoch is where the chart shows it", () => {
    const fold = epochFold(run, diag);
    const best = fold.series.find((s) => s.key === "val.loss")!;
    const bestAt = fold.x[best.values.indexOf(Math.min(...(best.values as number[])))];
    expect(bestAt).toBe(diag.optimal_stop_epoch);
    for (const e of diag.findings[0].epochs) expect(fold.x).toContain(e);
    expect(epochLabel(fold.x[0])).toBe("epoch 0");
  });

  it("shades and names exactly the epochs the finding covers", () => {
    const fold = epochFold(run, diag);
    const region = wastedRegion(diag, fold.x)!;
    expect(region.from).toBe(diag.optimal_stop_epoch);
    const shaded = fold.x.filter((x) => x > region.from && x <= region.to);
    expect(shaded).toEqual(diag.findings[0].epochs);
    expect(shaded).toHaveLength(diag.waste.epochs);
    expect(wastedEpochs(region)).toBe("epochs 5–7");
    expect(wastedEpochs({ from: 6, to: 7 })).toBe("epoch 7");
    expect(wastedEpochs(null)).toBeNull();
  });

  it("labels axis positions as epochs", () => {
    expect(epochLabel(3)).toBe("epoch 3");
    expect(epochLabel(2.46)).toBe("epoch 2.5");
    expect(epochLabel(null)).toBe("—");
  });
});
