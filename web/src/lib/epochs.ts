// The first fold's data: epoch-level metrics and energy on one epoch axis. Epochs are numbered
// from 0, as the diagnostics' findings, the Observer and a PyTorch `for epoch in range(n)` loop
// number them, and epoch k's values are plotted at k, so "epoch 5" means the same epoch on the
// charts, in the findings and in the wasted-region label.
import type { Diagnostics, Epoch } from "../api/client";
import { epochJoules } from "./energy";
import { finiteOrNull } from "./numbers";

export interface EpochFoldData {
  x: number[]; // epoch k (0-based) at k
  series: { key: string; split: "train" | "val"; name: string; values: (number | null)[] }[];
  kwh: number[]; // device energy per epoch
  kgCo2: (number | null)[]; // per epoch, when the run's carbon intensity is known
}

/** Every train/val metric the epochs report, losses first, in a stable order. */
export function epochFold(epochs: Epoch[], diag: Diagnostics | undefined): EpochFoldData {
  const sorted = epochs.slice().sort((a, b) => a.epoch - b.epoch || a.seq - b.seq);
  const keys = new Map<string, { split: "train" | "val"; name: string }>();
  for (const e of sorted) {
    for (const split of ["train", "val"] as const) {
      for (const name of Object.keys(e[split])) keys.set(`${split}.${name}`, { split, name });
    }
  }
  const ordered = [...keys.entries()].sort(([a, ka], [b, kb]) => {
    const la = ka.name.includes("loss") ? 0 : 1;
    const lb = kb.name.includes("loss") ? 0 : 1;
    return la - lb || a.localeCompare(b);
  });
  const kgPerJoule = carbonPerJoule(diag);
  return {
    x: sorted.map((e) => e.epoch),
    series: ordered.map(([key, k]) => ({
      key,
      ...k,
      values: sorted.map((e) => finiteOrNull(e[k.split][k.name])),
    })),
    kwh: sorted.map((e) => epochJoules(e) / 3.6e6),
    kgCo2: sorted.map((e) => (kgPerJoule === null ? null : epochJoules(e) * kgPerJoule)),
  };
}

/** kg CO2 per device joule from the diagnostics document's totals (PUE and grid included). */
export function carbonPerJoule(diag: Diagnostics | undefined): number | null {
  const spent = diag?.spent;
  if (!spent || !spent.joules || spent.kg_co2 === undefined) return null;
  return spent.kg_co2 / spent.joules;
}

/**
 * The wasted region on the epoch axis: from the optimal stopping epoch to the last epoch, i.e.
 * the epochs trained after the stop the diagnostics recommend.
 */
export function wastedRegion(
  diag: Diagnostics | undefined,
  x: number[],
): { from: number; to: number } | null {
  const opt = diag?.optimal_stop_epoch;
  if (opt === null || opt === undefined || x.length === 0) return null;
  const to = x[x.length - 1];
  return to > opt ? { from: opt, to } : null;
}

/** The epochs past the optimal stop as the label names them: "epochs 6–9" (0-based). */
export function wastedEpochs(region: { from: number; to: number } | null): string | null {
  if (!region) return null;
  const first = region.from + 1;
  return first === region.to ? `epoch ${first}` : `epochs ${first}–${region.to}`;
}

/** An epoch axis value as a label: "epoch 3" for a whole epoch, else 1 decimal. */
export function epochLabel(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  return Number.isInteger(x) ? `epoch ${x}` : `epoch ${x.toFixed(1)}`;
}
