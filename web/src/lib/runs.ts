// Derived figures for the runs table: one row per run, from its summary, its epochs and (when the
// server has it) its diagnostics document. Missing inputs give null, shown as "—".
import type { Diagnostics, Epoch, RunSummary } from "../api/client";
import { chooseMetric, metricValues } from "./compare";
import { joulesToKwh } from "./format";
import { num } from "./numbers";

export interface RunRow {
  id: string;
  name: string;
  project: string;
  status: RunSummary["status"];
  grade: string | null;
  durationS: number | null;
  epochs: number;
  bestMetric: number | null;
  bestMetricLabel: string;
  kwh: number | null;
  kwhMeasuredBasis: "facility" | "device" | null;
  kgCo2: number | null;
  eur: number | null;
  wastedFraction: number | null;
  createdAt: number;
}

export function runDuration(r: RunSummary, now: number): number | null {
  const end = r.finished_at ?? (r.status === "running" ? now : r.totals.last_ts);
  if (end === null || end === undefined) return null;
  return Math.max(0, end - r.started_at);
}

export function bestMetric(epochs: Epoch[] | undefined): { value: number | null; label: string } {
  if (!epochs || epochs.length === 0) return { value: null, label: "" };
  const m = chooseMetric([epochs]);
  if (!m) return { value: null, label: "" };
  const values = metricValues(epochs, m).filter(Number.isFinite);
  const value = m.higherIsBetter ? Math.max(...values) : Math.min(...values);
  return { value, label: `${m.split}.${m.name}` };
}

export function toRow(
  r: RunSummary,
  epochs: Epoch[] | undefined,
  diag: Diagnostics | undefined,
  now: number,
): RunRow {
  const best = bestMetric(epochs);
  const deviceKwh = joulesToKwh(num(r.totals.energy_joules));
  const spent = diag?.spent;
  return {
    id: r.id,
    name: r.name,
    project: r.project,
    status: r.status,
    grade: diag?.grade ?? null,
    durationS: runDuration(r, now),
    epochs: r.totals.epochs,
    bestMetric: best.value,
    bestMetricLabel: best.label,
    kwh: spent?.kwh ?? (deviceKwh && deviceKwh > 0 ? deviceKwh : null),
    kwhMeasuredBasis: spent?.kwh !== undefined ? "facility" : deviceKwh ? "device" : null,
    kgCo2: spent?.kg_co2 ?? null,
    eur: spent?.eur ?? null,
    wastedFraction: diag?.waste?.fraction ?? null,
    createdAt: r.created_at,
  };
}

export type SortKey = keyof Pick<
  RunRow,
  | "name"
  | "status"
  | "grade"
  | "durationS"
  | "epochs"
  | "bestMetric"
  | "kwh"
  | "kgCo2"
  | "eur"
  | "wastedFraction"
  | "createdAt"
>;

/** Sorts rows by a column; missing values always go last, whatever the direction. */
export function sortRows(rows: RunRow[], key: SortKey, dir: "asc" | "desc"): RunRow[] {
  const sign = dir === "asc" ? 1 : -1;
  return rows.slice().sort((a, b) => {
    const va = a[key];
    const vb = b[key];
    const ma = va === null || va === undefined || (typeof va === "number" && Number.isNaN(va));
    const mb = vb === null || vb === undefined || (typeof vb === "number" && Number.isNaN(vb));
    if (ma && mb) return 0;
    if (ma) return 1;
    if (mb) return -1;
    if (typeof va === "number" && typeof vb === "number") return (va - vb) * sign;
    return String(va).localeCompare(String(vb)) * sign;
  });
}

export interface RowFilter {
  search: string;
  status: string; // "" for all
  project: string; // "" for all
}

export function filterRows(rows: RunRow[], f: RowFilter): RunRow[] {
  const q = f.search.trim().toLowerCase();
  return rows.filter(
    (r) =>
      (!q || r.name.toLowerCase().includes(q) || r.id.toLowerCase().includes(q)) &&
      (!f.status || r.status === f.status) &&
      (!f.project || r.project === f.project),
  );
}
