import { describe, expect, it } from "vitest";
import {
  confidencePercent,
  epochSpan,
  evidenceLines,
  insightFeed,
  orderHypotheses,
  type BeliefState,
  type Hypothesis,
} from "./beliefs";

const hyp = (id: string, over: Partial<Hypothesis> = {}): Hypothesis => ({
  id,
  check: id,
  severity: "warning",
  issue: `issue ${id}`,
  confidence: 0.5,
  status: "active",
  history: [],
  ...over,
});

const state: BeliefState = {
  run_id: "r1",
  revision: 3,
  epoch: 4,
  primary: "gradient.vanishing",
  hypotheses: [
    hyp("carbon.idle_power", { severity: "info", confidence: 0.9 }),
    hyp("layer.dead@fc1", { status: "retired", severity: "critical" }),
    hyp("device.batch_too_small", { confidence: 0.65 }),
    hyp("convergence.plateau", { confidence: 0.45 }),
    hyp("gradient.vanishing", { severity: "critical", issue: "vanishing gradients" }),
  ],
  primary_history: [
    { revision: 1, epoch: 1, from: null, to: "layer.dead@fc1" },
    { revision: 2, epoch: 2, from: "layer.dead@fc1", to: "gradient.vanishing" },
  ],
};

describe("orderHypotheses", () => {
  it("puts the primary first, then active by severity and confidence, retired last", () => {
    expect(orderHypotheses(state).map((h) => h.id)).toEqual([
      "gradient.vanishing",
      "device.batch_too_small",
      "convergence.plateau",
      "carbon.idle_power",
      "layer.dead@fc1",
    ]);
  });
});

describe("confidencePercent and epochSpan", () => {
  it("formats for reading", () => {
    expect(confidencePercent(0.8)).toBe("80%");
    expect(confidencePercent(1.2)).toBe("100%");
    expect(epochSpan([])).toBeNull();
    expect(epochSpan([3])).toBe("epoch 3");
    expect(epochSpan([4, 2, 3])).toBe("epochs 2–4");
  });
});

describe("evidenceLines", () => {
  it("lists the numbers, the epochs (0-based) and the energy at stake", () => {
    const h = hyp("x", {
      evidence: {
        numbers: { grad_norm: 0.000012345, layer: "fc1" },
        epochs: [0, 1, 2],
        energy_at_stake: { kwh: 0.0004, kg_co2: 0.0002 },
      },
    });
    expect(evidenceLines(h)).toEqual([
      "grad_norm: 1.23e-5",
      "layer: fc1",
      "seen in epochs 0–2",
      "energy at stake: 0.4 Wh, 0.2 g CO₂",
    ]);
    expect(evidenceLines(hyp("y"))).toEqual([]);
    expect(evidenceLines(hyp("z", { evidence: { energy_at_stake: {} } }))).toEqual([]);
  });
});

describe("insightFeed", () => {
  it("merges the persisted changes with live messages, newest first, this run only", () => {
    const feed = insightFeed("r1", state, [
      { run_id: "r1", revision: 2, epoch: 2, message: "Epoch 2: the main problem is now X." },
      { run_id: "r1", revision: 3, epoch: 4, message: "Epoch 4: no open problem remains." },
      { run_id: "other", revision: 9, epoch: 9, message: "not this run" },
    ]);
    expect(feed).toEqual([
      { revision: 3, epoch: 4, message: "Epoch 4: no open problem remains.", live: true },
      { revision: 2, epoch: 2, message: "Epoch 2: the main problem is now X.", live: true },
      {
        revision: 1,
        epoch: 1,
        message: "Epoch 1: the main problem is issue layer.dead@fc1.",
        live: false,
      },
    ]);
  });

  it("names the issues of an older change from the hypotheses", () => {
    const feed = insightFeed("r1", state, []);
    expect(feed[0].message).toBe(
      "Epoch 2: the main problem changed from issue layer.dead@fc1 to vanishing gradients.",
    );
    expect(insightFeed("r1", undefined, [])).toEqual([]);
  });
});
