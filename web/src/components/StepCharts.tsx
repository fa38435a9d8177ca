// Step-level charts (loss, throughput, memory, utilisation, power) from the server's min/max
// buckets: the band is each bucket's min..max (spikes survive downsampling), the line its last
// value, optionally smoothed. Dragging zooms and refetches that range at full resolution.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import { fetchSeries } from "../lib/data";
import { bytes, sig } from "../lib/format";
import {
  emptyBuckets,
  fromSeries,
  mergeBuckets,
  pointsFor,
  smooth,
  timeToEpoch,
  type Buckets,
  type EpochEnd,
} from "../lib/series";
import { markerX, type ActionMarker } from "../lib/markers";
import { epochLabel } from "../lib/epochs";
import { ActionLegend } from "./ActionLegend";
import { Empty, ErrorBox, Loading } from "./States";
import { useNearViewport } from "../lib/useNearViewport";
import { useAsync } from "../lib/useAsync";
import { useStableValue } from "../lib/useStableValue";
import {
  UPlotChart,
  axisStyle,
  marksLabel,
  marksPlugin,
  useChartTheme,
  type ChartMark,
} from "./UPlotChart";

export type XMode = "step" | "time" | "epoch";

interface Group {
  title: string;
  match: (name: string) => boolean;
  format?: (v: number) => string;
}

const GROUPS: Group[] = [
  { title: "Loss", match: (n) => n === "loss" },
  { title: "Throughput", match: (n) => n === "samples_per_s" || n === "tokens_per_s" },
  { title: "Memory", match: (n) => n.endsWith("_bytes"), format: (v) => bytes(v) },
  { title: "Utilisation", match: (n) => n.endsWith("_percent") },
  { title: "Power", match: (n) => /power|watt/i.test(n) },
  { title: "Step time", match: (n) => n.endsWith("_ms") },
];

/** Groups the run's series for display; names no group claims go to "Other metrics". */
export function groupSeries(
  names: string[],
): { title: string; metrics: string[]; format?: (v: number) => string }[] {
  const used = new Set<string>();
  const out = GROUPS.map((g) => {
    const metrics = names.filter((n) => !used.has(n) && g.match(n));
    metrics.forEach((m) => used.add(m));
    return { title: g.title, metrics, format: g.format };
  });
  const rest = names.filter((n) => !used.has(n) && n !== "samples" && n !== "tokens");
  out.push({ title: "Other metrics", metrics: rest, format: undefined });
  return out.filter((g) => g.metrics.length > 0);
}

interface ChartProps {
  runId: string;
  metric: string;
  xMode: XMode;
  smoothing: number;
  epochEnds: EpochEnd[];
  startTs: number;
  liveTick: number;
  marks: ChartMark[];
  format?: (v: number) => string;
}

/** Maps a display-x range back to the server's axis (step or time) for a finer fetch. */
function rawRange(raw: number[], shown: (number | null)[], min: number, max: number) {
  let from = Infinity;
  let to = -Infinity;
  for (let i = 0; i < raw.length; i++) {
    const v = shown[i];
    if (v === null) continue;
    if (v >= min && from === Infinity) from = i > 0 ? raw[i - 1] : raw[i];
    if (v <= max) to = i + 1 < raw.length ? raw[i + 1] : raw[i];
  }
  return Number.isFinite(from) && Number.isFinite(to) && to > from ? { from, to } : null;
}

function StepChart({
  runId,
  metric,
  xMode,
  smoothing,
  epochEnds,
  startTs,
  liveTick,
  marks,
  format,
}: ChartProps) {
  const theme = useChartTheme();
  const [buckets, setBuckets] = useState<Buckets>(emptyBuckets());
  const [inRange, setInRange] = useState<number | null>(null);
  const [error, setError] = useState<Error>();
  const [zoomed, setZoomed] = useState(false);
  const zoomedRef = useRef(zoomed);
  zoomedRef.current = zoomed;
  const host = useRef<HTMLDivElement>(null);
  const serverAxis = xMode === "step" ? "step" : "time";
  // Charts below the fold fetch when they come near the viewport: a full-range query of a long
  // run costs the server a scan, and the first fold must not wait for charts nobody sees yet.
  const visible = useNearViewport(host);
  const width = () => host.current?.clientWidth ?? 800;

  // The overview: refetched when the axis changes and on live updates unless the user zoomed.
  // useAsync coalesces live reloads, so a slow answer is not superseded before it lands.
  const overview = useAsync(
    () =>
      visible ? fetchSeries(runId, metric, serverAxis, pointsFor(width())) : Promise.resolve(null),
    [runId, metric, serverAxis, visible],
  );
  const reloadOverview = overview.reload;
  useEffect(() => {
    if (liveTick > 0 && !zoomedRef.current) reloadOverview();
  }, [liveTick, reloadOverview]);
  useEffect(() => {
    if (overview.error) setError(overview.error);
    const s = overview.data;
    if (!s || zoomedRef.current) return;
    setBuckets(fromSeries(s));
    setInRange(s.points_in_range);
    setError(undefined);
  }, [overview.data, overview.error]);

  const shownX = useMemo(
    () => (xMode === "epoch" ? timeToEpoch(buckets.x, epochEnds, startTs) : buckets.x),
    [buckets.x, xMode, epochEnds, startTs],
  );
  const data = useMemo(() => {
    const keep = shownX.map((v) => v !== null);
    const pick = <T,>(a: T[]) => a.filter((_, i) => keep[i]);
    return [
      pick(shownX) as number[],
      pick(smooth(buckets.last, smoothing)),
      pick(buckets.min),
      pick(buckets.max),
    ] as uPlot.AlignedData;
  }, [shownX, buckets, smoothing]);

  const bucketsRef = useRef(buckets);
  bucketsRef.current = buckets;
  const shownRef = useRef(shownX);
  shownRef.current = shownX;
  const zoomTimer = useRef<ReturnType<typeof setTimeout>>();

  const onZoom = useCallback(
    (u: uPlot) => {
      const min = u.scales.x.min;
      const max = u.scales.x.max;
      const xs = u.data[0];
      if (min === undefined || max === undefined || xs.length < 2) return;
      const full = min <= xs[0] && max >= xs[xs.length - 1];
      if (full) {
        setZoomed(false);
        return;
      }
      setZoomed(true);
      clearTimeout(zoomTimer.current);
      zoomTimer.current = setTimeout(() => {
        const range = rawRange(bucketsRef.current.x, shownRef.current, min, max);
        if (!range) return;
        fetchSeries(runId, metric, serverAxis, pointsFor(u.width), range).then(
          (s) => setBuckets((b) => mergeBuckets(b, fromSeries(s), range.from, range.to)),
          (e: Error) => setError(e),
        );
      }, 150);
    },
    [runId, metric, serverAxis],
  );

  const options = useCallback(
    (w: number): uPlot.Options => ({
      width: w,
      height: 170,
      scales: { x: { time: xMode === "time" } },
      cursor: { drag: { x: true, y: false } },
      axes: [
        { ...axisStyle(theme), label: xMode === "epoch" ? "epoch (from 0)" : xMode },
        {
          ...axisStyle(theme),
          size: 70,
          values: (_u, vals) => vals.map((v) => (format ? format(v) : sig(v, 3))),
        },
      ],
      series: [
        xMode === "epoch" ? { label: "epoch", value: (_u, v) => epochLabel(v) } : { label: xMode },
        {
          label: smoothing > 0 ? `${metric} (smoothed)` : metric,
          stroke: "#3b82f6",
          width: 1.5,
          points: { show: false },
        },
        { label: "min", stroke: "transparent", points: { show: false } },
        { label: "max", stroke: "transparent", points: { show: false } },
      ],
      bands: [{ series: [3, 2], fill: "rgba(59,130,246,0.18)" }],
      legend: { show: true },
      hooks: { setScale: [(u, key) => key === "x" && onZoom(u)] },
      plugins: [marksPlugin(marks)],
    }),
    [xMode, smoothing, metric, format, onZoom, marks, theme],
  );

  return (
    <figure className="step-chart" ref={host}>
      <figcaption>
        <span>{metric}</span>
        <span className="sub">
          {inRange !== null && `${inRange.toLocaleString()} points`}
          {zoomed && " · zoomed (double-click to reset)"}
        </span>
      </figcaption>
      {error ? (
        <ErrorBox error={error} />
      ) : !visible || (inRange === null && buckets.x.length === 0) ? (
        <Loading what={metric} />
      ) : buckets.x.length === 0 ? (
        <Empty>No values yet.</Empty>
      ) : xMode === "epoch" && epochEnds.length === 0 ? (
        <Empty>The epoch axis needs at least one finished epoch.</Empty>
      ) : (
        <UPlotChart
          options={options}
          data={data}
          keepScales={zoomed}
          label={`${metric} by ${xMode}${marksLabel(marks)}`}
          testId={`step-chart-${metric}`}
        />
      )}
    </figure>
  );
}

export function StepCharts(props: {
  runId: string;
  names: string[];
  epochEnds: EpochEnd[];
  startTs: number;
  liveTick: number;
  markers: ActionMarker[];
}) {
  const [xMode, setXMode] = useState<XMode>("step");
  const [smoothing, setSmoothing] = useState(0);
  const groups = useMemo(() => groupSeries(props.names), [props.names]);
  const { markers, epochEnds, startTs } = props;
  const computed = useMemo<ChartMark[]>(
    () =>
      markers.flatMap((m) => {
        const x = markerX(m, xMode, epochEnds, startTs);
        return x === null ? [] : [{ n: m.n, x, title: m.message }];
      }),
    [markers, xMode, epochEnds, startTs],
  );
  // Charts are rebuilt only when a mark is added or moves, not on every live update.
  const marks = useStableValue(computed);
  if (props.names.length === 0) return <Empty>No step telemetry yet.</Empty>;
  return (
    <div>
      <div className="toolbar">
        <fieldset className="segmented">
          <legend>x axis</legend>
          {(["step", "epoch", "time"] as XMode[]).map((m) => (
            <label key={m}>
              <input
                type="radio"
                name="xmode"
                value={m}
                checked={xMode === m}
                onChange={() => setXMode(m)}
              />
              {m}
            </label>
          ))}
        </fieldset>
        <label>
          Smoothing {smoothing.toFixed(2)}
          <input
            type="range"
            min={0}
            max={0.99}
            step={0.01}
            value={smoothing}
            onChange={(e) => setSmoothing(Number(e.target.value))}
          />
        </label>
        <span className="sub">
          Drag on a chart to zoom (refetches finer data); double-click to reset.
        </span>
      </div>
      <ActionLegend markers={props.markers} />
      {groups.map((g) => (
        <section key={g.title} className="chart-group" aria-label={g.title}>
          <h3>{g.title}</h3>
          <div className="chart-grid">
            {g.metrics.map((m) => (
              <StepChart
                key={m}
                runId={props.runId}
                metric={m}
                xMode={xMode}
                smoothing={smoothing}
                epochEnds={props.epochEnds}
                startTs={props.startTs}
                liveTick={props.liveTick}
                marks={marks}
                format={g.format}
              />
            ))}
          </div>
        </section>
      ))}
    </div>
  );
}
