"""Where a resumed run goes on: its next step and epoch, and a sequence-number range of its own.

Protocol v1 ignores a record whose (run, seq) is already stored, so a process that resumes a run
must not reuse the seqs an earlier process used. It cannot know them, so a process that names
its run (``run_id``) numbers its records from ``start_time_ms * 2**20``: each later process starts
past every seq an earlier one could have used unless that one recorded more than a million
records per millisecond of its life. Runs without a chosen id start at 1.

The next step and epoch come from the server's run summary (``totals.last_step`` and
``totals.epochs``), read once with a short timeout; when the server cannot be asked (offline, or
unreachable), numbering starts at 0 and the dashboard shows the overlap.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

__all__ = ["ResumePoint", "first_seq", "resume_point"]

_SEQ_SHIFT = 20


def first_seq(run_id_chosen: bool, now_s: float | None = None) -> int:
    """The first seq of this process's records (see the module docstring)."""
    if not run_id_chosen:
        return 1
    now = time.time() if now_s is None else now_s
    return int(now * 1000) << _SEQ_SHIFT


@dataclass(frozen=True)
class ResumePoint:
    next_step: int
    next_epoch: int
    existed: bool


def resume_point(server_url: str, run_id: str, timeout_s: float = 2.0) -> ResumePoint | None:
    """The run's next step and epoch per the server; None when the server could not say."""
    url = f"{server_url.rstrip('/')}/api/v1/runs/{urllib.parse.quote(run_id, safe='')}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return ResumePoint(0, 0, existed=False)
        return None
    except (OSError, ValueError):
        return None
    totals = body.get("totals") if isinstance(body, dict) else None
    if not isinstance(totals, dict):
        return None
    last_step = totals.get("last_step")
    epochs = totals.get("epochs")
    next_step = last_step + 1 if isinstance(last_step, int) else 0
    next_epoch = epochs if isinstance(epochs, int) else 0
    return ResumePoint(next_step, next_epoch, existed=True)
