// A uPlot chart that follows its container's width and the colour theme. uPlot draws on a canvas
// and stays smooth with tens of thousands of points; the server's downsampling keeps us far below.
import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";

export function useThemeName(): string {
  const [theme, setTheme] = useState(() => document.documentElement.dataset.theme ?? "light");
  useEffect(() => {
    const obs = new MutationObserver(() =>
      setTheme(document.documentElement.dataset.theme ?? "light"),
    );
    obs.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => obs.disconnect();
  }, []);
  return theme;
}

/** The current value of a CSS custom property, for canvas drawing. */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/** The colours charts take from the theme, read again when the theme changes. */
export interface ChartTheme {
  name: string;
  muted: string;
  grid: string;
}

/** The current chart colours; a new object (so charts rebuild) only when the theme changes. */
export function useChartTheme(): ChartTheme {
  const name = useThemeName();
  return useMemo(() => ({ name, muted: cssVar("--muted"), grid: cssVar("--grid") }), [name]);
}

export function axisStyle(theme: ChartTheme): Partial<uPlot.Axis> {
  return {
    stroke: theme.muted,
    grid: { stroke: theme.grid, width: 1 },
    ticks: { stroke: theme.grid, width: 1 },
  };
}

/** A numbered vertical marker at x (a control action, docs/control.md). */
export interface ChartMark {
  n: number;
  x: number;
  title: string;
}

/**
 * Draws each mark as a dashed vertical line with its number at the top, over the series. Marks
 * outside the visible x range are skipped; the legend beside the chart lists them all.
 */
export function marksPlugin(marks: ChartMark[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u) => {
        const { min, max } = u.scales.x;
        if (marks.length === 0 || min === undefined || max === undefined) return;
        const ctx = u.ctx;
        const dpr = devicePixelRatio;
        ctx.save();
        ctx.strokeStyle = cssVar("--accent");
        ctx.fillStyle = cssVar("--accent");
        ctx.lineWidth = 1.5 * dpr;
        ctx.setLineDash([3 * dpr, 3 * dpr]);
        ctx.font = `${11 * dpr}px system-ui, sans-serif`;
        ctx.textAlign = "center";
        ctx.textBaseline = "top";
        for (const m of marks) {
          if (m.x < min || m.x > max) continue;
          const px = u.valToPos(m.x, "x", true);
          ctx.beginPath();
          ctx.moveTo(px, u.bbox.top + 14 * dpr);
          ctx.lineTo(px, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.fillText(String(m.n), px, u.bbox.top + 1 * dpr);
        }
        ctx.restore();
      },
    },
  };
}

/** A text naming the marks, for the chart's accessible label. */
export function marksLabel(marks: ChartMark[]): string {
  if (marks.length === 0) return "";
  return `; actions marked: ${marks.map((m) => `${m.n} ${m.title}`).join("; ")}`;
}

interface Props {
  /** Builds the options for a width; a new function (other deps) recreates the chart. */
  options: (width: number) => uPlot.Options;
  data: uPlot.AlignedData;
  /** When data changes, keep the user's zoom instead of resetting to the full range. */
  keepScales?: boolean;
  label: string;
  testId?: string;
}

export function UPlotChart({ options, data, keepScales, label, testId }: Props) {
  const ref = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const dataRef = useRef(data);
  dataRef.current = data;

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const width = Math.max(300, el.clientWidth);
    const u = new uPlot(options(width), dataRef.current, el);
    plot.current = u;
    const obs = new ResizeObserver(() => {
      const w = Math.max(300, el.clientWidth);
      if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height: u.height });
    });
    obs.observe(el);
    return () => {
      obs.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [options]);

  useEffect(() => {
    plot.current?.setData(data, !keepScales);
  }, [data, keepScales]);

  return (
    <div ref={ref} className="uplot-host" role="img" aria-label={label} data-testid={testId} />
  );
}
