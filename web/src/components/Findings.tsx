// Findings grouped by category: severity, evidence, why, fix, energy at stake, and a button that
// copies a prompt for a coding assistant.
import { useState } from "react";
import type { Finding } from "../api/client";
import { co2, eur, kwh } from "../lib/format";
import { copyText, findingPrompt } from "../lib/prompt";
import { Empty } from "./States";

export const CATEGORIES = [
  "convergence",
  "carbon",
  "device",
  "layer",
  "gradient",
  "architecture",
] as const;
const SEVERITY_RANK: Record<string, number> = { critical: 0, warning: 1, info: 2 };

function Evidence({ evidence }: { evidence: Finding["evidence"] }) {
  if (!evidence || Object.keys(evidence).length === 0) return null;
  return (
    <dl className="evidence">
      {Object.entries(evidence).map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{typeof v === "string" ? v : JSON.stringify(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

function FindingCard({
  f,
  run,
  onSelectLayer,
}: {
  f: Finding;
  run: { name: string; id: string; modelType?: string };
  onSelectLayer?: (l: string) => void;
}) {
  const [copied, setCopied] = useState<"idle" | "ok" | "failed">("idle");
  const copy = async () => setCopied((await copyText(findingPrompt(f, run))) ? "ok" : "failed");
  return (
    <article className={`finding sev-${f.severity}`} data-testid="finding" data-check={f.check}>
      <header>
        <span className={`sev sev-${f.severity}`}>{f.severity}</span>
        <h4>{f.title}</h4>
      </header>
      <div className="meta">
        <code>{f.check}</code>
        {f.layer && (
          <>
            {" · layer "}
            {onSelectLayer ? (
              <button type="button" className="linkish" onClick={() => onSelectLayer(f.layer!)}>
                {f.layer}
              </button>
            ) : (
              <code>{f.layer}</code>
            )}
          </>
        )}
        {f.epochs &&
          f.epochs.length > 0 &&
          ` · epochs ${f.epochs[0]}–${f.epochs[f.epochs.length - 1]}`}
      </div>
      <Evidence evidence={f.evidence} />
      {f.why && (
        <p>
          <strong>Why it matters:</strong> {f.why}
        </p>
      )}
      {f.fix && (
        <p>
          <strong>Fix:</strong> {f.fix}
        </p>
      )}
      {f.energy_at_stake && (
        <p className="at-stake">
          <strong>Energy at stake:</strong> {kwh(f.energy_at_stake.kwh)} ·{" "}
          {co2(f.energy_at_stake.kg_co2)} · {eur(f.energy_at_stake.eur)}
          {f.energy_at_stake.basis && <span className="sub"> ({f.energy_at_stake.basis})</span>}
        </p>
      )}
      <button type="button" onClick={() => void copy()}>
        {copied === "ok"
          ? "Prompt copied ✓"
          : copied === "failed"
            ? "Copy failed"
            : "Copy prompt for a coding assistant"}
      </button>
    </article>
  );
}

export function Findings({
  findings,
  run,
  onSelectLayer,
}: {
  findings: Finding[];
  run: { name: string; id: string; modelType?: string };
  onSelectLayer?: (l: string) => void;
}) {
  if (findings.length === 0)
    return <Empty>No findings: nothing in this run wastes compute so far.</Empty>;
  const known = new Set<string>(CATEGORIES);
  const cats = [
    ...CATEGORIES,
    ...new Set(findings.map((f) => f.category).filter((c) => !known.has(c))),
  ];
  return (
    <div className="findings">
      {cats.map((cat) => {
        const list = findings
          .filter((f) => f.category === cat)
          .sort((a, b) => (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3));
        if (list.length === 0) return null;
        return (
          <section key={cat} aria-label={`${cat} findings`} className="finding-group">
            <h3>
              {cat} <span className="count">{list.length}</span>
            </h3>
            {list.map((f) => (
              <FindingCard
                key={`${f.check}|${f.layer ?? ""}`}
                f={f}
                run={run}
                onSelectLayer={onSelectLayer}
              />
            ))}
          </section>
        );
      })}
    </div>
  );
}
