// The first fold: train/val loss and accuracy and energy/CO2 per epoch on one epoch axis, with
// the optimal-stop marker and the wasted region shaded and labelled.
import { useCallback, useMemo } from "react";
import { useStableValue } from "../lib/useStableValue";
import uPlot from "uplot";
import type { Diagnostics, Epoch } from "../api/client";
import { epochFold, epochLabel, wastedEpochs, wastedRegion } from "../lib/epochs";
import { CO2_UNITS, ENERGY_UNITS, co2, eur, kwh, km, percent, unitTicks } from "../lib/format";
import { foldMarkerX, type ActionMarker } from "../lib/markers";
import type { EpochEnd } from "../lib/series";
import { ActionLegend } from "./ActionLegend";
import { Empty } from "./States";
import {
  UPlotChart,
  axisStyle,
  cssVar,
  marksLabel,
  marksPlugin,
  useChartTheme,
  type ChartMark,
} from "./UPlotChart";

const PALETTE = ["#3b82f6", "#f97316", "#10b981", "#a855f7", "#ef4444", "#14b8a6", "#eab308"];

// Whole epochs only on the axis, with half an epoch of margin so the first and last points show.
const EPOCH_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
const EPOCH_SCALE: uPlot.Scale = {
  time: false,
  range: (_u, min, max) => [min - 0.5, max + 0.5],
};
// Epochs are numbered from 0, as in the findings (lib/epochs.ts).
const EPOCH_AXIS_LABEL = "epoch (from 0)";
const epochSeries: uPlot.Series = { label: "epoch", value: (_u, v) => epochLabel(v) };
// Energy and CO2 bars and lines start at zero, so their heights compare honestly.
const FROM_ZERO: uPlot.Scale = { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] };
// Both charts reserve the same room for their y axes, so epoch k is at the same x in each.
const LEFT_AXIS = 74;
const RIGHT_AXIS = 84;

function shadeWaste(region: { from: number; to: number } | null): uPlot.Plugin {
  return {
    hooks: {
      drawAxes: (u) => {
        if (!region) return;
        const ctx = u.ctx;
        const x0 = u.valToPos(region.from, "x", true);
        const x1 = u.valToPos(region.to, "x", true);
        ctx.save();
        ctx.fillStyle = cssVar("--waste");
        ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
        ctx.strokeStyle = cssVar("--stop");
        ctx.lineWidth = 2 * devicePixelRatio;
        ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
        ctx.beginPath();
        ctx.moveTo(x0, u.bbox.top);
        ctx.lineTo(x0, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.restore();
      },
    },
  };
}

interface Props {
  epochs: Epoch[];
  diag: Diagnostics | undefined;
  markers: ActionMarker[];
  epochEnds: EpochEnd[];
  startTs: number;
}

export function EpochFold({ epochs, diag, markers, epochEnds, startTs }: Props) {
  const theme = useChartTheme();
  const fold = useMemo(() => epochFold(epochs, diag), [epochs, diag]);
  // Stable while equal: the charts are rebuilt when the region, the marks or the set of series
  // change, not on every live update.
  const region = useStableValue(wastedRegion(diag, fold.x));
  const syncKey = "epoch-fold";
  const marks = useMemo<ChartMark[]>(
    () =>
      markers.flatMap((m) => {
        const x = foldMarkerX(m, epochEnds, startTs);
        return x === null ? [] : [{ n: m.n, x, title: m.message }];
      }),
    [markers, epochEnds, startTs],
  );
  const stableMarks = useStableValue(marks);
  const spec = useStableValue({
    series: fold.series.map(({ key, split, name }) => ({ key, split, name })),
    points: fold.x.length < 60,
  });

  const metricsOpts = useCallback(
    (width: number): uPlot.Options => ({
      width,
      height: 240,
      cursor: { sync: { key: syncKey } },
      scales: { x: EPOCH_SCALE, metric: { range: [0, 1] } },
      axes: [
        { ...axisStyle(theme), label: EPOCH_AXIS_LABEL, incrs: EPOCH_INCRS },
        { ...axisStyle(theme), scale: "loss", label: "loss", size: LEFT_AXIS },
        {
          ...axisStyle(theme),
          scale: "metric",
          side: 1,
          label: "accuracy / metric",
          size: RIGHT_AXIS,
          grid: { show: false },
        },
      ],
      series: [
        epochSeries,
        ...spec.series.map((s, i) => ({
          label: s.key,
          scale: s.name.includes("loss") ? "loss" : "metric",
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          dash: s.split === "val" ? [6, 3] : undefined,
          points: { show: spec.points },
        })),
      ],
      plugins: [shadeWaste(region), marksPlugin(stableMarks)],
    }),
    [spec, region, stableMarks, theme],
  );

  const hasCo2 = fold.kgCo2.some((v) => v !== null);
  const energyOpts = useCallback(
    (width: number): uPlot.Options => ({
      width,
      height: 160,
      cursor: { sync: { key: syncKey } },
      scales: { x: EPOCH_SCALE, kwh: FROM_ZERO, co2: FROM_ZERO },
      axes: [
        { ...axisStyle(theme), label: EPOCH_AXIS_LABEL, incrs: EPOCH_INCRS },
        {
          ...axisStyle(theme),
          scale: "kwh",
          label: "energy",
          size: LEFT_AXIS,
          values: (_u, ticks) => unitTicks(ticks, ENERGY_UNITS),
        },
        hasCo2
          ? {
              ...axisStyle(theme),
              scale: "co2",
              side: 1,
              label: "CO₂",
              size: RIGHT_AXIS,
              values: (_u: uPlot, ticks: number[]) =>
                unitTicks(ticks, CO2_UNITS).map((t) => (t ? `${t} CO₂` : t)),
              grid: { show: false },
            }
          : // No CO2 yet: an invisible axis holds the right-hand room the metrics chart has.
            {
              scale: "kwh",
              side: 1,
              label: " ",
              size: RIGHT_AXIS,
              stroke: "transparent",
              grid: { show: false },
              ticks: { show: false },
            },
      ],
      series: [
        epochSeries,
        {
          label: "energy (device)",
          value: (_u, v) => kwh(v),
          scale: "kwh",
          stroke: "#16a34a",
          fill: "rgba(22,163,74,0.35)",
          paths: uPlot.paths.bars!({ size: [0.6, 60] }),
          points: { show: false },
        },
        ...(hasCo2
          ? [
              {
                label: "CO₂",
                value: (_u: uPlot, v: number | null) => co2(v),
                scale: "co2",
                stroke: "#64748b",
                width: 2,
                points: { show: true },
              },
            ]
          : []),
      ],
      plugins: [shadeWaste(region), marksPlugin(stableMarks)],
    }),
    [hasCo2, region, stableMarks, theme],
  );

  const metricsData = useMemo(
    () => [fold.x, ...fold.series.map((s) => s.values)] as uPlot.AlignedData,
    [fold],
  );
  const energyData = useMemo(
    () => [fold.x, fold.kwh, ...(hasCo2 ? [fold.kgCo2] : [])] as uPlot.AlignedData,
    [fold, hasCo2],
  );

  if (epochs.length === 0) {
    return (
      <Empty>
        No epoch has ended yet: per-epoch loss, accuracy and energy appear here as epochs end.
      </Empty>
    );
  }
  const waste = diag?.waste;
  return (
    <div className="epoch-fold">
      {region && waste && (
        <p className="waste-label" data-testid="waste-label">
          <span className="swatch waste" aria-hidden="true" /> Past the optimal stop (epoch{" "}
          {diag?.optimal_stop_epoch}
          ): {waste.epochs ?? "—"} epochs wasted ({wastedEpochs(region)}) —{" "}
          <strong>{kwh(waste.kwh)}</strong>, {co2(waste.kg_co2)}, {eur(waste.eur)},{" "}
          {km(waste.car_km)} ({percent(waste.fraction, 0)} of the compute)
        </p>
      )}
      <UPlotChart
        options={metricsOpts}
        data={metricsData}
        label={`Loss and accuracy per epoch${marksLabel(stableMarks)}`}
        testId="epoch-metrics-chart"
      />
      <UPlotChart
        options={energyOpts}
        data={energyData}
        label={`Energy and CO2 per epoch${marksLabel(stableMarks)}`}
        testId="epoch-energy-chart"
      />
      <ActionLegend markers={markers} />
      {!hasCo2 && (
        <p className="sub">
          CO₂ per epoch appears once the server reports the run's carbon intensity (diagnostics).
        </p>
      )}
    </div>
  );
}
