// The API calls the pages make, typed by the generated client.
import { api, optional, unwrap, type Diagnostics, type Epoch } from "../api/client";

export async function fetchRuns() {
  return unwrap(await api.GET("/api/v1/runs", { params: { query: { limit: 500 } } }));
}

export async function fetchRun(id: string) {
  return unwrap(await api.GET("/api/v1/runs/{id}", { params: { path: { id } } }));
}

export async function fetchEpochs(id: string): Promise<Epoch[]> {
  return unwrap(await api.GET("/api/v1/runs/{id}/epochs", { params: { path: { id } } })).epochs;
}

// Endpoints that land with other issues (diagnostics, control): when the server answered that it
// has no such route, it is not asked again for a minute. Each such request is a failed load in
// the browser's console, and the answer will not change until the server is upgraded.
const missingUntil = new Map<string, number>();

async function optionalRoute<T>(
  route: string,
  call: () => Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T | undefined> {
  if ((missingUntil.get(route) ?? 0) > Date.now()) return undefined;
  const res = await call();
  if (
    res.response.status === 404 &&
    (res.error as { field?: string } | undefined)?.field === "path"
  ) {
    missingUntil.set(route, Date.now() + 60000);
  }
  return optional(res);
}

/** The diagnostics document, or undefined while the server has no diagnostics endpoint. */
export async function fetchDiagnostics(id: string): Promise<Diagnostics | undefined> {
  return optionalRoute("diagnostics", () =>
    api.GET("/api/v1/runs/{id}/diagnostics", { params: { path: { id } } }),
  );
}

export async function fetchSeriesNames(id: string): Promise<string[]> {
  return unwrap(await api.GET("/api/v1/runs/{id}/series", { params: { path: { id } } })).series;
}

export async function fetchSeries(
  id: string,
  metric: string,
  x: "step" | "time",
  points: number,
  range?: { from: number; to: number },
) {
  return unwrap(
    await api.GET("/api/v1/runs/{id}/series/{metric}", {
      params: { path: { id, metric }, query: { x, points, ...(range ?? {}) } },
    }),
  );
}

/** The newest layer-statistics sample of each layer, looking back from the run's last step. */
export async function fetchLatestLayers(id: string, lastStep: number | null) {
  const from = lastStep === null ? 0 : Math.max(0, lastStep - 5000);
  const res = unwrap(
    await api.GET("/api/v1/runs/{id}/layers", {
      params: { path: { id }, query: { from_step: from, limit: 20000 } },
    }),
  );
  const latest = new Map<
    string,
    (typeof res.samples)[number]["layers"][number] & { step: number }
  >();
  for (const s of res.samples)
    for (const l of s.layers) latest.set(l.layer, { ...l, step: s.step });
  return latest;
}

export async function postAction(id: string, body: import("../api/client").ActionRequest) {
  const res = await api.POST("/api/v1/runs/{id}/actions", { params: { path: { id } }, body });
  return unwrap(res);
}

/** The run's control state and audit log, or undefined while the server has no control API. */
export async function fetchControl(id: string) {
  return optionalRoute("actions", () =>
    api.GET("/api/v1/runs/{id}/actions", { params: { path: { id } } }),
  );
}

/** The run's belief state (docs/agent.md), or undefined while the server has no agent. */
export async function fetchBeliefs(id: string) {
  return optionalRoute("beliefs", () =>
    api.GET("/api/v1/runs/{id}/beliefs", { params: { path: { id } } }),
  );
}

/** Who answers the agent's chat (providers, or the offline analyst only). */
export async function fetchAgentInfo() {
  return optionalRoute("agent", () => api.GET("/api/v1/agent"));
}

/** The control actions the training applied or refused, from its timeline (docs/control.md). */
export async function fetchControlEvents(id: string) {
  return unwrap(
    await api.GET("/api/v1/runs/{id}/events", {
      params: { path: { id }, query: { type: "control", limit: 1000 } },
    }),
  ).events;
}

/** The actions the agent proposed for the run, or undefined while the server has no agent. */
export async function fetchProposals(id: string) {
  const res = await optionalRoute("proposals", () =>
    api.GET("/api/v1/runs/{id}/proposals", { params: { path: { id } } }),
  );
  return res?.proposals;
}

/** Marks a proposal confirmed (after its action was submitted) or dismissed. */
export async function resolveProposal(id: string, pid: number, status: "confirmed" | "dismissed") {
  return unwrap(
    await api.POST("/api/v1/runs/{id}/proposals/{pid}", {
      params: { path: { id, pid } },
      body: { status },
    }),
  );
}
