// The run page, sustainability first: header with grade and cost so far and forecast, the epoch
// fold with the optimal stop and the waste, the decision banner, findings, step charts, layers.
import { lazy, useCallback, useEffect, useMemo, useState } from "react";
import { ApiFailure, type RunDetail } from "../api/client";
import { buildTree } from "../lib/arch";
import {
  fetchControl,
  fetchControlEvents,
  fetchDiagnostics,
  fetchEpochs,
  fetchLatestLayers,
  fetchRun,
  fetchSeriesNames,
} from "../lib/data";
import { energyMethods } from "../lib/energy";
import { co2, duration, eur, joulesToKwh, km, kwh } from "../lib/format";
import { controlMarkers } from "../lib/markers";
import { keyMoments, pendingMoments } from "../lib/moments";
import { num } from "../lib/numbers";
import { runDuration } from "../lib/runs";
import { useAsync } from "../lib/useAsync";
import { useLiveRefresh, type LiveMode } from "../lib/useLive";
import { Link } from "../router";
import { GradeBadge, StatusBadge } from "../components/Badges";
import { DecisionBanner, HeldBanner, StopButtons } from "../components/Decision";
import { EpochFold } from "../components/EpochFold";
import { Findings } from "../components/Findings";
import { Deferred } from "../components/Deferred";
import { StepCharts } from "../components/StepCharts";
import { Empty, ErrorBox, Loading } from "../components/States";
import type { Insight } from "../lib/beliefs";
import type { SseEvent } from "../lib/live";

// Panels below the first fold are chunks of their own, fetched when the user scrolls near them:
// the first fold (header, decision banner, per-epoch charts) waits for none of their code. The
// step charts stay in the main chunk (their code is small), and each fetches its data only as it
// nears the viewport, so their figures are in the page from the start.
const AgentPanel = lazy(() => import("../components/AgentPanel"));
const Layers = lazy(() => import("../components/Layers").then((m) => ({ default: m.Layers })));

/** Collects the insight events pushed on the run's live stream, as they arrive. */
function useInsights(runId: string) {
  const [insights, setInsights] = useState<Insight[]>([]);
  useEffect(() => setInsights([]), [runId]);
  const onEvent = useCallback((e: SseEvent) => {
    if (e.event !== "insight") return;
    try {
      const insight = JSON.parse(e.data) as Insight;
      setInsights((list) => [...list, insight]);
    } catch {
      // A malformed push is skipped: the beliefs it announces arrive with the next refresh.
    }
  }, []);
  return { insights, onEvent };
}

function useAnswered(runId: string) {
  const storageKey = `atlas.answered.${runId}`;
  const [answered, setAnswered] = useState<Set<string>>(() => {
    try {
      return new Set(JSON.parse(localStorage.getItem(storageKey) ?? "[]") as string[]);
    } catch {
      return new Set();
    }
  });
  const answer = (key: string) =>
    setAnswered((prev) => {
      const next = new Set(prev).add(key);
      localStorage.setItem(storageKey, JSON.stringify([...next]));
      return next;
    });
  return { answered, answer };
}

function LiveBadge({ mode, lastUpdate }: { mode: LiveMode; lastUpdate: number | null }) {
  const text =
    mode === "open"
      ? "live"
      : mode === "polling"
        ? "live (polling)"
        : mode === "retrying"
          ? "reconnecting…"
          : mode === "connecting"
            ? "connecting…"
            : "not live";
  return (
    <span className="live-indicator" data-state={mode} data-testid="live-indicator">
      ● {text}
      {lastUpdate !== null && (
        <span className="sub"> · updated {new Date(lastUpdate).toLocaleTimeString("en-GB")}</span>
      )}
    </span>
  );
}

export function RunPage({ id }: { id: string }) {
  const run = useAsync(() => fetchRun(id), [id]);
  const epochs = useAsync(() => fetchEpochs(id), [id]);
  const diag = useAsync(() => fetchDiagnostics(id), [id]);
  const names = useAsync(() => fetchSeriesNames(id), [id]);
  const control = useAsync(() => fetchControl(id), [id]);
  const controlEvents = useAsync(() => fetchControlEvents(id), [id]);
  const lastStep = run.data?.totals.last_step ?? null;
  const layers = useAsync(
    () => (run.data ? fetchLatestLayers(id, lastStep) : Promise.resolve(undefined)),
    [id, run.data?.totals.layer_samples],
  );
  const [liveTick, setLiveTick] = useState(0);
  const [lastUpdate, setLastUpdate] = useState<number | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const { answered, answer } = useAnswered(id);
  const { insights, onEvent } = useInsights(id);

  // Each reload is stable (useAsync), so refresh is created once.
  const { reload: reloadRun } = run;
  const { reload: reloadEpochs } = epochs;
  const { reload: reloadDiag } = diag;
  const { reload: reloadNames } = names;
  const { reload: reloadControl } = control;
  const { reload: reloadEvents } = controlEvents;
  const refresh = useCallback(() => {
    for (const reload of [reloadRun, reloadEpochs, reloadDiag, reloadNames, reloadControl])
      reload();
    reloadEvents();
    setLiveTick((t) => t + 1);
    setLastUpdate(Date.now());
  }, [reloadRun, reloadEpochs, reloadDiag, reloadNames, reloadControl, reloadEvents]);
  const running = run.data?.status === "running";
  const live = useLiveRefresh(
    `/api/v1/runs/${encodeURIComponent(id)}/live`,
    running,
    refresh,
    onEvent,
  );

  useEffect(() => {
    document.title = run.data ? `${run.data.name} · Atlas` : "Atlas";
  }, [run.data]);

  // Keyed on the architecture's content, not the object: every live reload fetches a new run
  // object, and a new tree would rebuild the 3D scene and reset the user's camera.
  const architectureJson = JSON.stringify(run.data?.architecture ?? []);
  const tree = useMemo(
    () => buildTree(JSON.parse(architectureJson) as RunDetail["architecture"]),
    [architectureJson],
  );
  const epochEnds = useMemo(
    () => (epochs.data ?? []).map((e) => ({ epoch: e.epoch, ts: e.ts })),
    [epochs.data],
  );
  const methods = useMemo(() => energyMethods(epochs.data ?? []), [epochs.data]);
  const markers = useMemo(() => controlMarkers(controlEvents.data ?? []), [controlEvents.data]);
  const scores = useMemo(() => diag.data?.layer_scores ?? {}, [diag.data]);
  const allFindings = useMemo(() => diag.data?.findings ?? [], [diag.data]);
  const moments = useMemo(
    () => pendingMoments(keyMoments(diag.data), answered),
    [diag.data, answered],
  );

  if (run.error && !run.data) {
    if (run.error instanceof ApiFailure && run.error.status === 404)
      return (
        <Empty>
          No run with id <code>{id}</code>. <Link to="/">Back to the runs</Link>
        </Empty>
      );
    return <ErrorBox error={run.error} retry={run.reload} />;
  }
  if (!run.data) return <Loading what="the run" />;
  const r = run.data;
  const heldState = control.data?.state ?? "";
  const lastHold = control.data?.actions
    .filter((a) => a.action === "hold" || a.action === "pause")
    .at(-1);
  const heldReason = lastHold?.reason ?? "";
  const d = diag.data;
  const deviceKwh = joulesToKwh(num(r.totals.energy_joules));
  const forecast = d?.forecast;
  const modelType = r.architecture[0]?.type;

  return (
    <article className="run-page" aria-labelledby="run-title">
      <header className="run-header">
        <GradeBadge grade={d?.grade} large />
        <div className="run-title">
          <h1 id="run-title">{r.name}</h1>
          <div className="sub">
            {r.project} · <code>{r.id}</code> · <StatusBadge status={r.status} />
            {r.status_reason && ` (${r.status_reason})`} · step{" "}
            <span data-testid="last-step">{r.totals.last_step ?? "—"}</span> · {r.totals.epochs}{" "}
            epochs · {duration(runDuration(r, Date.now() / 1000))}
            {d && ` · score ${Math.round(d.score)}/100`}
          </div>
          <LiveBadge mode={running ? live : "idle"} lastUpdate={lastUpdate} />
        </div>
        <dl className="kpis">
          <div data-testid="kpi-energy">
            <dt>Energy so far</dt>
            <dd>{kwh(d?.spent?.kwh ?? deviceKwh)}</dd>
            <dd className="sub">
              {d?.spent?.kwh !== undefined ? "facility (× PUE)" : "device, before PUE"}
            </dd>
          </div>
          <div>
            <dt>CO₂ so far</dt>
            <dd>{co2(d?.spent?.kg_co2)}</dd>
            <dd className="sub">{km(d?.spent?.car_km)}</dd>
          </div>
          <div>
            <dt>Cost of carbon</dt>
            <dd>{eur(d?.spent?.eur)}</dd>
          </div>
          <div data-testid="kpi-forecast">
            <dt>
              Forecast{forecast?.planned_epochs ? ` (${forecast.planned_epochs} epochs)` : ""}
            </dt>
            <dd>{kwh(forecast?.total?.kwh)}</dd>
            <dd className="sub">
              {co2(forecast?.total?.kg_co2)} · {eur(forecast?.total?.eur)}
            </dd>
          </div>
        </dl>
        {running && <StopButtons runId={id} />}
      </header>
      <p className="methods" data-testid="energy-methods">
        Energy:{" "}
        {methods.length === 0
          ? "no energy reported yet"
          : methods.map((m) => (
              <span key={m.component} className={`method ${m.measured ? "measured" : "estimated"}`}>
                {m.component}: {m.measured ? "measured" : "estimated"} ({m.methods.join(", ")})
              </span>
            ))}
        {!d && (
          <span className="sub">
            {" "}
            · Grade, CO₂, cost and forecast appear when the server's diagnostics are available.
          </span>
        )}
      </p>

      {running && (heldState === "held_for_decision" || heldState === "paused") ? (
        <HeldBanner runId={id} state={heldState} reason={heldReason} />
      ) : (
        running &&
        moments.length > 0 && (
          <DecisionBanner
            runId={id}
            moment={moments[0]}
            onContinue={() => answer(moments[0].key)}
          />
        )
      )}

      <nav className="section-nav" aria-label="Run sections">
        <a href="#overview">Overview</a>
        <a href="#findings">Findings{d ? ` (${d.findings.length})` : ""}</a>
        <a href="#agent">Ask the agent</a>
        <a href="#steps">Step charts</a>
        <a href="#layers">Layers &amp; architecture</a>
      </nav>

      <section id="overview" aria-labelledby="overview-title">
        <h2 id="overview-title">Per epoch: results beside their cost</h2>
        {epochs.error ? (
          <ErrorBox error={epochs.error} retry={epochs.reload} />
        ) : !epochs.data ? (
          <Loading what="epochs" />
        ) : (
          <EpochFold
            epochs={epochs.data}
            diag={d}
            markers={markers}
            epochEnds={epochEnds}
            startTs={r.started_at}
          />
        )}
      </section>

      <section id="findings" aria-labelledby="findings-title">
        <h2 id="findings-title">Findings</h2>
        {diag.error ? (
          <ErrorBox error={diag.error} retry={diag.reload} />
        ) : diag.loading && !diag.data ? (
          <Loading what="diagnostics" />
        ) : !d ? (
          <Empty>
            This server does not provide diagnostics yet (GET /api/v1/runs/{"{id}"}/diagnostics).
          </Empty>
        ) : (
          <Findings
            findings={d.findings}
            run={{ name: r.name, id: r.id, modelType }}
            onSelectLayer={(l) => {
              setSelected(l);
              document.getElementById("layers")?.scrollIntoView({ behavior: "smooth" });
            }}
          />
        )}
      </section>

      <section id="agent" aria-labelledby="agent-title">
        <h2 id="agent-title">Ask the agent</h2>
        <Deferred what="the agent" testId="agent-panel">
          <AgentPanel runId={id} liveTick={liveTick} insights={insights} />
        </Deferred>
      </section>

      <section id="steps" aria-labelledby="steps-title">
        <h2 id="steps-title">Step charts</h2>
        {names.error ? (
          <ErrorBox error={names.error} retry={names.reload} />
        ) : !names.data ? (
          <Loading what="series" />
        ) : (
          <StepCharts
            runId={id}
            names={names.data}
            epochEnds={epochEnds}
            startTs={r.started_at}
            liveTick={liveTick}
            markers={markers}
          />
        )}
      </section>

      <section id="layers" aria-labelledby="layers-title">
        <h2 id="layers-title">Layers &amp; architecture</h2>
        {layers.error ? (
          <ErrorBox error={layers.error} retry={layers.reload} />
        ) : (
          <Deferred what="the layers">
            <Layers
              root={tree}
              stats={layers.data}
              scores={scores}
              findings={allFindings}
              selected={selected}
              onSelect={setSelected}
            />
          </Deferred>
        )}
      </section>
    </article>
  );
}
