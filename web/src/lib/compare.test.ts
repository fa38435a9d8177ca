import { describe, expect, it } from "vitest";
import type { Epoch } from "../api/client";
import { chooseMetric, compareRuns, firstReaching } from "./compare";
import { cumulativeJoules, energyMethods } from "./energy";

function epoch(
  i: number,
  valAcc: number | "NaN" | null,
  joules: number,
  method = "measured:rapl",
): Epoch {
  return {
    seq: i,
    epoch: i,
    ts: 100 + i,
    duration_s: 1,
    train: { loss: 1 / (i + 1) },
    val: valAcc === null ? {} : { accuracy: valAcc },
    energy: [{ component: "cpu", device: "", joules, method }],
  };
}

describe("compareRuns", () => {
  it("compares the energy each run spent to reach the weaker best", () => {
    const a = [epoch(0, 0.5, 100), epoch(1, 0.8, 100), epoch(2, 0.9, 100), epoch(3, 0.91, 100)];
    const b = [epoch(0, 0.7, 50), epoch(1, 0.9, 50)];
    const s = compareRuns({ name: "run A", epochs: a }, { name: "run B", epochs: b })!;
    expect(s.target).toBe(0.9);
    expect(s.epochA).toBe(2);
    expect(s.epochB).toBe(1);
    expect(s.joulesA).toBe(300);
    expect(s.joulesB).toBe(100);
    expect(s.ratio).toBeCloseTo(1 / 3);
    expect(s.sentence).toBe(
      "run B reached the same validation accuracy (0.900) with 33% of run A's energy.",
    );
  });

  it("falls back to training loss when a run has no validation metric", () => {
    const a = [epoch(0, null, 10), epoch(1, null, 10)];
    const b = [epoch(0, 0.5, 10)];
    expect(chooseMetric([a, b])).toEqual({ split: "train", name: "loss", higherIsBetter: false });
    const s = compareRuns({ name: "A", epochs: a }, { name: "B", epochs: b })!;
    expect(s.target).toBe(1);
    expect(s.epochA).toBe(0);
  });

  it("returns null when nothing is comparable", () => {
    const none: Epoch[] = [];
    expect(compareRuns({ name: "A", epochs: none }, { name: "B", epochs: none })).toBeNull();
  });

  it("skips non-finite values when looking for the first epoch that reached a target", () => {
    expect(firstReaching([NaN, 0.4, 0.9], 0.5, true)).toBe(2);
    expect(firstReaching([0.9, 0.2], 0.3, false)).toBe(1);
  });
});

describe("energy", () => {
  it("sums finite joules cumulatively and labels methods per component", () => {
    const e = [epoch(0, 0.1, 5), epoch(1, 0.2, 7, "estimated:cpu-model")];
    e[1].energy.push({
      component: "gpu",
      device: "cuda:0",
      joules: "NaN",
      method: "measured:nvml-counter",
    });
    expect(cumulativeJoules(e)).toEqual([5, 12]);
    expect(energyMethods(e)).toEqual([
      { component: "cpu", methods: ["estimated:cpu-model", "measured:rapl"], measured: false },
      { component: "gpu", methods: ["measured:nvml-counter"], measured: true },
    ]);
  });
});
