// The typed API client: openapi-fetch over the types generated from docs/openapi.yaml.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.gen";

export const api = createClient<paths>({ baseUrl: "" });

export type Schemas = components["schemas"];
export type RunSummary = Schemas["RunSummary"];
export type RunDetail = Schemas["RunDetail"];
export type Epoch = Schemas["Epoch"];
export type Series = Schemas["Series"];
export type LayerSample = Schemas["LayerSample"];
export type LayerEntry = Schemas["LayerEntry"];
export type Module = Schemas["Module"];
export type Diagnostics = Schemas["Diagnostics"];
export type Finding = Schemas["Finding"];
export type Footprint = Schemas["Footprint"];
export type TelemetryNumber = Schemas["TelemetryNumber"];
export type ActionRequest = Schemas["ActionRequest"];
export type ApiError = Schemas["Error"];

/** An API failure with the server's error body, for error states that say what went wrong. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError | undefined,
  ) {
    super(
      body ? `${status} ${body.error}${body.reason ? `: ${body.reason}` : ""}` : `HTTP ${status}`,
    );
  }
}

/** Unwraps an openapi-fetch result: the data, or an ApiFailure. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data !== undefined) return result.data;
  throw new ApiFailure(result.response.status, result.error as ApiError | undefined);
}

/** The value, or undefined when the server has no such endpoint (yet): 404 or 405. */
export function optional<T>(result: {
  data?: T;
  error?: unknown;
  response: Response;
}): T | undefined {
  if (result.response.status === 404 || result.response.status === 405) return undefined;
  return unwrap(result);
}
