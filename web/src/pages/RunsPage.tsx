// The runs table: live status, grade, cost and waste per run; sortable, filterable, searchable.
import { useEffect, useMemo, useRef, useState } from "react";
import type { Diagnostics, Epoch, RunSummary } from "../api/client";
import { fetchDiagnostics, fetchEpochs, fetchRuns } from "../lib/data";
import { co2, duration, eur, kwh, percent, sig } from "../lib/format";
import { useLiveRefresh } from "../lib/useLive";
import { mapLimit } from "../lib/pool";
import { filterRows, sortRows, toRow, type RowFilter, type SortKey } from "../lib/runs";
import { useAsync } from "../lib/useAsync";
import { Link, navigate, runPath } from "../router";
import { Empty, ErrorBox, Loading } from "../components/States";
import { GradeBadge, StatusBadge } from "../components/Badges";

interface Extras {
  epochs?: Epoch[];
  diag?: Diagnostics;
}

const COLUMNS: { key: SortKey; label: string; numeric?: boolean }[] = [
  { key: "name", label: "Run" },
  { key: "status", label: "Status" },
  { key: "grade", label: "Grade" },
  { key: "durationS", label: "Duration", numeric: true },
  { key: "epochs", label: "Epochs", numeric: true },
  { key: "bestMetric", label: "Best val", numeric: true },
  { key: "kwh", label: "Energy", numeric: true },
  { key: "kgCo2", label: "CO₂", numeric: true },
  { key: "eur", label: "EUR", numeric: true },
  { key: "wastedFraction", label: "Wasted", numeric: true },
  { key: "createdAt", label: "Started", numeric: true },
];

export function RunsPage() {
  const runs = useAsync(fetchRuns, []);
  const [extras, setExtras] = useState<Record<string, Extras>>({});
  const [filter, setFilter] = useState<RowFilter>({ search: "", status: "", project: "" });
  const [sort, setSort] = useState<{ key: SortKey; dir: "asc" | "desc" }>({
    key: "createdAt",
    dir: "desc",
  });
  const [selected, setSelected] = useState<string[]>([]);
  const anyRunning = runs.data?.runs.some((r) => r.status === "running") ?? false;
  const live = useLiveRefresh("/api/v1/live", anyRunning, runs.reload);

  // Epochs and diagnostics per run, a few requests at a time, re-read only for runs whose data
  // changed since the last read (live updates refresh the list often; finished runs are stable).
  const seen = useRef(new Map<string, string>());
  useEffect(() => {
    const changed = (runs.data?.runs ?? []).filter((r: RunSummary) => {
      const version = `${r.status}|${r.totals.last_ts}|${r.totals.epochs}`;
      if (seen.current.get(r.id) === version) return false;
      seen.current.set(r.id, version);
      return true;
    });
    void mapLimit(changed, 6, async (r) => {
      const [epochs, diag] = await Promise.all([
        fetchEpochs(r.id).catch(() => undefined),
        fetchDiagnostics(r.id).catch(() => undefined),
      ]);
      setExtras((prev) => ({ ...prev, [r.id]: { epochs, diag } }));
    });
  }, [runs.data]);

  // Durations of running runs are measured at the time the data arrived, not at each render.
  const rows = useMemo(() => {
    const now = Date.now() / 1000;
    return (runs.data?.runs ?? []).map((r) =>
      toRow(r, extras[r.id]?.epochs, extras[r.id]?.diag, now),
    );
  }, [runs.data, extras]);
  const projects = useMemo(() => [...new Set(rows.map((r) => r.project))].sort(), [rows]);
  const shown = useMemo(
    () => sortRows(filterRows(rows, filter), sort.key, sort.dir),
    [rows, filter, sort],
  );

  if (runs.error && !runs.data) return <ErrorBox error={runs.error} retry={runs.reload} />;
  if (!runs.data) return <Loading what="runs" />;

  const toggleSort = (key: SortKey) =>
    setSort((s) => ({ key, dir: s.key === key && s.dir === "desc" ? "asc" : "desc" }));
  const toggleSelected = (id: string) =>
    setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));

  return (
    <section aria-labelledby="runs-title">
      <div className="page-head">
        <h1 id="runs-title">Runs</h1>
        <span className="live-indicator" data-state={live}>
          {live === "open" ? "● live" : live === "polling" ? "● live (polling)" : ""}
        </span>
      </div>
      <div className="toolbar" role="search">
        <label>
          Search
          <input
            type="search"
            value={filter.search}
            placeholder="run name or id"
            onChange={(e) => setFilter({ ...filter, search: e.target.value })}
          />
        </label>
        <label>
          Status
          <select
            value={filter.status}
            onChange={(e) => setFilter({ ...filter, status: e.target.value })}
          >
            <option value="">all</option>
            <option value="running">running</option>
            <option value="completed">completed</option>
            <option value="stopped">stopped</option>
            <option value="failed">failed</option>
          </select>
        </label>
        <label>
          Project
          <select
            value={filter.project}
            onChange={(e) => setFilter({ ...filter, project: e.target.value })}
          >
            <option value="">all</option>
            {projects.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <button
          type="button"
          disabled={selected.length < 2}
          onClick={() => navigate(`/compare?runs=${selected.map(encodeURIComponent).join(",")}`)}
        >
          Compare {selected.length >= 2 ? `${selected.length} runs` : "(select 2+)"}
        </button>
      </div>
      {rows.length === 0 ? (
        <Empty>
          No runs yet. Start a training with the Observer (<code>examples/quickstart.py</code>) and
          it appears here live.
        </Empty>
      ) : shown.length === 0 ? (
        <Empty>No run matches the filter.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="runs-table">
            <thead>
              <tr>
                <th scope="col">
                  <span className="sr-only">Select for comparison</span>
                </th>
                {COLUMNS.map((c) => (
                  <th
                    key={c.key}
                    scope="col"
                    className={c.numeric ? "num" : undefined}
                    aria-sort={
                      sort.key === c.key
                        ? sort.dir === "asc"
                          ? "ascending"
                          : "descending"
                        : "none"
                    }
                  >
                    <button type="button" className="sort" onClick={() => toggleSort(c.key)}>
                      {c.label}
                      {sort.key === c.key ? (sort.dir === "asc" ? " ▲" : " ▼") : ""}
                    </button>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
                <tr key={r.id} data-run-id={r.id}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select ${r.name} for comparison`}
                      checked={selected.includes(r.id)}
                      onChange={() => toggleSelected(r.id)}
                    />
                  </td>
                  <td>
                    <Link to={runPath(r.id)}>{r.name}</Link>
                    <div className="sub">{r.project}</div>
                  </td>
                  <td>
                    <StatusBadge status={r.status} />
                  </td>
                  <td>
                    <GradeBadge grade={r.grade} />
                  </td>
                  <td className="num">{duration(r.durationS)}</td>
                  <td className="num">{r.epochs}</td>
                  <td className="num" title={r.bestMetricLabel}>
                    {sig(r.bestMetric, 4)}
                    {r.bestMetricLabel && <div className="sub">{r.bestMetricLabel}</div>}
                  </td>
                  <td
                    className="num"
                    title={
                      r.kwhMeasuredBasis === "device"
                        ? "device energy, before PUE"
                        : "facility energy (x PUE)"
                    }
                  >
                    {kwh(r.kwh)}
                  </td>
                  <td className="num">{co2(r.kgCo2)}</td>
                  <td className="num">{eur(r.eur)}</td>
                  <td className="num">{percent(r.wastedFraction, 0)}</td>
                  <td className="num">
                    {new Date(r.createdAt * 1000).toLocaleString("en-GB", {
                      dateStyle: "short",
                      timeStyle: "short",
                    })}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {runs.data.total > runs.data.runs.length && (
        <p className="sub">
          Showing the newest {runs.data.runs.length} of {runs.data.total} runs.
        </p>
      )}
    </section>
  );
}
