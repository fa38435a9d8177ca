// The agent panel of the run page (docs/agent.md): a chat whose answers stream in, the run's
// belief state (what the agent currently thinks is wrong, how sure it is, why, what to do) and
// the feed of proactive insights. Loaded lazily: it sits below the first fold.
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import {
  fetchAgentInfo,
  fetchBeliefs,
  fetchProposals,
  postAction,
  resolveProposal,
} from "../lib/data";
import {
  describeProposal,
  pendingProposals,
  proposalAction,
  type Proposal,
} from "../lib/proposals";
import {
  abortTurn,
  applyChatEvent,
  chatHistory,
  endOfStream,
  newTurn,
  splitOfflineLabel,
  streamChat,
  type ChatTurn,
} from "../lib/agent";
import {
  confidencePercent,
  evidenceLines,
  insightFeed,
  orderHypotheses,
  type BeliefState,
  type Hypothesis,
  type Insight,
} from "../lib/beliefs";
import { useAsync } from "../lib/useAsync";
import { Empty, ErrorBox, Loading } from "./States";

const SUGGESTIONS = [
  "Why is my grade what it is?",
  "What should I change first?",
  "How much was wasted and what did it cost?",
];

interface Props {
  runId: string;
  liveTick: number; // bumps on every live update of the run: the beliefs may have changed
  insights: Insight[]; // insight events pushed on the run's live stream since the page opened
}

export default function AgentPanel({ runId, liveTick, insights }: Props) {
  const beliefs = useAsync(() => fetchBeliefs(runId), [runId]);
  const proposals = useAsync(() => fetchProposals(runId), [runId]);
  const reloadBeliefs = beliefs.reload;
  const reloadProposals = proposals.reload;
  useEffect(() => {
    if (liveTick > 0) {
      reloadBeliefs();
      reloadProposals();
    }
  }, [liveTick, reloadBeliefs, reloadProposals]);
  return (
    <div className="agent-grid">
      <Chat runId={runId} />
      <div className="agent-side">
        <h3 id="beliefs-title">What the agent believes</h3>
        {beliefs.error && !beliefs.data ? (
          <ErrorBox error={beliefs.error} retry={beliefs.reload} />
        ) : beliefs.loading && beliefs.data === undefined ? (
          <Loading what="beliefs" />
        ) : (
          <Beliefs state={beliefs.data ?? undefined} />
        )}
        <Proposals runId={runId} list={proposals.data ?? []} reload={reloadProposals} />
        <h3 id="insights-title">Insights</h3>
        <InsightsFeed runId={runId} state={beliefs.data ?? undefined} live={insights} />
      </div>
    </div>
  );
}

// ----- chat -----

interface Entry {
  id: number;
  turn: ChatTurn;
}

function Chat({ runId }: { runId: string }) {
  const info = useAsync(() => fetchAgentInfo(), []);
  const [entries, setEntries] = useState<Entry[]>([]);
  const [question, setQuestion] = useState("");
  const controller = useRef<AbortController | null>(null);
  const nextId = useRef(1);
  const busy = entries.some((e) => e.turn.status === "streaming");

  // A conversation still streaming when the page goes away is abandoned, not left running.
  useEffect(() => () => controller.current?.abort(), []);

  const ask = useCallback(
    async (q: string) => {
      const text = q.trim();
      if (!text || controller.current) return;
      const id = nextId.current++;
      const update = (f: (t: ChatTurn) => ChatTurn) =>
        setEntries((list) => list.map((e) => (e.id === id ? { ...e, turn: f(e.turn) } : e)));
      const c = new AbortController();
      controller.current = c;
      const history = chatHistory(entries.map((e) => e.turn));
      setEntries((list) => [...list, { id, turn: newTurn(text) }]);
      setQuestion("");
      try {
        await streamChat(
          { run_id: runId, question: text, history },
          (e) => update((t) => applyChatEvent(t, e)),
          c.signal,
        );
        update(endOfStream);
      } catch (err) {
        if (c.signal.aborted) update(abortTurn);
        else {
          const message = err instanceof Error ? err.message : String(err);
          update((t) => (t.status === "streaming" ? { ...t, status: "error", error: message } : t));
        }
      } finally {
        controller.current = null;
      }
    },
    [entries, runId],
  );

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void ask(question);
  };

  const offlineOnly = info.data?.offline === true;
  const providers = info.data?.providers ?? [];
  return (
    <div className="agent-chat">
      <p className="sub" data-testid="agent-provider">
        {info.data === undefined
          ? info.error
            ? "The agent's configuration could not be read."
            : info.loading
              ? "Asking the server who answers…"
              : "This server has no agent (GET /api/v1/agent): questions cannot be answered."
          : offlineOnly
            ? "No language model is configured: the offline analyst answers from the diagnostics, deterministically."
            : `Answers from ${providers.map((p) => `${p.kind} ${p.model}`).join(", then ")}, with the offline analyst as the last resort.`}
      </p>
      <ol className="agent-log" aria-live="polite" aria-busy={busy} aria-label="Conversation">
        {entries.length === 0 && (
          <li className="sub">
            Ask about this run: its grade, what to change first, what it wasted. Answers quote the
            run's own numbers.
          </li>
        )}
        {entries.map((e) => (
          <TurnView key={e.id} turn={e.turn} onRetry={() => void ask(e.turn.question)} />
        ))}
      </ol>
      <div className="agent-suggestions" role="group" aria-label="Suggested questions">
        {SUGGESTIONS.map((s) => (
          <button key={s} type="button" disabled={busy} onClick={() => void ask(s)}>
            {s}
          </button>
        ))}
      </div>
      <form className="agent-form" onSubmit={onSubmit}>
        <label htmlFor="agent-question" className="sr-only">
          Question for the agent
        </label>
        <textarea
          id="agent-question"
          data-testid="agent-question"
          rows={2}
          maxLength={8000}
          placeholder="Ask about this run… (Enter to send, Shift+Enter for a new line)"
          value={question}
          onChange={(e) => setQuestion(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              void ask(question);
            }
          }}
        />
        {busy ? (
          <button
            type="button"
            className="danger"
            data-testid="agent-stop"
            onClick={() => controller.current?.abort()}
          >
            Stop
          </button>
        ) : (
          <button type="submit" data-testid="agent-ask" disabled={!question.trim()}>
            Ask
          </button>
        )}
      </form>
    </div>
  );
}

function TurnView({ turn, onRetry }: { turn: ChatTurn; onRetry: () => void }) {
  const { label, body } = splitOfflineLabel(turn.text);
  return (
    <li className="agent-turn" data-testid="agent-turn" data-status={turn.status}>
      <p className="agent-q">
        <span className="sr-only">You asked: </span>
        {turn.question}
      </p>
      <div className="agent-a">
        <div className="agent-meta">
          {turn.offline ? (
            <span
              className="tag offline"
              data-testid="agent-offline"
              title={label ?? "a deterministic answer from Atlas's diagnostics, no language model"}
            >
              offline analyst
            </span>
          ) : (
            turn.provider && <span className="tag">{turn.provider}</span>
          )}
          {turn.tools.length > 0 && (
            <span className="sub">
              tools:{" "}
              {turn.tools.map((t, i) => (
                <code key={i} className={t.ok === false ? "tool-failed" : undefined}>
                  {t.name}
                  {t.ok === undefined ? "…" : t.ok ? "" : " (failed)"}
                  {t.truncated ? " (cut)" : ""}
                  {i < turn.tools.length - 1 ? ", " : ""}
                </code>
              ))}
            </span>
          )}
        </div>
        {turn.providerErrors.map((p, i) => (
          <p key={i} className="sub">
            {p.provider} failed ({p.message}); the next provider answers.
          </p>
        ))}
        {body && (
          <div className="agent-text" data-testid="agent-answer">
            {body}
            {turn.status === "streaming" && <span className="cursor" aria-hidden="true" />}
          </div>
        )}
        {turn.status === "streaming" && !body && (
          <p className="state loading" role="status">
            <span className="spinner" aria-hidden="true" /> Thinking…
          </p>
        )}
        {turn.status === "aborted" && <p className="sub">Stopped: the answer is incomplete.</p>}
        {turn.status === "error" && (
          <div className="state error" role="alert" data-testid="agent-error">
            <strong>The agent could not answer:</strong> {turn.error}
            <button type="button" onClick={onRetry}>
              Ask again
            </button>
          </div>
        )}
      </div>
    </li>
  );
}

// ----- beliefs and insights -----

function Beliefs({ state }: { state: BeliefState | undefined }) {
  const ordered = useMemo(() => (state ? orderHypotheses(state) : []), [state]);
  if (!state) {
    return <Empty>This server has no agent (GET /api/v1/runs/{"{id}"}/beliefs).</Empty>;
  }
  if (ordered.length === 0) {
    return (
      <div data-testid="beliefs">
        <Empty>
          No beliefs yet: they form from the diagnostics' findings and are revised as epochs end.
        </Empty>
      </div>
    );
  }
  return (
    <div data-testid="beliefs" aria-labelledby="beliefs-title">
      <p className="sub">
        Revision {state.revision} · epoch {state.epoch}
        {state.grade ? ` · grade ${state.grade}` : ""}
      </p>
      <ul className="beliefs">
        {ordered.map((h) => (
          <BeliefItem key={h.id} h={h} primary={h.id === state.primary} />
        ))}
      </ul>
    </div>
  );
}

function BeliefItem({ h, primary }: { h: Hypothesis; primary: boolean }) {
  const lines = evidenceLines(h);
  return (
    <li className={`belief sev-${h.severity} st-${h.status}`} data-testid="belief">
      <div className="belief-head">
        <span className={`sev sev-${h.severity}`}>{h.severity}</span>
        {primary && <span className="tag primary">primary</span>}
        {h.status === "retired" && <span className="tag">retired</span>}
        <strong>{h.issue}</strong>
      </div>
      <div className="confidence">
        <meter min={0} max={1} value={h.confidence} aria-label={`Confidence for ${h.issue}`} />
        <span>{confidencePercent(h.confidence)} confident</span>
        {h.since_epoch !== undefined && <span className="sub"> · since epoch {h.since_epoch}</span>}
        {h.layer && (
          <span className="sub">
            {" "}
            · layer <code>{h.layer}</code>
          </span>
        )}
      </div>
      {h.recommended_action && (
        <p>
          <strong>Recommended:</strong> {h.recommended_action}
        </p>
      )}
      {h.why && <p className="sub">{h.why}</p>}
      {lines.length > 0 && (
        <ul className="evidence-lines" aria-label="Evidence">
          {lines.map((l) => (
            <li key={l}>{l}</li>
          ))}
        </ul>
      )}
      {h.history.length > 0 && (
        <details>
          <summary>Revision history ({h.history.length})</summary>
          <ol className="revisions">
            {h.history.map((r) => (
              <li key={`${r.revision}-${r.epoch}-${r.note}`}>
                revision {r.revision}, epoch {r.epoch}: {confidencePercent(r.confidence)},{" "}
                {r.status} — {r.note}
              </li>
            ))}
          </ol>
        </details>
      )}
    </li>
  );
}

function InsightsFeed({
  runId,
  state,
  live,
}: {
  runId: string;
  state: BeliefState | undefined;
  live: Insight[];
}) {
  const feed = useMemo(() => insightFeed(runId, state, live), [runId, state, live]);
  if (feed.length === 0) {
    return (
      <Empty>
        No insight yet: when the main problem the agent sees changes, it says so here as it happens.
      </Empty>
    );
  }
  return (
    <ol className="insights" data-testid="insights" aria-labelledby="insights-title">
      {feed.map((i) => (
        <li key={i.revision}>
          {i.live && <span className="tag new">new</span>} {i.message}
        </li>
      ))}
    </ol>
  );
}

/**
 * The agent's pending proposals. Confirm submits the real action and then marks the proposal
 * confirmed; Dismiss only marks it. Nothing else acts on them.
 */
function Proposals({
  runId,
  list,
  reload,
}: {
  runId: string;
  list: Proposal[];
  reload: () => void;
}) {
  const pending = useMemo(() => pendingProposals(list), [list]);
  const [busy, setBusy] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (pending.length === 0) return null;

  const settle = async (p: Proposal, confirm: boolean) => {
    setBusy(p.id);
    setError(null);
    try {
      if (confirm) await postAction(runId, proposalAction(p));
      await resolveProposal(runId, p.id, confirm ? "confirmed" : "dismissed");
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(null);
      reload();
    }
  };
  return (
    <>
      <h3 id="proposals-title">Proposed actions</h3>
      <ul className="proposals" aria-labelledby="proposals-title" data-testid="proposals">
        {pending.map((p) => (
          <li key={p.id}>
            <p>
              The agent proposes to <strong>{describeProposal(p)}</strong>
              {p.reason ? `: ${p.reason}` : "."}
            </p>
            <div className="actions">
              <button type="button" disabled={busy !== null} onClick={() => void settle(p, true)}>
                Confirm
              </button>
              <button type="button" disabled={busy !== null} onClick={() => void settle(p, false)}>
                Dismiss
              </button>
            </div>
          </li>
        ))}
      </ul>
      {error && (
        <p className="action-status error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}
