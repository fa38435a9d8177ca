"""Control end to end (issue 7, docs/control.md): real PyTorch training against a real atlasd,
stopped, paused, adjusted and held through the API and the CLI.

Waits here are for conditions (with a safety limit), never for a fixed time: a stop or a pause
posted while training runs takes effect when the observer next hears from atlasd, and the
tests assert what happened at that point (which step, which epoch), not how long it took.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import torch
from obs_helpers import BUILD, Atlasd, DigitsCNN, digits_loader, step_series, wait_until
from torch import nn

from atlas_observatory import Observer, ObserverConfig, TrainingStopped

ATLAS_CLI = BUILD / "server" / "src" / "cli" / "atlas"
STEPS_PER_EPOCH = 10  # digits_loader(limit=640) in batches of 64
SAFETY_EPOCHS = 400  # far more than any test needs: training that ends early was stopped


def post(server: Atlasd, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def act(server: Atlasd, run_id: str, **payload: Any) -> Any:
    # The observer creates its run with its first batch of telemetry, shortly after the first
    # step: an action asked for from inside the loop waits for the run to exist.
    wait_until(lambda: _run_exists(server, run_id), what=f"run {run_id}")
    status, body = post(server, f"/api/v1/runs/{run_id}/actions", payload)
    assert status == 201, body
    return body


def audit(server: Atlasd, run_id: str) -> Any:
    return server.get(f"/api/v1/runs/{run_id}/actions")


def control_events(server: Atlasd, run_id: str) -> list[Any]:
    events = server.get(f"/api/v1/runs/{run_id}/events?type=control")["events"]
    return list(events)


def config(server: Atlasd, spool_dir: str, run_id: str, **extra: Any) -> ObserverConfig:
    return ObserverConfig(
        server_url=server.url,
        run_id=run_id,
        spool_dir=spool_dir,
        track_layer_health=False,
        batch_max_delay_s=0.05,
        control_poll_interval_s=0.1,
        **extra,
    )


class Training:
    """The digits CNN and its optimizer, trained the way a user's loop does."""

    def __init__(self) -> None:
        self.model = DigitsCNN()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.loader = digits_loader(limit=STEPS_PER_EPOCH * 64)
        self.steps = 0

    def one_step(self, observer: Observer, x: torch.Tensor, y: torch.Tensor) -> None:
        observer.step(self.model, x, y)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps += 1

    def run(self, observer: Observer, on_step: Any = None, epochs: int = SAFETY_EPOCHS) -> None:
        for _ in observer.epochs(epochs):
            for x, y in self.loader:
                if observer.should_stop:
                    break
                self.one_step(observer, x, y)
                if on_step is not None:
                    on_step(self.steps)


def test_a_stop_mid_epoch_ends_training_within_one_step(atlasd: Atlasd, spool_dir: str) -> None:
    run_id = "stop-at-step"
    observer = Observer(run_name="stop", config=config(atlasd, spool_dir, run_id))
    training = Training()

    def stop_once(steps: int) -> None:
        if steps == 15:  # in the middle of the second epoch
            act(atlasd, run_id, action="stop", mode="step", reason="loss is fine", actor="ana")

    training.run(observer, stop_once)
    assert observer.should_stop
    observer.finish()

    assert training.steps < SAFETY_EPOCHS * STEPS_PER_EPOCH
    run = atlasd.run(run_id)
    assert run["status"] == "stopped"
    assert run["status_reason"] == "loss is fine"
    [stop] = audit(atlasd, run_id)["actions"]
    assert stop["outcome"] == "applied"
    assert stop["applied_at"] >= stop["delivered_at"] >= stop["created_at"]
    [event] = control_events(atlasd, run_id)
    applied_before = event["data"]["step"]
    last_step = run["totals"]["last_step"]
    assert last_step == training.steps - 1
    if event["data"]["boundary"] == "step":
        # It arrived as step N began: step N ran to its end, and no step after it.
        assert last_step == applied_before
    else:  # it arrived as an epoch ended: no step of the next epoch ran
        assert last_step == applied_before - 1
        assert training.steps % STEPS_PER_EPOCH == 0
    assert event["data"]["actor"] == "ana"
    assert "stop (step) by ana applied" in event["message"]


def test_a_stop_at_the_epoch_end_through_the_cli_finishes_that_epoch(
    atlasd: Atlasd, spool_dir: str
) -> None:
    run_id = "stop-at-epoch"
    observer = Observer(run_name="stop-epoch", config=config(atlasd, spool_dir, run_id))
    training = Training()

    def stop_once(steps: int) -> None:
        if steps == 13:
            # The observer creates its run with its first batch: wait for it, as act() does.
            wait_until(lambda: _run_exists(atlasd, run_id), what=f"run {run_id}")
            cli = [str(ATLAS_CLI), "stop", run_id, "--at", "epoch", "--reason", "enough"]
            done = subprocess.run(
                [*cli, "--url", atlasd.url], capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr

    training.run(observer, stop_once)
    observer.finish()

    assert training.steps % STEPS_PER_EPOCH == 0  # it left at an epoch boundary
    assert training.steps < SAFETY_EPOCHS * STEPS_PER_EPOCH
    run = atlasd.run(run_id)
    assert run["status"] == "stopped"
    assert run["totals"]["epochs"] == training.steps // STEPS_PER_EPOCH
    [stop] = audit(atlasd, run_id)["actions"]
    assert stop["mode"] == "epoch"
    assert stop["outcome"] == "applied"
    assert "end of epoch" in stop["detail"]


def test_raise_on_stop_leaves_the_script_normally_and_it_exits_0(
    atlasd: Atlasd, spool_dir: str, tmp_path: Path
) -> None:
    run_id = "stop-raises"
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            import torch
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from obs_helpers import DigitsCNN, digits_loader
            from atlas_observatory import Observer, ObserverConfig

            torch.set_num_threads(1)
            torch.manual_seed(0)
            model = DigitsCNN()
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            cfg = ObserverConfig(server_url={atlasd.url!r}, run_id={run_id!r},
                                 spool_dir={spool_dir!r}, raise_on_stop=True,
                                 track_layer_health=False, batch_max_delay_s=0.05)
            with Observer(run_name="raise", config=cfg) as observer:
                for epoch in range({SAFETY_EPOCHS}):
                    for x, y in digits_loader(limit=640):
                        observer.step(model, x, y)
                        opt.step()
                        opt.zero_grad()
                    observer.end_epoch()
                print("never: the loop ran to its end", flush=True)
            print("left the loop", observer.should_stop, flush=True)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(
            lambda: proc.poll() is not None or atlasd.step_records(run_id) >= 5,
            limit_s=120,
            what="the script's first steps",
        )
        assert proc.poll() is None, proc.communicate()
        act(atlasd, run_id, action="stop", reason="from the test")
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "left the loop True" in out
    assert "never" not in out
    run = atlasd.run(run_id)
    assert run["status"] == "stopped"
    assert run["status_reason"] == "from the test"
    [event] = control_events(atlasd, run_id)
    # Whether it arrived as a step began or as an epoch ended, TrainingStopped came before the
    # step it arrived before could run.
    assert run["totals"]["last_step"] == event["data"]["step"] - 1


def test_raise_on_stop_raises_a_dedicated_exception(atlasd: Atlasd, spool_dir: str) -> None:
    run_id = "stop-raises-here"
    observer = Observer(config=config(atlasd, spool_dir, run_id, raise_on_stop=True))
    training = Training()

    def loop() -> None:
        for _ in range(SAFETY_EPOCHS):
            for x, y in training.loader:
                training.one_step(observer, x, y)
                if training.steps == 3:
                    act(atlasd, run_id, action="stop", reason="halt")
            observer.end_epoch()

    with pytest.raises(TrainingStopped) as raised:
        loop()
    assert raised.value.reason == "halt"
    observer.finish()
    assert atlasd.run(run_id)["status"] == "stopped"


def test_an_lr_adjustment_reaches_the_param_groups_and_is_recorded(
    atlasd: Atlasd, spool_dir: str
) -> None:
    run_id = "adjust"
    observer = Observer(config=config(atlasd, spool_dir, run_id))
    training = Training()
    observer.register_optimizer(training.optimizer)
    smoothing = {"value": 0.0}
    observer.register_adjustable(
        "label_smoothing", lambda: smoothing["value"], lambda v: smoothing.update(value=v)
    )

    def adjust_once(steps: int) -> None:
        if steps == 5:
            act(atlasd, run_id, action="adjust", params={"lr": "0.5x", "label_smoothing": 0.1})
        if training.optimizer.param_groups[0]["lr"] != 0.1 and steps % STEPS_PER_EPOCH == 0:
            observer.flush()
            raise _Done

    with pytest.raises(_Done):
        training.run(observer, adjust_once)
    observer.finish()

    assert training.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert smoothing["value"] == pytest.approx(0.1)
    [adjust] = audit(atlasd, run_id)["actions"]
    assert adjust["outcome"] == "applied"
    assert adjust["params"] == {"lr": {"multiply": 0.5}, "label_smoothing": {"set": 0.1}}
    assert "lr 0.1 -> 0.05" in adjust["detail"]
    assert "label_smoothing 0 -> 0.1" in adjust["detail"]
    # The steps after the adjustment carry the new learning rate.
    lrs = step_series(atlasd, run_id, "lr")["last"]
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[-1] == pytest.approx(0.05)
    # A registered run refuses names it never registered, before the observer sees them.
    status, body = post(
        atlasd, f"/api/v1/runs/{run_id}/actions", {"action": "adjust", "params": {"wd": 1}}
    )
    assert status == 409  # the run is finished by now
    assert run_id in body["reason"]


class _Done(Exception):  # noqa: N818 - ends a training loop from inside a callback
    pass


def _run_exists(server: Atlasd, run_id: str) -> bool:
    try:
        server.run(run_id)
    except urllib.error.HTTPError:
        return False
    return True


def test_pause_holds_the_training_until_resumed(atlasd: Atlasd, spool_dir: str) -> None:
    run_id = "pause"
    observer = Observer(config=config(atlasd, spool_dir, run_id))
    training = Training()
    seen: dict[str, Any] = {}
    done = threading.Event()

    def operator() -> None:
        try:
            wait_until(lambda: atlasd.step_records(run_id) >= 3, what="steps")
            act(atlasd, run_id, action="pause", reason="lunch", actor="ana")
            wait_until(lambda: audit(atlasd, run_id)["state"] == "paused", what="the pause")
            seen["steps_while_paused"] = training.steps
            seen["records_while_paused"] = atlasd.step_records(run_id)
            act(atlasd, run_id, action="resume", actor="ana")
            wait_until(lambda: audit(atlasd, run_id)["state"] == "running", what="the resume")
            seen["resumed_at"] = training.steps
            wait_until(lambda: training.steps >= seen["resumed_at"] + 3, what="steps after")
        except BaseException as error:  # reported by the main thread
            seen["error"] = error
        finally:
            done.set()

    thread = threading.Thread(target=operator)
    thread.start()
    for _ in observer.epochs(SAFETY_EPOCHS):
        for x, y in training.loader:
            if done.is_set():
                break
            training.one_step(observer, x, y)
        if done.is_set():
            break
    thread.join()
    observer.finish()
    assert "error" not in seen, seen.get("error")
    assert training.steps >= seen["resumed_at"] + 3
    assert atlasd.run(run_id)["status"] == "completed"
    paused, resumed = control_events(atlasd, run_id)
    assert paused["message"].startswith("pause by ana applied: training paused before step")
    assert resumed["message"].startswith("resume by ana applied: training continues at step")
    # No step ran while paused: it was held before step N and went on with step N.
    assert paused["data"]["step"] == resumed["data"]["step"] == seen["steps_while_paused"]


def test_a_hold_waits_for_a_decision_at_the_epoch_end(atlasd: Atlasd, spool_dir: str) -> None:
    run_id = "hold-resume"
    observer = Observer(config=config(atlasd, spool_dir, run_id, decision_timeout_s=0))
    training = Training()
    seen: dict[str, Any] = {}

    def operator() -> None:
        try:
            wait_until(lambda: atlasd.step_records(run_id) >= 2, what="steps")
            act(atlasd, run_id, action="hold", reason="look at the curves")
            wait_until(
                lambda: audit(atlasd, run_id)["state"] == "held_for_decision", what="the hold"
            )
            seen["held_at"] = training.steps
            act(atlasd, run_id, action="resume", actor="ana", reason="curves look fine")
        except BaseException as error:
            seen["error"] = error

    def end_after_another_epoch(steps: int) -> None:
        if "held_at" in seen and steps >= seen["held_at"] + STEPS_PER_EPOCH:
            raise _Done
        if "error" in seen:
            raise _Done

    thread = threading.Thread(target=operator)
    thread.start()
    with pytest.raises(_Done):
        training.run(observer, end_after_another_epoch)
    thread.join()
    observer.finish()
    assert "error" not in seen, seen.get("error")
    assert seen["held_at"] % STEPS_PER_EPOCH == 0  # held at an epoch boundary
    assert training.steps == seen["held_at"] + STEPS_PER_EPOCH  # then it went on
    log = audit(atlasd, run_id)["actions"]
    assert [(a["action"], a["outcome"]) for a in log] == [
        ("hold", "applied"),
        ("resume", "applied"),
    ]
    assert atlasd.run(run_id)["status"] == "completed"


@pytest.mark.parametrize(("default", "status"), [("stop", "stopped"), ("continue", "completed")])
def test_the_decision_timeout_applies_the_default(
    atlasd: Atlasd, spool_dir: str, default: str, status: str
) -> None:
    run_id = f"timeout-{default}"
    cfg = config(atlasd, spool_dir, run_id, decision_timeout_s=0.5, decision_default=default)
    observer = Observer(config=cfg)
    training = Training()

    def hold_once(steps: int) -> None:
        if steps == 2:
            act(atlasd, run_id, action="hold", reason="decide")
        # Continuing: end the loop one epoch after the decision, which the log shows.
        if steps % STEPS_PER_EPOCH == 0 and len(audit(atlasd, run_id)["actions"]) == 2:
            seen.setdefault("decided_at", steps)
        if "decided_at" in seen and steps == seen["decided_at"] + STEPS_PER_EPOCH:
            raise _Done

    seen: dict[str, int] = {}
    with contextlib.suppress(_Done):
        training.run(observer, hold_once)
    observer.finish()
    log = audit(atlasd, run_id)["actions"]
    assert log[0]["action"] == "hold"
    assert log[0]["outcome"] == "applied"
    decision = log[1]
    assert decision["actor"] == "timeout"
    assert decision["outcome"] == "applied"
    assert decision["action"] == ("stop" if default == "stop" else "resume")
    assert "no decision within 0.5 s" in decision["reason"]
    run = atlasd.run(run_id)
    assert run["status"] == status
    if default == "stop":  # it stopped where it was held: at an epoch's end
        assert training.steps % STEPS_PER_EPOCH == 0
        assert training.steps < SAFETY_EPOCHS * STEPS_PER_EPOCH
    else:  # it went on after the timeout
        assert training.steps == seen["decided_at"] + STEPS_PER_EPOCH


class DeadLayerNet(nn.Module):
    """A net whose hidden layer is dead: a bias of -50 keeps every ReLU unit at zero."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(64, 32)
        self.hidden = nn.Linear(32, 32)
        self.act = nn.ReLU()
        self.out = nn.Linear(32, 10)
        with torch.no_grad():
            self.hidden.bias.fill_(-50.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.out(self.act(self.hidden(torch.relu(self.inp(x.flatten(1))))))
        return out


def test_pause_on_critical_holds_a_run_with_a_dead_layer_until_resumed(
    atlasd: Atlasd, spool_dir: str
) -> None:
    run_id = "dead-layer"
    cfg = ObserverConfig(
        server_url=atlasd.url,
        run_id=run_id,
        spool_dir=spool_dir,
        pause_on="critical",
        decision_timeout_s=0,
        layer_health_every=2,
        batch_max_delay_s=0.05,
        control_poll_interval_s=0.1,
    )
    observer = Observer(config=cfg)
    model = DeadLayerNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loader = digits_loader(limit=STEPS_PER_EPOCH * 64)
    seen: dict[str, Any] = {}
    finished = threading.Event()

    def operator() -> None:
        try:
            wait_until(lambda: finished.is_set() or _run_exists(atlasd, run_id), what="the run")
            wait_until(
                lambda: finished.is_set() or audit(atlasd, run_id)["state"] == "held_for_decision",
                limit_s=120,
                what="the hold a critical finding makes",
            )
            if finished.is_set():
                return
            seen["hold"] = audit(atlasd, run_id)["actions"][0]
            act(atlasd, run_id, action="resume", actor="ana", reason="known, continue")
        except BaseException as error:
            seen["error"] = error

    thread = threading.Thread(target=operator)
    thread.start()
    epochs = 0
    try:
        for _ in observer.epochs(SAFETY_EPOCHS):
            for x, y in loader:
                observer.step(model, x, y)
                optimizer.step()
                optimizer.zero_grad()
            epochs += 1
            if "resumed_at" not in seen and "hold" in seen:
                seen["resumed_at"] = epochs
            if "resumed_at" in seen and epochs >= seen["resumed_at"] + 1:
                break  # one more epoch after the decision
            if "error" in seen:
                break
    finally:
        finished.set()
        thread.join()
    observer.finish()
    assert "error" not in seen, seen.get("error")
    hold = seen.get("hold")
    assert hold is not None, "no critical finding held the run"
    assert hold["actor"] == "atlas"
    assert hold["reason"].startswith("critical")
    dead = [f for f in hold["params"]["findings"] if f["check"] == "layer.dead"]
    assert dead, hold
    assert dead[0]["layer"] == "act"  # the ReLU after the hidden layer never fires
    log = audit(atlasd, run_id)["actions"]
    assert [(a["action"], a["outcome"]) for a in log[:2]] == [
        ("hold", "applied"),
        ("resume", "applied"),
    ]
    assert atlasd.run(run_id)["status"] == "completed"


def test_actions_on_finished_or_unknown_runs_get_clear_errors(
    atlasd: Atlasd, spool_dir: str
) -> None:
    run_id = "finished"
    observer = Observer(config=config(atlasd, spool_dir, run_id))
    Training().run(observer, epochs=1)
    observer.finish()
    status, body = post(atlasd, f"/api/v1/runs/{run_id}/actions", {"action": "stop"})
    assert status == 409
    assert body["reason"] == (
        f"run '{run_id}' is completed; control actions apply only to running runs"
    )
    status, body = post(atlasd, "/api/v1/runs/nobody/actions", {"action": "stop"})
    assert status == 404
    assert "'nobody'" in body["reason"]
    cli = subprocess.run(
        [str(ATLAS_CLI), "pause", run_id, "--url", atlasd.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert cli.returncode == 1
    assert "is completed" in cli.stderr
