"""Closing runs that the user did not finish: at interpreter exit, and on an uncaught exception.

One ``sys.excepthook`` and one ``atexit`` handler per process, installed with the first Observer,
serve every live Observer (kept through weak references). The exception hook finishes each open
run as ``failed`` with the traceback as the reason (``stopped`` for a KeyboardInterrupt), then
calls the hook that was installed before it, so other tools' hooks (and the default printout)
still run. At exit, runs still open are finished as ``completed``. Neither does anything in a
fork()ed child (a DataLoader worker), whose copy of an Observer must not end the parent's run.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import traceback
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

__all__ = ["Finishable", "current_pid", "register", "unregister"]

# This process's id, kept current across fork() by the hook below: the Observer checks it at
# every step, and os.getpid() is a system call.
current_pid = os.getpid()


def _after_fork_in_child() -> None:
    global current_pid
    current_pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Finishable(Protocol):
    def _close_from_lifecycle(self, status: str, reason: str) -> None: ...


_live: weakref.WeakSet[Finishable] = weakref.WeakSet()
_lock = threading.Lock()
_installed_pid: int | None = None
_previous_hook: (
    Callable[[type[BaseException], BaseException, TracebackType | None], object] | None
) = None


def _close_all(status: str, reason: str) -> None:
    with _lock:
        observers = list(_live)
    for observer in observers:
        observer._close_from_lifecycle(status, reason)


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    try:
        if os.getpid() == _installed_pid:
            status = "stopped" if issubclass(exc_type, KeyboardInterrupt) else "failed"
            reason = "".join(traceback.format_exception(exc_type, exc, tb))
            _close_all(status, reason)
    finally:
        previous = _previous_hook or sys.__excepthook__
        previous(exc_type, exc, tb)


def _at_exit() -> None:
    if os.getpid() == _installed_pid:
        _close_all("completed", "")


def _install() -> None:
    global _installed_pid, _previous_hook
    if _installed_pid == os.getpid():
        return
    _installed_pid = os.getpid()
    if sys.excepthook is not _excepthook:
        _previous_hook = sys.excepthook
        sys.excepthook = _excepthook
    atexit.register(_at_exit)


def register(observer: Finishable) -> None:
    with _lock:
        _install()
        _live.add(observer)


def unregister(observer: Finishable) -> None:
    with _lock:
        _live.discard(observer)
