"""Uploading spooled runs later: what ``atlas sync`` does, from Python.

A run recorded offline (``ObserverConfig(offline=True)``), or one whose server was unreachable
until the process ended, waits in a spool file (one per run, under ``spool_dir``). ``sync``
uploads one file, or every spool file of a directory; the server's idempotence on (run, seq)
makes running it again safe. Upload failures raise ``atlas_observatory.UnavailableError`` (retry
later) or another ``AtlasError``, whose ``report`` attribute says how far the upload came.
"""

from __future__ import annotations

import os
from typing import Any

from .config import default_server_url

__all__ = ["default_spool_dir", "spool_files", "sync"]


def default_spool_dir() -> str:
    """libatlas's default spool directory: $HOME/.atlas/spool (./.atlas/spool without HOME)."""
    home = os.environ.get("HOME") or "."
    return os.path.join(home, ".atlas", "spool")


def spool_files(directory: str | None = None) -> list[str]:
    """The spool files waiting in `directory` (default: libatlas's), sorted."""
    from . import _atlas

    return list(_atlas.list_spool_files(directory or default_spool_dir()))


def sync(
    path: str | None = None,
    server_url: str | None = None,
    *,
    remove_when_done: bool = True,
    timeout_s: float = 30.0,
) -> list[dict[str, Any]]:
    """Uploads the spool file at `path`, or every spool file of the directory `path` (default:
    libatlas's spool directory), to `server_url` (default: $ATLAS_URL or atlasd's default).
    Returns one report per file (``frames``, ``records_sent``, ``records_rejected``, ...)."""
    from . import _atlas

    url = server_url or default_server_url()
    target = path or default_spool_dir()
    files = _atlas.list_spool_files(target) if os.path.isdir(target) else [target]
    reports = []
    for file in files:
        report = dict(
            _atlas.sync(file, url, remove_when_done=remove_when_done, timeout_s=timeout_s)
        )
        report["path"] = file
        reports.append(report)
    return reports
