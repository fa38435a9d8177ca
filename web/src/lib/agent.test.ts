import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiFailure } from "../api/client";
import {
  abortTurn,
  applyChatEvent,
  chatHistory,
  endOfStream,
  newTurn,
  splitOfflineLabel,
  streamChat,
  type ChatTurn,
} from "./agent";
import { parseSse, type SseEvent } from "./live";

const ev = (event: string, data: unknown): SseEvent => ({ event, data: JSON.stringify(data) });
const fold = (events: SseEvent[], turn: ChatTurn = newTurn("q")) =>
  events.reduce(applyChatEvent, turn);

describe("applyChatEvent", () => {
  it("accumulates tokens and takes the done event's answer as the whole answer", () => {
    const streamed = fold([ev("start", { provider: "openai" }), ev("token", { text: "Your " })]);
    expect(streamed.status).toBe("streaming");
    expect(streamed.text).toBe("Your ");
    const more = applyChatEvent(streamed, ev("token", { text: "grade is D." }));
    expect(more.text).toBe("Your grade is D.");
    const done = applyChatEvent(
      more,
      ev("done", { provider: "openai", offline: false, answer: "Your grade is D." }),
    );
    expect(done).toMatchObject({ status: "done", provider: "openai", offline: false });
    expect(done.text).toBe("Your grade is D.");
  });

  it("marks the offline analyst as the server names it", () => {
    const t = fold([
      ev("start", { provider: "offline" }),
      ev("token", { text: "[Offline analyst: x] Grade C" }),
    ]);
    expect(t.offline).toBe(true);
    const done = applyChatEvent(t, ev("done", { provider: "offline", offline: true, answer: "A" }));
    expect(done).toMatchObject({ offline: true, text: "A", status: "done" });
  });

  it("voids a failed provider's text and records why it failed", () => {
    const t = fold([
      ev("start", { provider: "openai" }),
      ev("token", { text: "half an ans" }),
      ev("provider_error", { provider: "openai", message: "HTTP 500" }),
      ev("start", { provider: "offline" }),
      ev("token", { text: "whole answer" }),
    ]);
    expect(t.text).toBe("whole answer");
    expect(t.providerErrors).toEqual([{ provider: "openai", message: "HTTP 500" }]);
    expect(t.offline).toBe(true);
  });

  it("pairs each tool result with its call", () => {
    const t = fold([
      ev("tool_call", { name: "get_findings", arguments: { run_id: "r" } }),
      ev("tool_call", { name: "get_waste_report", arguments: { run_id: "r" } }),
      ev("tool_result", { name: "get_findings", ok: true, bytes: 10, truncated: false }),
      ev("tool_result", { name: "get_waste_report", ok: false, bytes: 5, truncated: true }),
    ]);
    expect(t.tools).toEqual([
      { name: "get_findings", ok: true, truncated: false },
      { name: "get_waste_report", ok: false, truncated: true },
    ]);
  });

  it("ends with the server's error, and ignores what follows the end", () => {
    const t = fold([ev("token", { text: "a" }), ev("error", { message: "too many" })]);
    expect(t).toMatchObject({ status: "error", error: "too many", text: "a" });
    expect(applyChatEvent(t, ev("token", { text: "b" }))).toBe(t);
  });

  it("treats malformed data as an error and skips unknown event types", () => {
    const t = fold([ev("heartbeat-v2", { x: 1 }), ev("token", { text: "a" })]);
    expect(t.text).toBe("a");
    const bad = applyChatEvent(t, { event: "token", data: "{not json" });
    expect(bad).toMatchObject({ status: "error", error: "malformed token event" });
    expect(applyChatEvent(newTurn("q"), { event: "token", data: "42" }).status).toBe("error");
  });

  it("a stream that ends early is an error; Stop keeps what streamed", () => {
    const t = fold([ev("token", { text: "partial" })]);
    expect(endOfStream(t)).toMatchObject({ status: "error", text: "partial" });
    expect(abortTurn(t)).toMatchObject({ status: "aborted", text: "partial" });
    const done = applyChatEvent(t, ev("done", { provider: "p", offline: false, answer: "x" }));
    expect(endOfStream(done)).toBe(done);
    expect(abortTurn(done)).toBe(done);
  });

  it("accumulates the same answer whatever the chunk boundaries of the stream", () => {
    const wire =
      'event: start\ndata: {"provider":"offline"}\n\n' +
      'event: token\ndata: {"text":"Grade \\u00e9 C"}\n\n' +
      ": keep-alive\n\n" +
      'event: done\r\ndata: {"provider":"offline","offline":true,"answer":"Grade é C"}\r\n\r\n';
    for (let cut = 0; cut <= wire.length; cut += 7) {
      let buffer = "";
      let turn = newTurn("q");
      for (const chunk of [wire.slice(0, cut), wire.slice(cut)]) {
        buffer += chunk;
        const parsed = parseSse(buffer);
        buffer = parsed.rest;
        turn = parsed.events.reduce(applyChatEvent, turn);
      }
      expect(turn).toMatchObject({ status: "done", offline: true, text: "Grade é C" });
    }
  });
});

describe("splitOfflineLabel", () => {
  it("separates the offline analyst's label from the answer", () => {
    const text =
      "[Offline analyst: a deterministic answer, no language model]\n\nGrade C (61/100).";
    expect(splitOfflineLabel(text)).toEqual({
      label: "Offline analyst: a deterministic answer, no language model",
      body: "Grade C (61/100).",
    });
    expect(splitOfflineLabel("Grade C.")).toEqual({ label: null, body: "Grade C." });
  });
});

describe("chatHistory", () => {
  it("sends answered turns only, as user/assistant pairs, at most 40 messages", () => {
    const done = (q: string): ChatTurn => ({ ...newTurn(q), status: "done", text: `a:${q}` });
    const turns = [done("1"), { ...newTurn("2"), status: "error" as const }, done("3")];
    expect(chatHistory(turns)).toEqual([
      { role: "user", content: "1" },
      { role: "assistant", content: "a:1" },
      { role: "user", content: "3" },
      { role: "assistant", content: "a:3" },
    ]);
    const many = Array.from({ length: 30 }, (_, i) => done(String(i)));
    const h = chatHistory(many);
    expect(h).toHaveLength(40);
    expect(h[0]).toEqual({ role: "user", content: "10" });
  });
});

describe("streamChat", () => {
  afterEach(() => vi.unstubAllGlobals());

  function respond(chunks: string[], init: ResponseInit = {}) {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const s of chunks) c.enqueue(new TextEncoder().encode(s));
        c.close();
      },
    });
    const fetchMock = vi.fn(() => Promise.resolve(new Response(body, init)));
    vi.stubGlobal("fetch", fetchMock);
    return fetchMock;
  }

  it("posts the question and hands over each event, the unterminated last one included", async () => {
    const fetchMock = respond([
      'event: start\ndata: {"provider":"offl',
      'ine"}\n\nevent: token\ndata: {"text":"hi"}\n\n',
      'event: done\ndata: {"provider":"offline","offline":true,"answer":"hi"}',
    ]);
    const seen: string[] = [];
    await streamChat(
      { run_id: "r", question: "why?" },
      (e) => seen.push(e.event),
      new AbortController().signal,
    );
    expect(seen).toEqual(["start", "token", "done"]);
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/v1/agent/chat");
    expect(JSON.parse(init.body as string)).toEqual({ run_id: "r", question: "why?" });
  });

  it("throws the server's refusal with its reason", async () => {
    respond(
      [JSON.stringify({ error: "invalid_field", field: "question", reason: "is required" })],
      {
        status: 422,
        headers: { "Content-Type": "application/json" },
      },
    );
    const p = streamChat({ question: "" }, () => {}, new AbortController().signal);
    await expect(p).rejects.toBeInstanceOf(ApiFailure);
    await expect(p).rejects.toThrow("422 invalid_field: is required");
  });
});
