// Layer health: one row per module with parameters or statistics, and the 3D view beside it.
import { lazy, Suspense, useMemo, useRef } from "react";
import { useNearViewport } from "../lib/useNearViewport";
import type { Finding, LayerEntry } from "../api/client";
import { flatten, totalFlops, type ArchNode } from "../lib/arch";
import { percent, sig } from "../lib/format";
import { num } from "../lib/numbers";
import { Empty, Loading } from "./States";

const Architecture3D = lazy(() => import("./Architecture3D"));

export interface LayerRow {
  name: string;
  type: string;
  score: number | null;
  paramsShare: number | null;
  computeShare: number | null;
  dead: number | null;
  gradNorm: number | null;
  updateRatio: number | null;
  findings: Finding[];
}

export function layerRows(
  root: ArchNode | null,
  stats: Map<string, LayerEntry>,
  scores: Record<string, number>,
  findings: Finding[],
): LayerRow[] {
  const nodes = flatten(root);
  const totalParams = root?.subtreeParams ?? 0;
  const flops = totalFlops(root);
  const names = new Set<string>();
  const rows: LayerRow[] = [];
  const row = (name: string, node: ArchNode | undefined): LayerRow => {
    const s = stats.get(name);
    const finite = (v: unknown) => {
      const n = num(v as number);
      return Number.isFinite(n) ? n : null;
    };
    return {
      name,
      type: node?.type ?? "",
      score: scores[name] ?? null,
      paramsShare: node && totalParams > 0 ? node.subtreeParams / totalParams : null,
      computeShare: node && flops && node.flops !== null ? node.flops / flops : null,
      dead: finite(s?.dead_fraction),
      gradNorm: finite(s?.grad_norm),
      updateRatio: finite(s?.update_ratio),
      findings: findings.filter((f) => f.layer === name),
    };
  };
  for (const n of nodes) {
    // The root and pure containers without statistics add no information to the table.
    if (
      n.depth === 0 ||
      (n.children.length > 0 && !stats.has(n.name) && scores[n.name] === undefined)
    )
      continue;
    names.add(n.name);
    rows.push(row(n.name, n));
  }
  for (const name of stats.keys()) if (!names.has(name)) rows.push(row(name, undefined));
  return rows;
}

export function Layers(props: {
  root: ArchNode | null;
  stats: Map<string, LayerEntry> | undefined;
  scores: Record<string, number>;
  findings: Finding[];
  selected: string | null;
  onSelect: (name: string | null) => void;
}) {
  const rows = useMemo(
    () =>
      layerRows(
        props.root,
        props.stats ?? new Map<string, LayerEntry>(),
        props.scores,
        props.findings,
      ),
    [props.root, props.stats, props.scores, props.findings],
  );
  // three.js (the largest chunk) is fetched only when the 3D view nears the viewport.
  const host = useRef<HTMLDivElement>(null);
  const near = useNearViewport(host);
  const sel = rows.find((r) => r.name === props.selected);
  const node = flatten(props.root).find((n) => n.name === props.selected);
  return (
    <div className="layers" ref={host}>
      {props.root && !near ? (
        <Loading what="the 3D view" />
      ) : props.root ? (
        <Suspense fallback={<Loading what="the 3D view" />}>
          <Architecture3D
            root={props.root}
            scores={props.scores}
            selected={props.selected}
            onSelect={props.onSelect}
          />
        </Suspense>
      ) : (
        <Empty>
          No architecture registered yet: the 3D view appears when the Observer sends the model's
          modules.
        </Empty>
      )}
      {props.selected !== null && (
        <aside className="module-detail" aria-live="polite" data-testid="module-detail">
          <h4>
            {props.selected || "(root)"} <span className="sub">{node?.type}</span>
          </h4>
          <dl className="evidence">
            <div>
              <dt>parameters</dt>
              <dd>{node ? node.subtreeParams.toLocaleString() : "—"}</dd>
            </div>
            <div>
              <dt>FLOPs / sample</dt>
              <dd>{sig(node?.flops ?? null)}</dd>
            </div>
            <div>
              <dt>input → output</dt>
              <dd>
                {JSON.stringify(node?.module.input_shape ?? null)} →{" "}
                {JSON.stringify(node?.module.output_shape ?? null)}
              </dd>
            </div>
            <div>
              <dt>score</dt>
              <dd>{sig(props.scores[props.selected] ?? null)}</dd>
            </div>
          </dl>
          {sel && sel.findings.length > 0 ? (
            <ul>
              {sel.findings.map((f) => (
                <li key={f.check}>
                  <span className={`sev sev-${f.severity}`}>{f.severity}</span> {f.title}
                </li>
              ))}
            </ul>
          ) : (
            <p className="sub">No findings on this module.</p>
          )}
          <button type="button" onClick={() => props.onSelect(null)}>
            Close
          </button>
        </aside>
      )}
      {rows.length === 0 ? (
        <Empty>No layer statistics yet.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="layers-table">
            <thead>
              <tr>
                <th scope="col">Layer</th>
                <th scope="col">Type</th>
                <th scope="col" className="num">
                  Score
                </th>
                <th scope="col" className="num">
                  Params
                </th>
                <th scope="col" className="num">
                  Compute
                </th>
                <th scope="col" className="num">
                  Dead units
                </th>
                <th scope="col" className="num">
                  Grad norm
                </th>
                <th scope="col" className="num">
                  Update ratio
                </th>
                <th scope="col" className="num">
                  Findings
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.name} className={r.name === props.selected ? "selected" : undefined}>
                  <td>
                    <button
                      type="button"
                      className="linkish"
                      onClick={() => props.onSelect(r.name)}
                    >
                      {r.name || "(root)"}
                    </button>
                  </td>
                  <td>{r.type}</td>
                  <td className="num">{sig(r.score)}</td>
                  <td className="num">{percent(r.paramsShare)}</td>
                  <td className="num">{percent(r.computeShare)}</td>
                  <td className="num">{percent(r.dead)}</td>
                  <td className="num">{sig(r.gradNorm)}</td>
                  <td className="num">{sig(r.updateRatio)}</td>
                  <td className="num">{r.findings.length || ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
