import { describe, expect, it } from "vitest";
import type { Epoch } from "../api/client";
import { carbonPerJoule, epochFold, wastedRegion } from "./epochs";

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
    expect(f.x).toEqual([1, 2]);
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
  it("spans from the optimal stop's end to the last epoch", () => {
    const diag = { grade: "C" as const, score: 60, findings: [], optimal_stop_epoch: 3 };
    expect(wastedRegion(diag, [1, 2, 3, 4, 5, 6])).toEqual({ from: 4, to: 6 });
    expect(wastedRegion({ ...diag, optimal_stop_epoch: 5 }, [1, 2, 3, 4, 5, 6])).toBeNull();
    expect(wastedRegion(undefined, [1])).toBeNull();
  });
});
