// The agent's belief state for display (docs/agent.md, "Belief state"): hypotheses ordered as a
// reader wants them, their evidence as readable lines, and the insights feed, which merges the
// primary-belief changes the server persisted with the insight messages pushed live.
import type { Schemas } from "../api/client";
import { co2, kwh, sig } from "./format";

export type BeliefState = Schemas["BeliefState"];
export type Hypothesis = Schemas["Hypothesis"];
export type Insight = Schemas["AgentInsight"];

const SEVERITY_RANK: Record<string, number> = { critical: 0, warning: 1, info: 2 };

/** The primary belief first, then active before retired, severity, confidence, id. */
export function orderHypotheses(state: BeliefState): Hypothesis[] {
  const rank = (h: Hypothesis) => (h.id === state.primary ? 0 : h.status === "active" ? 1 : 2);
  return state.hypotheses
    .slice()
    .sort(
      (a, b) =>
        rank(a) - rank(b) ||
        (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3) ||
        b.confidence - a.confidence ||
        a.id.localeCompare(b.id),
    );
}

/** A confidence 0..1 as a whole percentage. */
export function confidencePercent(c: number): string {
  return `${Math.round(Math.max(0, Math.min(1, c)) * 100)}%`;
}

/** A list of epoch numbers as "epoch 3" or "epochs 2–5" (0-based, as the diagnostics say). */
export function epochSpan(epochs: number[]): string | null {
  if (epochs.length === 0) return null;
  const first = Math.min(...epochs);
  const last = Math.max(...epochs);
  return first === last ? `epoch ${first}` : `epochs ${first}–${last}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function valueText(v: unknown): string {
  if (typeof v === "number") return sig(v, 3);
  if (typeof v === "string" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/**
 * A hypothesis's evidence as "label: value" lines: its numbers, the epochs it covers and the
 * energy at stake. Fields the server did not fill are left out.
 */
export function evidenceLines(h: Hypothesis): string[] {
  const ev = isRecord(h.evidence) ? h.evidence : {};
  const lines: string[] = [];
  if (isRecord(ev.numbers)) {
    for (const [k, v] of Object.entries(ev.numbers)) lines.push(`${k}: ${valueText(v)}`);
  }
  if (Array.isArray(ev.epochs)) {
    const span = epochSpan(ev.epochs.filter((e): e is number => typeof e === "number"));
    if (span) lines.push(`seen in ${span}`);
  }
  const stake = isRecord(ev.energy_at_stake) ? ev.energy_at_stake : null;
  if (stake && (typeof stake.kwh === "number" || typeof stake.kg_co2 === "number")) {
    const parts = [
      typeof stake.kwh === "number" ? kwh(stake.kwh) : null,
      typeof stake.kg_co2 === "number" ? co2(stake.kg_co2) : null,
    ].filter((p) => p !== null);
    lines.push(`energy at stake: ${parts.join(", ")}`);
  }
  return lines;
}

export interface FeedItem {
  revision: number;
  epoch: number;
  message: string;
  live: boolean; // pushed while the page was open
}

function issueOf(state: BeliefState | undefined, id: string | null | undefined): string {
  if (!id) return "no open problem";
  return state?.hypotheses.find((h) => h.id === id)?.issue ?? id;
}

/**
 * The insights feed, newest first: one item per change of the primary belief. The server keeps
 * each change (primary_history) and pushes an insight message when one happens; a change seen
 * live shows the server's message, an older one a sentence built from the history. Insights
 * about other runs are left out.
 */
export function insightFeed(
  runId: string,
  state: BeliefState | undefined,
  live: Insight[],
): FeedItem[] {
  const byRevision = new Map<number, FeedItem>();
  for (const c of state?.primary_history ?? []) {
    byRevision.set(c.revision, {
      revision: c.revision,
      epoch: c.epoch,
      message: c.from
        ? `Epoch ${c.epoch}: the main problem changed from ${issueOf(state, c.from)} to ${issueOf(state, c.to)}.`
        : `Epoch ${c.epoch}: the main problem is ${issueOf(state, c.to)}.`,
      live: false,
    });
  }
  for (const i of live) {
    if (i.run_id !== runId) continue;
    byRevision.set(i.revision, {
      revision: i.revision,
      epoch: i.epoch,
      message: i.message,
      live: true,
    });
  }
  return [...byRevision.values()].sort((a, b) => b.revision - a.revision);
}
