// Compare runs: a metric against cumulative energy and against time, and a summary of what each
// run cost to reach the same result as the first.
import { useCallback, useMemo } from "react";
import uPlot from "uplot";
import type { Diagnostics, Epoch, RunDetail } from "../api/client";
import { chooseMetric, compareRuns, metricValues } from "../lib/compare";
import { cumulativeJoules } from "../lib/energy";
import { carbonPerJoule } from "../lib/epochs";
import { fetchDiagnostics, fetchEpochs, fetchRun } from "../lib/data";
import { kwh } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { Link, runPath } from "../router";
import { Empty, ErrorBox, Loading } from "../components/States";
import { UPlotChart, axisStyle, useChartTheme } from "../components/UPlotChart";

const PALETTE = ["#3b82f6", "#f97316", "#10b981", "#a855f7", "#ef4444", "#14b8a6"];

interface Loaded {
  run: RunDetail;
  epochs: Epoch[];
  diag: Diagnostics | undefined;
}

function totalKwh(epochs: Epoch[]): number | null {
  const c = cumulativeJoules(epochs);
  return c.length > 0 ? c[c.length - 1] / 3.6e6 : null;
}

function overlay(
  runs: Loaded[],
  xOf: (l: Loaded) => number[],
  ys: (l: Loaded) => number[],
): uPlot.AlignedData {
  const tables = runs.map((l) => {
    const x = xOf(l);
    const y = ys(l).map((v) => (Number.isFinite(v) ? v : null));
    const order = x.map((_, i) => i).sort((a, b) => x[a] - x[b]);
    return [order.map((i) => x[i]), order.map((i) => y[i])] as uPlot.AlignedData;
  });
  return uPlot.join(tables);
}

export function ComparePage({ ids }: { ids: string[] }) {
  const theme = useChartTheme();
  const data = useAsync(
    () =>
      Promise.all(
        ids.map(async (id) => {
          const [run, epochs, diag] = await Promise.all([
            fetchRun(id),
            fetchEpochs(id),
            fetchDiagnostics(id).catch(() => undefined),
          ]);
          return { run, epochs, diag } as Loaded;
        }),
      ),
    [ids.join(",")],
  );
  const runs = useMemo(() => data.data ?? [], [data.data]);
  const metric = useMemo(() => chooseMetric(runs.map((l) => l.epochs)), [runs]);

  const byEnergy = useMemo(
    () =>
      metric
        ? overlay(
            runs,
            (l) => cumulativeJoules(l.epochs).map((j) => j / 3.6e6),
            (l) => metricValues(l.epochs, metric),
          )
        : null,
    [runs, metric],
  );
  const byTime = useMemo(
    () =>
      metric
        ? overlay(
            runs,
            (l) => l.epochs.map((e) => e.ts - l.run.started_at),
            (l) => metricValues(l.epochs, metric),
          )
        : null,
    [runs, metric],
  );
  const opts = useCallback(
    (xLabel: string) =>
      (width: number): uPlot.Options => ({
        width,
        height: 260,
        scales: { x: { time: false } },
        axes: [
          { ...axisStyle(theme), label: xLabel },
          { ...axisStyle(theme), label: metric ? `${metric.split}.${metric.name}` : "" },
        ],
        series: [
          { label: xLabel },
          ...runs.map((l, i) => ({
            label: l.run.name,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            spanGaps: true,
          })),
        ],
      }),
    [runs, metric, theme],
  );
  const energyOpts = useMemo(() => opts("cumulative energy (kWh, device)"), [opts]);
  const timeOpts = useMemo(() => opts("elapsed time (s)"), [opts]);

  if (ids.length < 2)
    return (
      <Empty>
        Pick two or more runs in the <Link to="/">runs table</Link> to compare them.
      </Empty>
    );
  if (data.error) return <ErrorBox error={data.error} retry={data.reload} />;
  if (!data.data) return <Loading what="the runs" />;

  const base = runs[0];
  const basePer = carbonPerJoule(base.diag);
  const summaries = runs.slice(1).map((other) => {
    const otherPer = carbonPerJoule(other.diag);
    const sameCarbon =
      basePer !== null && otherPer !== null && Math.abs(basePer - otherPer) / basePer < 1e-6;
    return compareRuns(
      { name: base.run.name, epochs: base.epochs },
      { name: other.run.name, epochs: other.epochs },
      sameCarbon ? "emissions" : "energy",
    );
  });

  return (
    <section aria-labelledby="compare-title">
      <h1 id="compare-title">Compare runs</h1>
      <ul className="compare-runs">
        {runs.map((l, i) => (
          <li key={l.run.id}>
            <span
              className="swatch"
              style={{ background: PALETTE[i % PALETTE.length] }}
              aria-hidden="true"
            />
            <Link to={runPath(l.run.id)}>{l.run.name}</Link> · {l.epochs.length} epochs ·{" "}
            {kwh(totalKwh(l.epochs))}
          </li>
        ))}
      </ul>
      <div className="compare-summary" data-testid="compare-summary">
        {summaries.map((s, i) => (
          <p key={i}>
            {s
              ? s.sentence
              : `${runs[i + 1].run.name} and ${base.run.name} share no metric that both reached, or report no energy.`}
          </p>
        ))}
      </div>
      {!metric || !byEnergy || !byTime ? (
        <Empty>These runs have no epoch metric in common yet.</Empty>
      ) : (
        <>
          <h2>{`${metric.split}.${metric.name}`} against energy</h2>
          <UPlotChart
            options={energyOpts}
            data={byEnergy}
            label="Metric against cumulative energy"
            testId="compare-energy-chart"
          />
          <h2>{`${metric.split}.${metric.name}`} against time</h2>
          <UPlotChart
            options={timeOpts}
            data={byTime}
            label="Metric against elapsed time"
            testId="compare-time-chart"
          />
        </>
      )}
    </section>
  );
}
