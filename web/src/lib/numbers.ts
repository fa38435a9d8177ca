// Telemetry numbers arrive as JSON numbers or the strings "NaN", "Infinity", "-Infinity".

/** The number a telemetry value stands for; null and undefined become NaN. */
export function num(v: number | string | null | undefined): number {
  if (typeof v === "number") return v;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return NaN;
}

/** A finite number, or null (uPlot draws null as a gap). */
export function finiteOrNull(v: number | string | null | undefined): number | null {
  const n = num(v);
  return Number.isFinite(n) ? n : null;
}
