import { DASH } from "../lib/format";

export function GradeBadge({
  grade,
  large,
}: {
  grade: string | null | undefined;
  large?: boolean;
}) {
  if (!grade)
    return (
      <span className="grade none" title="No grade yet: the server has no diagnostics for this run">
        {DASH}
      </span>
    );
  return (
    <span
      className={`grade g-${grade}${large ? " large" : ""}`}
      aria-label={`Grade ${grade}`}
      data-testid="grade"
    >
      {grade}
    </span>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`status s-${status}`} data-testid="status">
      {status === "running" && <span className="pulse" aria-hidden="true" />}
      {status}
    </span>
  );
}
