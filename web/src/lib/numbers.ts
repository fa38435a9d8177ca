// Telemetry numbers arrive as JSON numbers or the strings "NaN", "Infinity", "-Infinity".

export type Telemetry = number | "NaN" | "Infinity" | "-Infinity" | null | undefined;

/** The number a telemetry value stands for; null and undefined become NaN. */
export function num(v: Telemetry | string): number {
  if (typeof v === "number") return v;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return NaN;
}

/** A finite number, or null (uPlot draws null as a gap). */
export function finiteOrNull(v: Telemetry | string): number | null {
  const n = num(v);
  return Number.isFinite(n) ? n : null;
}
