// A value that keeps its identity while its content stays the same, so that a chart keyed on it
// is rebuilt when the content changes and not on every live update that refetches equal data.
import { useMemo } from "react";

/** The same object as long as `value` serialises to the same JSON. */
export function useStableValue<T>(value: T): T {
  const key = JSON.stringify(value) ?? "null";
  return useMemo(() => JSON.parse(key) as T, [key]);
}
