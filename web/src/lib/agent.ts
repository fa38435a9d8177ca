// The agent chat (docs/agent.md, "Chat"): the answer arrives as Server-Sent Events, and each
// event is folded into one turn of the conversation by a pure function, so the accumulation
// (tokens, tool calls, a provider that failed half-way, the final answer) is testable without a
// browser. streamChat() does the I/O: POST, read the stream, hand each event over.
import { ApiFailure, type ApiError, type Schemas } from "../api/client";
import { parseSse, type SseEvent } from "./live";

export type ChatRequest = Schemas["AgentChatRequest"];
export type ChatMessage = Schemas["AgentChatMessage"];
type StartEvent = Schemas["AgentStartEvent"];
type TokenEvent = Schemas["AgentTokenEvent"];
type ToolCallEvent = Schemas["AgentToolCallEvent"];
type ToolResultEvent = Schemas["AgentToolResultEvent"];
type ProviderErrorEvent = Schemas["AgentProviderErrorEvent"];
type DoneEvent = Schemas["AgentDoneEvent"];
type ErrorEvent = Schemas["AgentErrorEvent"];

/** The provider name the server gives the deterministic offline analyst. */
export const OFFLINE_PROVIDER = "offline";

export interface ToolActivity {
  name: string;
  ok?: boolean; // unknown until its tool_result arrives
  truncated?: boolean;
}

export type TurnStatus = "streaming" | "done" | "error" | "aborted";

/** One question and its answer as far as it has streamed. */
export interface ChatTurn {
  question: string;
  status: TurnStatus;
  provider: string | null; // who answers now (or answered)
  offline: boolean; // the offline analyst answered: no language model
  text: string; // the answer so far; the whole answer once done
  tools: ToolActivity[];
  providerErrors: { provider: string; message: string }[];
  error: string | null;
}

export function newTurn(question: string): ChatTurn {
  return {
    question,
    status: "streaming",
    provider: null,
    offline: false,
    text: "",
    tools: [],
    providerErrors: [],
    error: null,
  };
}

function parseData(e: SseEvent): object | null {
  try {
    const value: unknown = JSON.parse(e.data);
    return value !== null && typeof value === "object" ? value : null;
  } catch {
    return null;
  }
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/**
 * The turn after one event. Events after the turn ended are ignored (the stream is over); an
 * event whose data is not a JSON object ends the turn with an error, since what follows could no
 * longer be trusted; unknown event types are skipped, so a newer server can add some.
 */
export function applyChatEvent(turn: ChatTurn, e: SseEvent): ChatTurn {
  if (turn.status !== "streaming") return turn;
  const known = ["start", "token", "tool_call", "tool_result", "provider_error", "done", "error"];
  if (!known.includes(e.event)) return turn;
  const data = parseData(e);
  if (data === null) return { ...turn, status: "error", error: `malformed ${e.event} event` };
  switch (e.event) {
    case "start": {
      const provider = str((data as StartEvent).provider);
      return { ...turn, provider, offline: provider === OFFLINE_PROVIDER };
    }
    case "token":
      return { ...turn, text: turn.text + str((data as TokenEvent).text) };
    case "tool_call":
      return { ...turn, tools: [...turn.tools, { name: str((data as ToolCallEvent).name) }] };
    case "tool_result":
      return { ...turn, tools: settleTool(turn.tools, data as ToolResultEvent) };
    case "provider_error": {
      // What the failed provider streamed since its start is void: the next provider (or the
      // offline analyst) answers the whole question again.
      const p = data as ProviderErrorEvent;
      return {
        ...turn,
        text: "",
        providerErrors: [
          ...turn.providerErrors,
          { provider: str(p.provider), message: str(p.message) },
        ],
      };
    }
    case "done": {
      const d = data as DoneEvent;
      return {
        ...turn,
        status: "done",
        provider: str(d.provider),
        offline: d.offline === true,
        text: typeof d.answer === "string" ? d.answer : turn.text,
      };
    }
    default: {
      const message = str((data as ErrorEvent).message) || "the agent failed";
      return { ...turn, status: "error", error: message };
    }
  }
}

/** Marks the newest call of that tool still waiting for its result. */
function settleTool(tools: ToolActivity[], r: ToolResultEvent): ToolActivity[] {
  const out = tools.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i].name === r.name && out[i].ok === undefined) {
      out[i] = { ...out[i], ok: r.ok, truncated: r.truncated };
      return out;
    }
  }
  return [...out, { name: r.name, ok: r.ok, truncated: r.truncated }];
}

/** The turn once its stream ended without a done or error event: the answer was cut off. */
export function endOfStream(turn: ChatTurn): ChatTurn {
  if (turn.status !== "streaming") return turn;
  return { ...turn, status: "error", error: "the answer stream ended before the answer did" };
}

/** The turn after the user pressed Stop: what streamed so far stays, marked as cut short. */
export function abortTurn(turn: ChatTurn): ChatTurn {
  return turn.status === "streaming" ? { ...turn, status: "aborted" } : turn;
}

/**
 * The offline analyst starts its answers with a bracketed label ("[Offline analyst: ...]"). The
 * panel shows that label as a badge, so the text is shown without it; the label's own words are
 * returned for the badge's tooltip.
 */
export function splitOfflineLabel(text: string): { label: string | null; body: string } {
  const m = /^\[(Offline analyst[^\]]*)\]\s*/.exec(text);
  if (!m) return { label: null, body: text };
  return { label: m[1], body: text.slice(m[0].length) };
}

/** The conversation so far as the history the server accepts: answered turns, at most 40. */
export function chatHistory(turns: ChatTurn[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const t of turns) {
    if (t.status !== "done") continue;
    messages.push({ role: "user", content: t.question });
    messages.push({ role: "assistant", content: t.text });
  }
  return messages.slice(-40);
}

/**
 * Posts a question and calls `onEvent` for each event as it arrives, until the stream ends or
 * `signal` aborts (then the fetch rejects with an AbortError). A refusal before the stream starts
 * (404 unknown run, 422 a bad field) throws an ApiFailure with the server's reason.
 */
export async function streamChat(
  body: ChatRequest,
  onEvent: (e: SseEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch("/api/v1/agent/chat", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok || !res.body) {
    let error: ApiError | undefined;
    try {
      error = (await res.json()) as ApiError;
    } catch {
      error = undefined;
    }
    throw new ApiFailure(res.status, error);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const parsed = parseSse(buffer);
    buffer = parsed.rest;
    for (const e of parsed.events) onEvent(e);
  }
  // A last event not followed by a blank line still counts (the stream's end dispatches it).
  for (const e of parseSse(buffer + "\n\n").events) onEvent(e);
}
