// Control actions on the charts (docs/control.md): every stop, pause, resume, adjust or hold the
// training applied (or refused) is an event of type "control" on the run's timeline, with the
// step it took effect before. Each becomes a numbered vertical marker on the step and epoch
// charts, and a legend line saying what happened.
import type { Schemas } from "../api/client";
import { timeToEpoch, type EpochEnd } from "./series";

type RunEvent = Schemas["Event"];

export interface ActionMarker {
  n: number; // 1-based, in time order: the number drawn on the charts and in the legend
  ts: number;
  step: number | null; // the step the action took effect before, when the training said
  action: string;
  outcome: string; // "applied", "rejected", or "" for a decision
  message: string;
}

function text(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** The control events of a run as markers, oldest first. */
export function controlMarkers(events: RunEvent[]): ActionMarker[] {
  return events
    .filter((e) => e.type === "control")
    .slice()
    .sort((a, b) => a.ts - b.ts || a.seq - b.seq)
    .map((e, i) => {
      const step = e.data.step;
      return {
        n: i + 1,
        ts: e.ts,
        step: typeof step === "number" && Number.isFinite(step) ? step : null,
        action: text(e.data.action) || "action",
        outcome: text(e.data.outcome),
        message: e.message,
      };
    });
}

export type MarkerAxis = "step" | "time" | "epoch";

/**
 * Where a marker sits on a step chart's x axis: its step, its Unix time, or its place on the
 * epoch axis (epoch k's steps fill k..k+1). Null when the axis cannot place it (no step given,
 * or no epoch has ended yet).
 */
export function markerX(
  m: ActionMarker,
  axis: MarkerAxis,
  ends: EpochEnd[],
  startTs: number,
): number | null {
  if (axis === "step") return m.step;
  if (axis === "time") return m.ts;
  return timeToEpoch([m.ts], ends, startTs)[0];
}

/**
 * Where a marker sits on the per-epoch charts, which plot epoch k's values at k: the training of
 * epoch k happens between k - 1 and k, one less than on the step charts' epoch axis.
 */
export function foldMarkerX(m: ActionMarker, ends: EpochEnd[], startTs: number): number | null {
  const x = markerX(m, "epoch", ends, startTs);
  return x === null ? null : x - 1;
}
