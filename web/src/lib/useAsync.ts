// Loading state for one async value, with reload for live updates.
//
// Reloads coalesce: while one request is in flight, further reloads ask for one more request
// after it, so a slow server under frequent live updates still shows fresh data instead of
// every answer being superseded before it lands. An answer for old dependencies (another run,
// another axis) is dropped; among answers for the current ones the newest request wins.
import { useCallback, useEffect, useRef, useState } from "react";

export interface Async<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const generation = useRef(0); // bumped when the dependencies change
  const issued = useRef(0);
  const applied = useRef(0);
  const inFlight = useRef(false);
  const again = useRef(false);
  const loadRef = useRef(load);
  loadRef.current = load;

  const start = useCallback(() => {
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    const gen = generation.current;
    const seq = ++issued.current;
    setLoading(true);
    const settle = (apply: () => void) => {
      inFlight.current = false;
      if (gen === generation.current && seq > applied.current) {
        applied.current = seq;
        apply();
        setLoading(false);
      }
      if (again.current || gen !== generation.current) {
        again.current = false;
        start();
      }
    };
    loadRef.current().then(
      (value) =>
        settle(() => {
          setData(value);
          setError(undefined);
        }),
      (e: unknown) => settle(() => setError(e instanceof Error ? e : new Error(String(e)))),
    );
  }, []);

  useEffect(() => {
    generation.current++;
    if (inFlight.current) again.current = true;
    else start();
    // The caller's dependency list is this hook's contract (like useEffect's own), so the
    // linter cannot check it here; callers list what `load` reads.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  return { data, error, loading, reload: start };
}
