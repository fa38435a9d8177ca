"""The one containment primitive: a telemetry fault never raises into the training loop.

Every public entry point of the Observer and every hook and collector runs inside
``Containment.capture(site)``. An ``Exception`` raised there is contained: counted per site, logged
once per site (``logging``, logger ``atlas_observatory``), reported to the run as an ``event`` of
type ``telemetry_error`` (the first time per site, then at the 10th, 100th, ... occurrence), and
kept in a process-wide list that tests drain (``drain_captured``) so that containment cannot hide
bugs from CI. ``KeyboardInterrupt`` and ``SystemExit`` are not contained: they belong to the user.

This mirrors sentry-python's ``capture_internal_exceptions``. Not thread-safe beyond what the GIL
gives: counts may be off by one when two threads fail at once, nothing worse.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

__all__ = [
    "CapturedError",
    "Containment",
    "ErrorReporter",
    "drain_captured",
    "format_error",
    "logger",
]

logger = logging.getLogger("atlas_observatory")

# How many contained errors the process keeps for drain_captured(); older ones are dropped.
_KEEP_CAPTURED = 1000


@dataclass(frozen=True)
class CapturedError:
    """One contained error: where it happened and what it was."""

    site: str
    error: BaseException


_captured: list[CapturedError] = []

ErrorReporter = Callable[[str, BaseException, int], None]
"""Receives (site, error, occurrence count at that site) when an error should be reported."""


def drain_captured() -> list[CapturedError]:
    """Returns and forgets every error contained in this process since the last call."""
    out = list(_captured)
    _captured.clear()
    return out


def _should_report(count: int) -> bool:
    # 1, 10, 100, 1000, ...: enough to show that a fault persists without flooding the run.
    while count >= 10 and count % 10 == 0:
        count //= 10
    return count == 1


class _Guard:
    """The context manager of one site; reused, so entering one allocates nothing."""

    __slots__ = ("_owner", "_site")

    def __init__(self, owner: Containment, site: str) -> None:
        self._owner = owner
        self._site = site

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        self._owner.contain(self._site, exc)
        return True


class Containment:
    """Counts, logs and reports the errors of one Observer (see the module docstring)."""

    def __init__(self, reporter: ErrorReporter | None = None) -> None:
        self.counts: dict[str, int] = {}
        self._guards: dict[str, _Guard] = {}
        self._reporter = reporter
        self._reporting = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def set_reporter(self, reporter: ErrorReporter | None) -> None:
        self._reporter = reporter

    def capture(self, site: str) -> _Guard:
        """``with containment.capture("site"): ...`` contains any Exception raised inside."""
        guard = self._guards.get(site)
        if guard is None:
            guard = self._guards[site] = _Guard(self, site)
        return guard

    def contain(self, site: str, error: Exception) -> None:
        """Handles an error raised at `site`; never raises."""
        try:
            count = self.counts.get(site, 0) + 1
            self.counts[site] = count
            _captured.append(CapturedError(site, error))
            if len(_captured) > _KEEP_CAPTURED:
                del _captured[0]
            if count == 1:
                logger.warning(
                    "atlas_observatory: %s failed; training continues and this telemetry is "
                    "skipped (logged once per site): %s: %s",
                    site,
                    type(error).__name__,
                    error,
                    exc_info=error,
                )
            if self._reporter is not None and not self._reporting and _should_report(count):
                # A reporter that fails must not recurse into itself.
                self._reporting = True
                try:
                    self._reporter(site, error, count)
                finally:
                    self._reporting = False
        except Exception:  # the last line of defence must not raise
            return


def format_error(error: BaseException, limit_chars: int = 8000) -> str:
    """The traceback of `error` as text, cut to at most `limit_chars` (keeping the end)."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return text if len(text) <= limit_chars else "...\n" + text[-limit_chars:]
