// The decision banner (Continue / Adjust / Stop) shown at key moments while a run trains, and the
// action controls, wired to POST /api/v1/runs/{id}/actions.
import { useState } from "react";
import type { Moment } from "../lib/moments";
import { postAction } from "../lib/data";

type Sent =
  | { state: "idle" }
  | { state: "sending" }
  | { state: "done"; text: string }
  | { state: "error"; text: string };

export function useAction(runId: string) {
  const [sent, setSent] = useState<Sent>({ state: "idle" });
  const send = async (body: Parameters<typeof postAction>[1], text: string) => {
    setSent({ state: "sending" });
    try {
      await postAction(runId, { actor: "dashboard", ...body });
      setSent({ state: "done", text });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      setSent({
        state: "error",
        text:
          msg.startsWith("404") || msg.startsWith("405")
            ? "this server does not accept actions yet"
            : msg,
      });
    }
  };
  return { sent, send };
}

export function ActionStatus({ sent }: { sent: Sent }) {
  if (sent.state === "idle") return null;
  return (
    <span role="status" className={`action-status ${sent.state}`} data-testid="action-status">
      {sent.state === "sending" ? "Sending…" : sent.text}
    </span>
  );
}

export function StopButtons({ runId }: { runId: string }) {
  const { sent, send } = useAction(runId);
  return (
    <div className="actions">
      <button
        type="button"
        className="danger"
        onClick={() =>
          void send(
            { action: "stop", mode: "step", reason: "stopped from the dashboard" },
            "Stop requested",
          )
        }
      >
        Stop now
      </button>
      <button
        type="button"
        onClick={() =>
          void send(
            { action: "stop", mode: "epoch", reason: "stopped from the dashboard" },
            "Stop at the end of this epoch requested",
          )
        }
      >
        Stop after this epoch
      </button>
      <ActionStatus sent={sent} />
    </div>
  );
}

export function DecisionBanner({
  runId,
  moment,
  onContinue,
}: {
  runId: string;
  moment: Moment;
  onContinue: () => void;
}) {
  const { sent, send } = useAction(runId);
  const [factor, setFactor] = useState("0.5");
  const reason = `${moment.title} (${moment.key.replace(/\|$/, "")})`;
  return (
    <section
      className={`decision sev-${moment.finding?.severity ?? "warning"}`}
      role="alertdialog"
      aria-labelledby="decision-title"
      data-testid="decision-banner"
    >
      <div>
        <h2 id="decision-title">Decide: {moment.title}</h2>
        {moment.finding?.fix && <p className="sub">Suggested fix: {moment.finding.fix}</p>}
      </div>
      <div className="actions">
        <button type="button" onClick={onContinue}>
          Continue
        </button>
        <label>
          LR ×
          <select
            value={factor}
            onChange={(e) => setFactor(e.target.value)}
            aria-label="Learning-rate factor"
          >
            <option value="0.1">0.1</option>
            <option value="0.5">0.5</option>
            <option value="2">2</option>
          </select>
        </label>
        <button
          type="button"
          onClick={() =>
            void send(
              { action: "adjust", params: { lr: `${factor}x` }, reason },
              `Learning rate × ${factor} requested`,
            )
          }
        >
          Adjust
        </button>
        <button
          type="button"
          className="danger"
          onClick={() =>
            void send(
              { action: "stop", mode: "epoch", reason },
              "Stop at the end of this epoch requested",
            )
          }
        >
          Stop
        </button>
        <ActionStatus sent={sent} />
      </div>
    </section>
  );
}

/** Shown while the training waits at an epoch boundary for the developer (a hold or a pause). */
export function HeldBanner({
  runId,
  state,
  reason,
}: {
  runId: string;
  state: string;
  reason: string;
}) {
  const { sent, send } = useAction(runId);
  const held = state === "held_for_decision";
  return (
    <section
      className="decision sev-critical"
      role="alertdialog"
      aria-labelledby="held-title"
      data-testid="held-banner"
    >
      <div>
        <h2 id="held-title">
          {held ? "The training is waiting for your decision" : "The training is paused"}
        </h2>
        {reason && <p className="sub">{reason}</p>}
      </div>
      <div className="actions">
        <button
          type="button"
          onClick={() =>
            void send(
              { action: "resume", reason: "continued from the dashboard" },
              "Continue requested",
            )
          }
        >
          Continue
        </button>
        <button
          type="button"
          className="danger"
          onClick={() =>
            void send(
              { action: "stop", mode: "step", reason: "stopped from the dashboard" },
              "Stop requested",
            )
          }
        >
          Stop
        </button>
        <ActionStatus sent={sent} />
      </div>
    </section>
  );
}
