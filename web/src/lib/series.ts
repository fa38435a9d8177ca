// Series transforms: the server's min/max buckets, merging a zoomed (finer) fetch into the
// overview, smoothing, and the epoch axis that step-level charts share with epoch-level ones.
import type { Series } from "../api/client";
import { finiteOrNull } from "./numbers";

/** Downsampled buckets with numbers ready to plot (non-finite values become null gaps). */
export interface Buckets {
  x: number[];
  min: (number | null)[];
  max: (number | null)[];
  last: (number | null)[];
  count: number[];
}

export function emptyBuckets(): Buckets {
  return { x: [], min: [], max: [], last: [], count: [] };
}

export function fromSeries(s: Series): Buckets {
  return {
    x: s.x.slice(),
    min: s.min.map(finiteOrNull),
    max: s.max.map(finiteOrNull),
    last: s.last.map(finiteOrNull),
    count: s.count.slice(),
  };
}

/**
 * Replaces the overview's buckets inside [from, to] with a finer fetch of that range, keeping
 * the overview outside it, so zooming in shows full detail without losing the rest of the run.
 * Both inputs are ordered by x; so is the result.
 */
export function mergeBuckets(overview: Buckets, fine: Buckets, from: number, to: number): Buckets {
  const out = emptyBuckets();
  const push = (b: Buckets, i: number) => {
    out.x.push(b.x[i]);
    out.min.push(b.min[i]);
    out.max.push(b.max[i]);
    out.last.push(b.last[i]);
    out.count.push(b.count[i]);
  };
  let i = 0;
  while (i < overview.x.length && overview.x[i] < from) push(overview, i++);
  for (let j = 0; j < fine.x.length; j++) {
    if (fine.x[j] >= from && fine.x[j] <= to) push(fine, j);
  }
  while (i < overview.x.length && overview.x[i] <= to) i++;
  while (i < overview.x.length) push(overview, i++);
  return out;
}

/**
 * Exponential moving average with debiasing (TensorBoard's smoothing): weight in [0, 1), 0 is
 * no smoothing. Gaps (null) stay gaps and do not reset the average.
 */
export function smooth(values: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values.slice();
  const w = Math.min(weight, 0.999);
  let acc = 0;
  let n = 0;
  return values.map((v) => {
    if (v === null) return null;
    acc = acc * w + (1 - w) * v;
    n++;
    return acc / (1 - Math.pow(w, n));
  });
}

/** Where an epoch ended: epoch number and Unix time. */
export interface EpochEnd {
  epoch: number;
  ts: number;
}

/**
 * Maps Unix times onto the shared epoch axis: epoch k spans [k, k + 1), so an epoch-level value
 * (recorded at the epoch's end) sits at k + 1 and the steps of epoch k fall between k and k + 1.
 * The time inside an epoch is spread linearly from the previous epoch's end (or `startTs`) to
 * its end; after the last recorded epoch the last epoch's duration extrapolates. With no epoch
 * recorded there is no axis, and every time maps to null.
 */
export function timeToEpoch(ts: number[], ends: EpochEnd[], startTs: number): (number | null)[] {
  const sorted = ends.slice().sort((a, b) => a.ts - b.ts);
  if (sorted.length === 0) return ts.map(() => null);
  const starts = sorted.map((e, i) => (i === 0 ? Math.min(startTs, e.ts) : sorted[i - 1].ts));
  return ts.map((t) => {
    let k = 0;
    while (k < sorted.length - 1 && t > sorted[k].ts) k++;
    const start = starts[k];
    const end = sorted[k].ts;
    const span = end - start;
    if (t > end) {
      const dur = span > 0 ? span : 1;
      return sorted[k].epoch + 1 + (t - end) / dur;
    }
    const frac = span > 0 ? (t - start) / span : 1;
    return sorted[k].epoch + Math.max(0, Math.min(1, frac));
  });
}

/** The number of points to ask for: about one bucket per pixel, within the server's limit. */
export function pointsFor(widthPx: number): number {
  return Math.max(50, Math.min(10000, Math.round(widthPx)));
}
