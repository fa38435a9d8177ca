// Actions the agent proposed (docs/agent.md, "Proposals"): nothing happens until the developer
// confirms one, which submits the real action (docs/control.md) and marks the proposal settled.
import type { ActionRequest, Schemas } from "../api/client";

export type Proposal = Schemas["AgentProposal"];

/** The proposals still waiting for a decision, newest first. */
export function pendingProposals(list: Proposal[]): Proposal[] {
  return list.filter((p) => p.status === "pending").sort((a, b) => b.id - a.id);
}

/**
 * The control action a confirmed proposal submits. The agent files a stop's mode among the
 * params; the other params are the adjustment's values.
 */
export function proposalAction(p: Proposal): ActionRequest {
  const { mode, ...rest } = p.params ?? {};
  const req: ActionRequest = {
    action: p.action,
    reason: p.reason ? `agent proposal ${p.id}: ${p.reason}` : `agent proposal ${p.id}`,
    actor: "dashboard",
  };
  if (mode === "step" || mode === "epoch") req.mode = mode;
  if (Object.keys(rest).length > 0) req.params = rest;
  return req;
}

/** What confirming would do, in words: "stop at the end of the epoch", "adjust lr to 0.5x". */
export function describeProposal(p: Proposal): string {
  const req = proposalAction(p);
  if (req.action === "stop") {
    return req.mode === "epoch" ? "stop at the end of the epoch" : "stop at the end of the step";
  }
  if (req.action === "adjust") {
    const changes = Object.entries(req.params ?? {}).map(
      ([k, v]) =>
        `${k} to ${typeof v === "string" || typeof v === "number" ? v : JSON.stringify(v)}`,
    );
    return `adjust ${changes.join(", ")}`;
  }
  return req.action;
}
