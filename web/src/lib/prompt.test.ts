import { describe, expect, it } from "vitest";
import { findingPrompt } from "./prompt";

describe("findingPrompt", () => {
  it("carries the finding, its evidence, the fix and the energy at stake", () => {
    const text = findingPrompt(
      {
        check: "layer.dead",
        category: "layer",
        severity: "critical",
        layer: "conv2",
        epochs: [1, 2],
        title: "conv2: 87% of units are dead",
        evidence: { dead_fraction: 0.87, threshold: 0.5 },
        why: "Dead units cost compute and learn nothing.",
        fix: "Use LeakyReLU after conv2.",
        energy_at_stake: { kwh: 0.5, kg_co2: 0.2 },
      },
      { name: "cnn", id: "r1", modelType: "Net" },
    );
    expect(text).toContain('run "cnn" (r1)');
    expect(text).toContain("layer `conv2`");
    expect(text).toContain('"dead_fraction":0.87');
    expect(text).toContain("Suggested fix: Use LeakyReLU after conv2.");
    expect(text).toContain("0.5 kWh, 0.2 kg CO2");
    expect(text).toContain("Seen in epochs: 1, 2");
  });
});
