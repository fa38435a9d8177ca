import { describe, expect, it } from "vitest";
import type { Diagnostics } from "../api/client";
import { keyMoments, pendingMoments } from "./moments";

const diag: Diagnostics = {
  grade: "C",
  score: 60,
  optimal_stop_epoch: 4,
  waste: { epochs: 3 },
  findings: [
    {
      check: "layer.dead",
      category: "layer",
      severity: "critical",
      layer: "fc1",
      title: "fc1 dead",
    },
    { check: "device.batch_too_small", category: "device", severity: "info", title: "small batch" },
    { check: "gradient.noise_scale", category: "gradient", severity: "warning", title: "noise" },
  ],
};

describe("keyMoments", () => {
  it("asks about warnings, criticals and a passed optimal stop, not infos", () => {
    expect(keyMoments(diag).map((m) => m.key)).toEqual([
      "layer.dead|fc1",
      "gradient.noise_scale|",
      "optimal-stop-passed|",
    ]);
  });

  it("orders unanswered moments by urgency and forgets answered ones", () => {
    const pending = pendingMoments(keyMoments(diag), new Set(["layer.dead|fc1"]));
    expect(pending.map((m) => m.key)).toEqual(["optimal-stop-passed|", "gradient.noise_scale|"]);
  });

  it("has nothing to ask without diagnostics", () => {
    expect(keyMoments(undefined)).toEqual([]);
  });
});
