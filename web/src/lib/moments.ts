// Key moments that ask the developer to decide: a new warning or critical finding, or the
// optimal stopping point passed. Each has a stable key so a "Continue" answer is remembered.
import type { Diagnostics, Finding } from "../api/client";

export interface Moment {
  key: string;
  title: string;
  finding?: Finding;
}

export function keyMoments(diag: Diagnostics | undefined): Moment[] {
  if (!diag) return [];
  const out: Moment[] = [];
  for (const f of diag.findings) {
    if (f.check === "convergence.past_optimal_stop") {
      out.push({ key: `${f.check}|`, title: f.title, finding: f });
    } else if (f.severity === "critical" || f.severity === "warning") {
      out.push({ key: `${f.check}|${f.layer ?? ""}`, title: f.title, finding: f });
    }
  }
  if (
    diag.optimal_stop_epoch !== null &&
    diag.optimal_stop_epoch !== undefined &&
    (diag.waste?.epochs ?? 0) > 0 &&
    !out.some((m) => m.key.startsWith("convergence.past_optimal_stop"))
  ) {
    out.push({
      key: "optimal-stop-passed|",
      title: `The optimal stopping point (epoch ${diag.optimal_stop_epoch}) has passed`,
    });
  }
  return out;
}

/** The moments not yet answered, most severe first (critical, the stop, then warnings). */
export function pendingMoments(all: Moment[], answered: Set<string>): Moment[] {
  const rank = (m: Moment) =>
    m.finding?.severity === "critical"
      ? 0
      : m.key.startsWith("convergence.") || m.key.startsWith("optimal")
        ? 1
        : 2;
  return all.filter((m) => !answered.has(m.key)).sort((a, b) => rank(a) - rank(b));
}
