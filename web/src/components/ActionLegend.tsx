// The legend of the action markers drawn on the charts: the number on the chart, then what
// happened (what, by whom, applied or refused, why) and the step it took effect before.
import type { ActionMarker } from "../lib/markers";

export function ActionLegend({ markers }: { markers: ActionMarker[] }) {
  if (markers.length === 0) return null;
  return (
    <div className="action-legend" data-testid="action-legend">
      <span className="sub">Actions marked on the charts:</span>
      <ol>
        {markers.map((m) => (
          <li key={m.n} className={m.outcome === "rejected" ? "rejected" : undefined}>
            <span className="mark-badge" aria-hidden="true">
              {m.n}
            </span>
            <span className="sr-only">Marker {m.n}: </span>
            {m.message}
            {m.step !== null && <span className="sub"> · before step {m.step}</span>}
          </li>
        ))}
      </ol>
    </div>
  );
}
