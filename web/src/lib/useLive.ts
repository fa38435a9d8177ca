// Live refresh: an SSE stream when the server has one, else polling while something runs.
import { useEffect, useRef, useState } from "react";
import { LiveStream, type SseEvent } from "./live";

// Streams the server answered 404 for: not asked again for a minute (see fetchDiagnostics).
const missingUntil = new Map<string, number>();

export type LiveMode = "open" | "polling" | "connecting" | "retrying" | "idle";

/**
 * Calls `refresh` (at most once a second) whenever the stream at `url` sends an event. When the
 * server answers 404 (no live endpoint), polls every 2 s instead, while `active` says there is
 * something live to watch. `onEvent` sees every event as it arrives.
 */
export function useLiveRefresh(
  url: string,
  active: boolean,
  refresh: () => void,
  onEvent?: (e: SseEvent) => void,
): LiveMode {
  const [mode, setMode] = useState<LiveMode>("connecting");
  const [unavailable, setUnavailable] = useState(false);
  const refreshRef = useRef(refresh);
  const onEventRef = useRef(onEvent);
  refreshRef.current = refresh;
  onEventRef.current = onEvent;

  useEffect(() => {
    if ((missingUntil.get(url) ?? 0) > Date.now()) {
      setUnavailable(true);
      return;
    }
    let pending: ReturnType<typeof setTimeout> | null = null;
    const stream = new LiveStream(
      url,
      (e) => {
        onEventRef.current?.(e);
        if (!pending) {
          pending = setTimeout(() => {
            pending = null;
            refreshRef.current();
          }, 1000);
        }
      },
      (s) => {
        if (s === "unavailable") {
          missingUntil.set(url, Date.now() + 60000);
          setUnavailable(true);
        } else if (s === "open") setMode("open");
        else if (s === "retrying" || s === "connecting") setMode(s);
      },
    );
    stream.start();
    return () => {
      if (pending) clearTimeout(pending);
      stream.close();
    };
  }, [url]);

  useEffect(() => {
    if (!unavailable) return;
    if (!active) {
      setMode("idle");
      return;
    }
    setMode("polling");
    const timer = setInterval(() => refreshRef.current(), 2000);
    return () => clearInterval(timer);
  }, [unavailable, active]);

  return mode;
}
