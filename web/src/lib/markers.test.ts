import { describe, expect, it } from "vitest";
import type { Schemas } from "../api/client";
import { controlMarkers, foldMarkerX, markerX } from "./markers";

const event = (seq: number, ts: number, type: string, data: Record<string, unknown>) =>
  ({ seq, ts, level: "info", type, message: `event ${seq}`, data }) as Schemas["Event"];

describe("controlMarkers", () => {
  it("numbers the control events in time order and reads what happened", () => {
    const markers = controlMarkers([
      event(3, 130, "control", { action: "stop", outcome: "applied", step: 42 }),
      event(1, 110, "log", {}),
      event(2, 120, "control", { action: "resume", actor: "terminal" }),
    ]);
    expect(markers).toEqual([
      { n: 1, ts: 120, step: null, action: "resume", outcome: "", message: "event 2" },
      { n: 2, ts: 130, step: 42, action: "stop", outcome: "applied", message: "event 3" },
    ]);
  });
});

describe("markerX", () => {
  const ends = [
    { epoch: 0, ts: 110 },
    { epoch: 1, ts: 120 },
  ];
  const [m] = controlMarkers([event(1, 115, "control", { action: "adjust", step: 7 })]);

  it("places a marker by step, time or epoch", () => {
    expect(markerX(m, "step", ends, 100)).toBe(7);
    expect(markerX(m, "time", ends, 100)).toBe(115);
    // Half-way through epoch 1: its steps fill 1..2 on the step charts' epoch axis.
    expect(markerX(m, "epoch", ends, 100)).toBe(1.5);
    expect(markerX({ ...m, step: null }, "step", ends, 100)).toBeNull();
    expect(markerX(m, "epoch", [], 100)).toBeNull();
  });

  it("places it between the points of epochs 0 and 1 on the per-epoch charts", () => {
    // The per-epoch charts plot epoch k's values at k: epoch 1 trains between 0 and 1.
    expect(foldMarkerX(m, ends, 100)).toBe(0.5);
    expect(foldMarkerX(m, [], 100)).toBeNull();
  });
});
