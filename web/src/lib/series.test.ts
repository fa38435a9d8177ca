import { describe, expect, it } from "vitest";
import type { Series } from "../api/client";
import { emptyBuckets, fromSeries, mergeBuckets, pointsFor, smooth, timeToEpoch } from "./series";

function buckets(xs: number[], v = 1) {
  const b = emptyBuckets();
  for (const x of xs) {
    b.x.push(x);
    b.min.push(v);
    b.max.push(v);
    b.last.push(v);
    b.count.push(1);
  }
  return b;
}

describe("fromSeries", () => {
  it("turns non-finite telemetry into gaps", () => {
    const s: Series = {
      run_id: "r",
      metric: "loss",
      x_axis: "step",
      points_in_range: 3,
      x: [1, 2, 3],
      min: [0.5, "NaN", 0.1],
      max: [0.7, "Infinity", 0.2],
      last: [0.6, "NaN", 0.15],
      count: [2, 2, 2],
    };
    const b = fromSeries(s);
    expect(b.min).toEqual([0.5, null, 0.1]);
    expect(b.max).toEqual([0.7, null, 0.2]);
    expect(b.last).toEqual([0.6, null, 0.15]);
  });
});

describe("mergeBuckets", () => {
  it("replaces the zoomed range with the finer buckets and keeps the rest", () => {
    const overview = buckets([0, 10, 20, 30, 40], 1);
    const fine = buckets([12, 14, 16, 18, 20], 2);
    const merged = mergeBuckets(overview, fine, 11, 20);
    expect(merged.x).toEqual([0, 10, 12, 14, 16, 18, 20, 30, 40]);
    expect(merged.last).toEqual([1, 1, 2, 2, 2, 2, 2, 1, 1]);
  });

  it("ignores fine buckets outside the range and keeps x ordered", () => {
    const merged = mergeBuckets(buckets([0, 50, 100]), buckets([10, 60, 200], 3), 40, 80);
    expect(merged.x).toEqual([0, 60, 100]);
  });

  it("handles an empty overview", () => {
    expect(mergeBuckets(emptyBuckets(), buckets([1, 2]), 0, 5).x).toEqual([1, 2]);
  });
});

describe("smooth", () => {
  it("is the identity at weight 0", () => {
    expect(smooth([1, 2, 3], 0)).toEqual([1, 2, 3]);
  });

  it("debiases so a constant series stays constant", () => {
    for (const v of smooth([5, 5, 5, 5], 0.9)) expect(v).toBeCloseTo(5, 10);
  });

  it("damps a spike and keeps gaps", () => {
    const out = smooth([1, 1, 10, null, 1], 0.6);
    expect(out[3]).toBeNull();
    expect(out[2]!).toBeLessThan(10);
    expect(out[2]!).toBeGreaterThan(1);
  });
});

describe("timeToEpoch", () => {
  const ends = [
    { epoch: 0, ts: 110 },
    { epoch: 1, ts: 120 },
  ];

  it("spreads each epoch's time over [k, k+1]", () => {
    expect(timeToEpoch([100, 105, 110, 115, 120], ends, 100)).toEqual([0, 0.5, 1, 1.5, 2]);
  });

  it("extrapolates past the last epoch with its duration", () => {
    expect(timeToEpoch([125], ends, 100)).toEqual([2.5]);
  });

  it("gives no axis without epochs", () => {
    expect(timeToEpoch([1, 2], [], 0)).toEqual([null, null]);
  });

  it("accepts epochs out of order", () => {
    expect(timeToEpoch([115], [ends[1], ends[0]], 100)).toEqual([1.5]);
  });
});

describe("pointsFor", () => {
  it("asks for about one bucket per pixel within the server's limits", () => {
    expect(pointsFor(800)).toBe(800);
    expect(pointsFor(10)).toBe(50);
    expect(pointsFor(50000)).toBe(10000);
  });
});
