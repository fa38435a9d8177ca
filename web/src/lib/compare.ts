// Comparing runs: the metric each run reached and what it cost to get there.
import type { Epoch } from "../api/client";
import { cumulativeJoules } from "./energy";
import { num } from "./numbers";

export interface MetricChoice {
  split: "val" | "train";
  name: string;
  higherIsBetter: boolean;
}

/** The metric to compare on: validation accuracy, else validation loss, else training ones. */
export function chooseMetric(runs: Epoch[][]): MetricChoice | null {
  const candidates: MetricChoice[] = [
    { split: "val", name: "accuracy", higherIsBetter: true },
    { split: "val", name: "loss", higherIsBetter: false },
    { split: "train", name: "accuracy", higherIsBetter: true },
    { split: "train", name: "loss", higherIsBetter: false },
  ];
  return (
    candidates.find((c) =>
      runs.every((epochs) => epochs.some((e) => Number.isFinite(num(e[c.split][c.name])))),
    ) ?? null
  );
}

export function metricValues(epochs: Epoch[], m: MetricChoice): number[] {
  return epochs.map((e) => num(e[m.split][m.name]));
}

function best(values: number[], higher: boolean): number {
  const finite = values.filter(Number.isFinite);
  return higher ? Math.max(...finite) : Math.min(...finite);
}

/** The index of the first epoch whose metric is at least as good as `target`, or -1. */
export function firstReaching(values: number[], target: number, higher: boolean): number {
  return values.findIndex((v) => Number.isFinite(v) && (higher ? v >= target : v <= target));
}

export interface CompareSummary {
  metric: MetricChoice;
  target: number; // the value both runs reached: the weaker of the two bests
  epochA: number; // index of the epoch where A first reached it
  epochB: number;
  joulesA: number; // energy spent up to and including that epoch
  joulesB: number;
  ratio: number; // joulesB / joulesA
  sentence: string;
}

/**
 * "Run B reached the same validation accuracy with N% of run A's energy": the target is the
 * weaker of the two runs' best values, so both reached it; each run's cost is its cumulative
 * energy up to the first epoch that reached it. `unit` names what the ratio is of (energy, or
 * emissions when both runs share one carbon intensity).
 */
export function compareRuns(
  a: { name: string; epochs: Epoch[] },
  b: { name: string; epochs: Epoch[] },
  unit = "energy",
): CompareSummary | null {
  const metric = chooseMetric([a.epochs, b.epochs]);
  if (!metric) return null;
  const va = metricValues(a.epochs, metric);
  const vb = metricValues(b.epochs, metric);
  const bestA = best(va, metric.higherIsBetter);
  const bestB = best(vb, metric.higherIsBetter);
  const target = metric.higherIsBetter ? Math.min(bestA, bestB) : Math.max(bestA, bestB);
  const epochA = firstReaching(va, target, metric.higherIsBetter);
  const epochB = firstReaching(vb, target, metric.higherIsBetter);
  if (epochA < 0 || epochB < 0) return null;
  const joulesA = cumulativeJoules(a.epochs)[epochA];
  const joulesB = cumulativeJoules(b.epochs)[epochB];
  if (!(joulesA > 0) || !(joulesB >= 0)) return null;
  const ratio = joulesB / joulesA;
  const label = `${metric.split === "val" ? "validation" : "training"} ${metric.name}`;
  const sentence =
    `${b.name} reached the same ${label} (${target.toPrecision(3)}) with ` +
    `${Math.round(ratio * 100)}% of ${a.name}'s ${unit}.`;
  return { metric, target, epochA, epochB, joulesA, joulesB, ratio, sentence };
}
