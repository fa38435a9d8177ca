import { describe, expect, it } from "vitest";
import { describeProposal, pendingProposals, proposalAction, type Proposal } from "./proposals";

const proposal = (over: Partial<Proposal>): Proposal => ({
  id: 1,
  run_id: "r",
  action: "stop",
  status: "pending",
  params: {},
  reason: "past the optimal stop",
  ...over,
});

describe("proposals", () => {
  it("keeps the pending ones, newest first", () => {
    const list = [
      proposal({ id: 1 }),
      proposal({ id: 2, status: "dismissed" }),
      proposal({ id: 3 }),
      proposal({ id: 4, status: "confirmed" }),
    ];
    expect(pendingProposals(list).map((p) => p.id)).toEqual([3, 1]);
  });

  it("turns a stop's mode and an adjustment's values into the control action", () => {
    expect(proposalAction(proposal({ params: { mode: "epoch" } }))).toEqual({
      action: "stop",
      mode: "epoch",
      reason: "agent proposal 1: past the optimal stop",
      actor: "dashboard",
    });
    expect(
      proposalAction(proposal({ id: 7, action: "adjust", params: { lr: "0.5x" }, reason: "" })),
    ).toEqual({
      action: "adjust",
      params: { lr: "0.5x" },
      reason: "agent proposal 7",
      actor: "dashboard",
    });
  });

  it("says what confirming would do", () => {
    expect(describeProposal(proposal({ params: { mode: "epoch" } }))).toBe(
      "stop at the end of the epoch",
    );
    expect(describeProposal(proposal({}))).toBe("stop at the end of the step");
    expect(
      describeProposal(proposal({ action: "adjust", params: { lr: 0.01, dropout: "0.5x" } })),
    ).toBe("adjust lr to 0.01, dropout to 0.5x");
    expect(describeProposal(proposal({ action: "pause" }))).toBe("pause");
  });
});
