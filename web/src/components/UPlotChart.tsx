// A uPlot chart that follows its container's width and the colour theme. uPlot draws on a canvas
// and stays smooth with tens of thousands of points; the server's downsampling keeps us far below.
import { useEffect, useRef, useState } from "react";
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

export function axisStyle(): Partial<uPlot.Axis> {
  const fg = cssVar("--muted");
  const grid = cssVar("--grid");
  return { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
}

interface Props {
  /** Builds the options for a width; a new function (other deps) recreates the chart. */
  options: (width: number) => uPlot.Options;
  data: uPlot.AlignedData;
  /** When data changes, keep the user's zoom instead of resetting to the full range. */
  keepScales?: boolean;
  onCreate?: (u: uPlot) => void;
  label: string;
  testId?: string;
}

export function UPlotChart({ options, data, keepScales, onCreate, label, testId }: Props) {
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
    onCreate?.(u);
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
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [options]);

  useEffect(() => {
    plot.current?.setData(data, !keepScales);
  }, [data, keepScales]);

  return (
    <div ref={ref} className="uplot-host" role="img" aria-label={label} data-testid={testId} />
  );
}
