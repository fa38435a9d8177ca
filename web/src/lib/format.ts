// Formatting for tables and labels. Every formatter answers "—" for a value the server does not
// provide (yet), so columns light up when the data lands instead of showing a misleading zero.

export const DASH = "—";

type Maybe = number | null | undefined;

function missing(v: Maybe): v is null | undefined {
  return v === null || v === undefined || Number.isNaN(v);
}

/** A number with at most `digits` significant digits, without exponent for everyday sizes. */
export function sig(v: Maybe, digits = 3): string {
  if (missing(v)) return DASH;
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  if (v === 0) return "0";
  const abs = Math.abs(v);
  if (abs >= 1e6 || abs < 1e-3) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toLocaleString("en-US", { maximumFractionDigits: 6 });
}

/** Seconds as "1h 02m", "3m 05s" or "12.3 s". */
export function duration(seconds: Maybe): string {
  if (missing(seconds) || seconds < 0) return DASH;
  if (seconds < 60) return `${sig(seconds, 3)} s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  return `${m}m ${String(rest).padStart(2, "0")}s`;
}

/** kWh, switching to Wh below 1 kWh so small CPU runs do not read as 0. */
export function kwh(v: Maybe): string {
  if (missing(v)) return DASH;
  if (v < 1) return `${sig(v * 1000, 3)} Wh`;
  return `${sig(v, 3)} kWh`;
}

/** kg CO2, switching to grams below 1 kg. */
export function co2(kg: Maybe): string {
  if (missing(kg)) return DASH;
  if (kg < 1) return `${sig(kg * 1000, 3)} g CO₂`;
  return `${sig(kg, 3)} kg CO₂`;
}

/** Euros; amounts below one cent keep three significant digits. */
export function eur(v: Maybe): string {
  if (missing(v)) return DASH;
  if (v !== 0 && Math.abs(v) < 0.01) return `€${Number(v.toPrecision(2))}`;
  return `€${v.toFixed(2)}`;
}

export function km(v: Maybe): string {
  if (missing(v)) return DASH;
  return `${sig(v, 3)} car-km`;
}

/** A fraction 0..1 as a percentage. */
export function percent(fraction: Maybe, digits = 1): string {
  if (missing(fraction)) return DASH;
  return `${(fraction * 100).toFixed(digits)}%`;
}

export function bytes(v: Maybe): string {
  if (missing(v)) return DASH;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let x = v;
  let i = 0;
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${sig(x, 3)} ${units[i]}`;
}

/** Joules to device kWh (no PUE: the diagnostics document's figures include it). */
export function joulesToKwh(j: Maybe): number | null {
  if (missing(j)) return null;
  return j / 3.6e6;
}

/** A Unix time as a local date and time. */
export function dateTime(unixSeconds: Maybe): string {
  if (missing(unixSeconds)) return DASH;
  const d = new Date(unixSeconds * 1000);
  return d.toLocaleString("en-GB", { dateStyle: "short", timeStyle: "medium" });
}

/** A unit of an axis: its name and how many of it make one of the values' unit. */
export interface AxisUnit {
  unit: string;
  factor: number;
}

/** Values in kWh: kWh, else Wh, else mWh. */
export const ENERGY_UNITS: AxisUnit[] = [
  { unit: "kWh", factor: 1 },
  { unit: "Wh", factor: 1e3 },
  { unit: "mWh", factor: 1e6 },
];

/** Values in kg CO2: kg, else g, else mg. */
export const CO2_UNITS: AxisUnit[] = [
  { unit: "kg", factor: 1 },
  { unit: "g", factor: 1e3 },
  { unit: "mg", factor: 1e6 },
];

/**
 * Tick labels for an axis whose values are small or large: one unit for the whole axis (the
 * largest in which the biggest tick is at least 0.1, else the smallest), and as many decimals as
 * the ticks need to be written exactly (up to 6), so 0.0003 kWh reads "0.3 Wh" instead of "0"
 * and neighbouring ticks never print alike.
 */
export function unitTicks(ticks: number[], units: AxisUnit[]): string[] {
  const finite = ticks.filter((t) => Number.isFinite(t));
  if (finite.length === 0) return ticks.map(() => "");
  const largest = Math.max(...finite.map(Math.abs));
  const chosen =
    largest === 0
      ? units[0]
      : (units.find((u) => largest * u.factor >= 0.1) ?? units[units.length - 1]);
  const scaled = finite.map((t) => t * chosen.factor);
  // The fewest decimals (up to 6) that write every tick exactly, float noise aside.
  let decimals = 0;
  while (
    decimals < 6 &&
    scaled.some((v) => {
      const shifted = v * Math.pow(10, decimals);
      return Math.abs(shifted - Math.round(shifted)) > 1e-6 * Math.max(1, Math.abs(shifted));
    })
  )
    decimals++;
  return ticks.map((t) =>
    Number.isFinite(t) ? `${(t * chosen.factor).toFixed(decimals)} ${chosen.unit}` : "",
  );
}
