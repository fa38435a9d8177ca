// Live updates over Server-Sent Events, read with fetch so that a server without the stream
// (404) is detected cleanly instead of an EventSource retrying forever, and reconnects use
// exponential back-off with jitter.

export interface SseEvent {
  event: string; // "message" when the server named none
  data: string;
  id?: string;
}

/**
 * Parses as many complete events as `buffer` holds (events end with a blank line) and returns
 * them with the unparsed remainder. Comment lines (": heartbeat") are ignored; several data
 * lines join with newlines, as the SSE specification says.
 */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const normalized = buffer.replace(/\r\n?/g, "\n");
  const blocks = normalized.split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    let event = "message";
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (data.length > 0) events.push({ event, data: data.join("\n"), id });
  }
  return { events, rest };
}

/** The wait before reconnect attempt `attempt` (0-based): 0.5 s doubling to 30 s, +-20% jitter. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30000, 500 * Math.pow(2, attempt));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export type LiveState = "connecting" | "open" | "retrying" | "unavailable" | "closed";

/**
 * Keeps one SSE stream open until close(): reconnects with back-off when it drops, and gives up
 * with "unavailable" when the server answers 404 (it has no live endpoint), so the caller can
 * fall back to polling.
 */
export class LiveStream {
  private controller: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly onEvent: (e: SseEvent) => void,
    private readonly onState: (s: LiveState) => void,
  ) {}

  start(): void {
    void this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.controller?.abort();
    this.onState("closed");
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    this.onState(this.attempt === 0 ? "connecting" : "retrying");
    this.controller = new AbortController();
    try {
      const res = await fetch(this.url, {
        headers: { Accept: "text/event-stream" },
        signal: this.controller.signal,
      });
      if (res.status === 404 || res.status === 405) {
        this.onState("unavailable");
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      this.onState("open");
      this.attempt = 0;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const parsed = parseSse(buffer);
        buffer = parsed.rest;
        for (const e of parsed.events) this.onEvent(e);
      }
    } catch {
      // A dropped connection or an aborted fetch; close() decides which below.
    }
    if (this.closed) return;
    this.onState("retrying");
    this.timer = setTimeout(() => void this.connect(), backoffMs(this.attempt++));
  }
}
