import { describe, expect, it } from "vitest";
import { backoffMs, parseSse } from "./live";

describe("parseSse", () => {
  it("parses complete events and keeps the incomplete tail", () => {
    const { events, rest } = parseSse(
      'event: epoch\ndata: {"epoch":1}\n\n: heartbeat\n\ndata: a\ndata: b\nid: 7\n\nevent: steps\ndata: {"x"',
    );
    expect(events).toEqual([
      { event: "epoch", data: '{"epoch":1}', id: undefined },
      { event: "message", data: "a\nb", id: "7" },
    ]);
    expect(rest).toBe('event: steps\ndata: {"x"');
  });

  it("accepts CRLF line endings", () => {
    expect(parseSse("event: status\r\ndata: x\r\n\r\n").events).toEqual([
      { event: "status", data: "x", id: undefined },
    ]);
  });
});

describe("backoffMs", () => {
  it("doubles from half a second up to thirty seconds", () => {
    const mid = () => 0.5;
    expect(backoffMs(0, mid)).toBe(500);
    expect(backoffMs(1, mid)).toBe(1000);
    expect(backoffMs(3, mid)).toBe(4000);
    expect(backoffMs(20, mid)).toBe(30000);
  });

  it("jitters by at most 20%", () => {
    expect(backoffMs(2, () => 0)).toBe(1600);
    expect(backoffMs(2, () => 1)).toBe(2400);
  });
});
