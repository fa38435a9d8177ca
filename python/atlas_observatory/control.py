"""Control: what atlasd asks of a running training, applied by the Observer (docs/control.md).

Actions (stop, pause, resume, adjust, hold) reach libatlas on its sender thread, with the
replies to the telemetry it sends anyway or with a light poll when nothing flows. The training
thread takes them here at its own boundaries -- the start of a step and the end of an epoch --
so nothing ever changes under a running forward or backward pass:

- ``stop`` (mode ``step``): ``should_stop`` turns true at once; with
  ``ObserverConfig(raise_on_stop=True)`` the next step raises :class:`TrainingStopped`.
  Mode ``epoch``: ``should_stop`` turns true when the epoch ends.
- ``pause``: the next step waits until ``resume`` (or ``stop``).
- ``adjust``: ``lr`` reaches the param groups of every optimizer given to
  ``register_optimizer``; other names reach the setters given to ``register_adjustable``.
- ``hold`` (made by atlasd when a finding reaches ``ObserverConfig.pause_on``): the training
  waits at the end of the epoch for a decision -- ``resume`` (continue) or ``stop`` from the
  dashboard, the CLI or the API, or an answer typed in the terminal when stdin is one. After
  ``decision_timeout_s`` the configured ``decision_default`` applies.

Every action is acknowledged to atlasd (the audit log says when it was applied and what it
did) and logged as a ``control`` event on the run's timeline.

Threading: a Controller is used from the training thread only, except the terminal reader,
a daemon thread that only reads lines from stdin into a queue.
"""

from __future__ import annotations

import json
import math
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import ObserverConfig
from .containment import logger

__all__ = ["Controller", "TrainingStopped"]

# How often a held or paused training asks libatlas for news (the sender polls atlasd on its
# own schedule; this only reads the inbox).
_HOLD_POLL_S = 0.05

EmitEvent = Callable[[str, str, dict[str, Any]], None]


class TrainingStopped(Exception):  # noqa: N818 - the name the product documents (issue 7)
    """Raised at the step after a stop, with ``ObserverConfig(raise_on_stop=True)``.

    ``with Observer(...)`` ends the run as ``stopped`` and swallows it, so the script leaves
    its loop and exits 0; without the ``with``, catch it around the loop."""

    def __init__(self, reason: str, action_id: int | None = None) -> None:
        super().__init__(reason or "the run was stopped")
        self.reason = reason
        self.action_id = action_id


@dataclass
class _Adjustable:
    getter: Callable[[], float]
    setter: Callable[[float], None]


class _TerminalReader:
    """One daemon thread per process reading stdin lines into a queue, started on first use."""

    _lock = threading.Lock()
    _instance: _TerminalReader | None = None

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        thread = threading.Thread(target=self._read, name="atlas-terminal", daemon=True)
        thread.start()

    @classmethod
    def get(cls) -> _TerminalReader:
        with cls._lock:
            if cls._instance is None:
                cls._instance = _TerminalReader()
            return cls._instance

    def _read(self) -> None:
        while True:
            line = sys.stdin.readline()
            if not line:  # end of input: nobody will answer here
                return
            self.lines.put(line.strip().lower())

    def drain(self) -> None:
        while not self.lines.empty():
            self.lines.get_nowait()


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


class Controller:
    """Applies the run's control actions on the training thread (module docs)."""

    def __init__(self, client: Any, config: ObserverConfig, emit_event: EmitEvent) -> None:
        self._client = client
        self._config = config
        self._emit_event = emit_event
        self._optimizers: list[Any] = []
        self._adjustables: dict[str, _Adjustable] = {}
        self.stopped = False  # a stop was applied: should_stop
        self.stop_reason = ""
        self._stop_action: int | None = None
        self._stop_at_epoch: dict[str, Any] | None = None
        self._pause: dict[str, Any] | None = None
        self._hold: dict[str, Any] | None = None
        self._boundary = "step"  # where actions are being applied: "step" or "epoch" (its end)
        self.register()

    # ----- registration -----

    def register_optimizer(self, optimizer: Any) -> None:
        if not any(o is optimizer for o in self._optimizers):
            self._optimizers.append(optimizer)
        self.register()

    def register_adjustable(
        self, name: str, getter: Callable[[], float], setter: Callable[[float], None]
    ) -> None:
        if name == "lr":
            raise ValueError("'lr' is adjusted through register_optimizer")
        if not 0 < len(name) <= 64:
            raise ValueError(f"an adjustable's name is 1-64 characters, got {name!r}")
        self._adjustables[name] = _Adjustable(getter, setter)
        self.register()

    def register(self) -> None:
        """Sends the run's registration (pause_on, adjustable names) with libatlas's next
        control request."""
        names = (["lr"] if self._optimizers else []) + sorted(self._adjustables)
        registration = {
            "pause_on": self._config.pause_on,
            "adjustable": names,
            "decision_timeout_s": self._config.decision_timeout_s,
            "decision_default": self._config.decision_default,
        }
        self._client.set_control_registration(json.dumps(registration))

    # ----- the training thread's boundaries -----

    def quiet_at_step(self) -> bool:
        """True when at_step has nothing to do unless actions arrived (the client's
        has_actions): no pause to take, no stop to raise."""
        return self._pause is None and not (self.stopped and self._config.raise_on_stop)

    def at_step(self, step: int) -> bool:
        """At the start of a step: applies what arrived; waits while paused (True when it
        waited); raises TrainingStopped after a stop when the config asks for it."""
        self._boundary = "step"
        self._take(step)
        waited = False
        if self._pause is not None and not self.stopped:
            pause, self._pause = self._pause, None
            self._wait(pause, step, decision=False)
            waited = True
        if self.stopped and self._config.raise_on_stop:
            raise TrainingStopped(self.stop_reason, self._stop_action)
        return waited

    def at_epoch_end(self, epoch: int, step: int) -> None:
        """At the end of an epoch: a stop at the epoch's end takes effect; a hold waits for a
        decision."""
        self._boundary = "epoch"
        self._take(step)
        if self._stop_at_epoch is not None and not self.stopped:
            action, self._stop_at_epoch = self._stop_at_epoch, None
            self._apply_stop(action, step, f"the run stops at the end of epoch {epoch}")
        if self._hold is not None and not self.stopped:
            hold, self._hold = self._hold, None
            self._wait(hold, step, decision=True)

    # ----- actions -----

    def _take(self, step: int) -> None:
        for action in self._client.poll_actions():
            self._dispatch(action, step)

    def _dispatch(self, action: dict[str, Any], step: int) -> None:
        kind = action["action"]
        if kind == "stop":
            if action["mode"] == "epoch" and not self.stopped:
                self._stop_at_epoch = action  # applied (and acknowledged) at the epoch's end
            else:
                self._apply_stop(action, step, f"applied before step {step}")
        elif kind == "pause":
            self._pause = action
        elif kind == "hold":
            self._hold = action
        elif kind == "adjust":
            self._apply_adjust(action)
        elif kind == "resume":
            self._settle(action, True, "the run was not paused or held; nothing to resume")
        else:
            self._settle(action, False, f"this observer does not know the action {kind!r}")

    def _apply_stop(self, action: dict[str, Any], step: int, detail: str) -> None:
        if self.stopped:
            self._settle(action, True, "the run was already stopping", step)
            return
        self.stopped = True
        self._stop_action = action["id"]
        who = action.get("actor") or "someone"
        self.stop_reason = action.get("reason") or f"stopped by {who}"
        self._settle(action, True, detail, step)

    def _apply_adjust(self, action: dict[str, Any]) -> None:
        try:
            params = json.loads(action.get("params_json") or "{}")
        except ValueError:
            self._settle(action, False, "its params are not JSON")
            return
        problems = [p for p in (self._check_adjust(n, c) for n, c in params.items()) if p]
        if problems:  # all or nothing: a half-applied adjustment would be hard to reason about
            self._settle(action, False, "; ".join(problems))
            return
        done = [self._adjust_one(name, change) for name, change in params.items()]
        self._settle(action, True, "; ".join(done))

    def _check_adjust(self, name: str, change: Any) -> str | None:
        if not isinstance(change, dict) or not ({"set", "multiply"} & set(change)):
            return f"{name}: the change must be set or multiply"
        if name == "lr":
            return None if self._optimizers else "lr: no optimizer is registered"
        if name not in self._adjustables:
            return f"{name}: not registered with register_adjustable"
        return None

    def _adjust_one(self, name: str, change: dict[str, Any]) -> str:
        def updated(old: float) -> float:
            if "set" in change:
                return float(change["set"])
            return float(old) * float(change["multiply"])

        if name == "lr":
            before: list[float] = []
            after: list[float] = []
            for optimizer in self._optimizers:
                for group in optimizer.param_groups:
                    before.append(float(group["lr"]))
                    group["lr"] = updated(float(group["lr"]))
                    after.append(float(group["lr"]))
            return f"lr {_fmt(before)} -> {_fmt(after)}"
        adjustable = self._adjustables[name]
        old = float(adjustable.getter())
        new = updated(old)
        adjustable.setter(new)
        return f"{name} {old:g} -> {new:g}"

    def _settle(
        self, action: dict[str, Any], applied: bool, detail: str, step: int | None = None
    ) -> None:
        """Acknowledges `action` to atlasd and puts it on the run's timeline (`step`: the
        step it took effect before)."""
        self._client.ack_action(action["id"], applied, detail)
        kind = action["action"]
        mode = f" ({action['mode']})" if action.get("mode") else ""
        who = action.get("actor") or "someone"
        verb = "applied" if applied else "refused"
        message = f"{kind}{mode} by {who} {verb}: {detail}"
        if action.get("reason"):
            message += f" (reason: {action['reason']})"
        self._emit_event(
            message[:4000],
            "info" if applied else "warning",
            {
                "action_id": action["id"],
                "action": kind,
                "mode": action.get("mode", ""),
                "params": json.loads(action.get("params_json") or "{}"),
                "actor": who,
                "reason": action.get("reason", ""),
                "outcome": "applied" if applied else "rejected",
                "detail": detail,
                "step": step,
                "boundary": self._boundary,
            },
        )

    # ----- pause and hold -----

    def _wait(self, action: dict[str, Any], step: int, decision: bool) -> None:
        """Holds the training thread until resume or stop arrives (and, for a decision, until
        the terminal answers or the timeout applies the default)."""
        kind = "held for a decision" if decision else "paused"
        self._settle(action, True, f"training {kind} before step {step}", step)
        timeout = self._config.decision_timeout_s if decision else 0.0
        deadline = time.monotonic() + timeout if timeout > 0 else math.inf
        terminal = _TerminalReader.get() if decision and _stdin_is_terminal() else None
        if terminal is not None:
            terminal.drain()
            self._prompt(action, timeout)
        while True:
            for incoming in self._client.poll_actions():
                if self._resolve(incoming, step):
                    return
            if terminal is not None and self._answer(terminal):
                return
            if time.monotonic() >= deadline:
                why = f"no decision within {timeout:g} s"
                self._decide(self._config.decision_default, "timeout", why)
                return
            time.sleep(_HOLD_POLL_S)

    def _resolve(self, incoming: dict[str, Any], step: int) -> bool:
        """Applies an action that arrived while waiting; True when the wait is over."""
        kind = incoming["action"]
        if kind == "resume":
            self._settle(incoming, True, f"training continues at step {step}", step)
            return True
        if kind == "stop":
            self._apply_stop(incoming, step, f"the run stops before step {step}")
            return True
        if kind == "adjust":
            self._apply_adjust(incoming)
        elif kind in ("hold", "pause"):
            self._settle(incoming, True, "the run was already waiting")
        else:
            self._dispatch(incoming, step)
        return False

    def _prompt(self, action: dict[str, Any], timeout: float) -> None:
        default = self._config.decision_default
        limit = f" (no answer in {timeout:g} s: {default})" if timeout > 0 else ""
        reason = action.get("reason") or "a decision was asked for"
        print(
            f"\natlas: run {self._client.run_id} is held: {reason}\n"
            f"atlas: continue or stop? [c/s]{limit} ",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def _answer(self, terminal: _TerminalReader) -> bool:
        try:
            line = terminal.lines.get_nowait()
        except queue.Empty:
            return False
        if line in ("c", "continue", "y", "yes"):
            self._decide("continue", "terminal", "answered at the terminal")
            return True
        if line in ("s", "stop", "n", "no"):
            self._decide("stop", "terminal", "answered at the terminal")
            return True
        print("atlas: answer c (continue) or s (stop) ", end="", file=sys.stderr, flush=True)
        return False

    def _decide(self, choice: str, actor: str, why: str) -> None:
        """A decision this process took itself: recorded in the audit log and on the timeline."""
        if choice == "stop":
            self._client.report_decision("stop", "step", actor, why)
            self.stopped = True
            self.stop_reason = f"stopped by {actor}: {why}"
        else:
            self._client.report_decision("resume", "", actor, why)
        self._emit_event(
            f"decision by {actor}: {choice} ({why})",
            "info",
            {"action": "stop" if choice == "stop" else "resume", "actor": actor, "reason": why},
        )
        logger.info("atlas_observatory: decision by %s: %s (%s)", actor, choice, why)


def _fmt(values: list[float]) -> str:
    unique = sorted(set(values))
    if len(unique) == 1:
        return f"{unique[0]:g}"
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"
