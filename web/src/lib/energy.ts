// Energy per epoch and the labels that say how it was obtained (measured or estimated).
import type { Epoch } from "../api/client";
import { num } from "./numbers";

/** The device energy of one epoch in joules: the sum of its finite entries. */
export function epochJoules(e: Epoch): number {
  let total = 0;
  for (const entry of e.energy) {
    const j = num(entry.joules);
    if (Number.isFinite(j)) total += j;
  }
  return total;
}

/** Cumulative joules at the end of each epoch, in the order given. */
export function cumulativeJoules(epochs: Epoch[]): number[] {
  let acc = 0;
  return epochs.map((e) => (acc += epochJoules(e)));
}

export interface MethodLabel {
  component: string;
  methods: string[];
  measured: boolean; // every figure for this component was measured
}

/** One label per component, e.g. gpu: measured:nvml-counter; cpu: estimated:cpu-model. */
export function energyMethods(epochs: Epoch[]): MethodLabel[] {
  const byComponent = new Map<string, Set<string>>();
  for (const e of epochs) {
    for (const entry of e.energy) {
      const set = byComponent.get(entry.component) ?? new Set<string>();
      set.add(entry.method);
      byComponent.set(entry.component, set);
    }
  }
  return [...byComponent.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([component, set]) => {
      const methods = [...set].sort();
      return { component, methods, measured: methods.every((m) => m.startsWith("measured:")) };
    });
}
