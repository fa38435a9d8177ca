// A panel below the first fold: its code (a lazy component) is fetched and rendered only when
// its place comes near the viewport, so the first fold neither downloads nor runs it.
import { Suspense, useRef, type ReactNode } from "react";
import { useNearViewport } from "../lib/useNearViewport";
import { Loading } from "./States";

export function Deferred({
  what,
  testId,
  children,
}: {
  what: string;
  testId?: string;
  children: ReactNode;
}) {
  const host = useRef<HTMLDivElement>(null);
  const near = useNearViewport(host);
  return (
    <div ref={host} data-testid={testId}>
      {near ? (
        <Suspense fallback={<Loading what={what} />}>{children}</Suspense>
      ) : (
        <Loading what={what} />
      )}
    </div>
  );
}
