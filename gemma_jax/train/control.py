"""Requests that reach a running job between steps: control.json and signals."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from gemma_jax.runs.run_store import RunStore, learning_rate_problem


class ControlChannel:
    """Turns control.json requests and SIGTERM/SIGINT into actions for the loop.

    `poll()` returns "save", "abort", "stop" (a signal) or None; a pause request
    blocks inside poll (status "paused") until resume, abort or a signal. A `set_lr`
    request (running or paused) goes to `on_set_lr(value)` once its value is checked;
    a bad value is reported in log.txt and status.json `control_error`, and the run goes on.
    """

    def __init__(self, store: RunStore, poll_seconds: float = 0.2, on_set_lr: Callable[[float], None] | None = None):
        self.store = store
        self.poll_seconds = poll_seconds
        self.on_set_lr = on_set_lr
        self.signal_name: str | None = None
        self._previous = {}

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def restore_signal_handlers(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum, frame) -> None:
        self.signal_name = signal.Signals(signum).name

    def _take(self) -> str | None:
        request = self.store.read_control()
        if request is None:
            return None
        self.store.clear_control(request.get("id"))
        self.store.update_status(control_ack=request.get("id"), control_action=request.get("action"))
        if request.get("action") == "set_lr":
            self._set_lr(request.get("value"))
        return request.get("action")

    def _set_lr(self, value) -> None:
        problem = learning_rate_problem(value)
        if problem is None and self.on_set_lr is None:
            problem = "this job cannot change its learning rate"
        if problem:
            self.store.log(f"set_lr ignored: {problem}; the run continues with its learning rate", level="WARNING")
            self.store.update_status(control_error=problem)
            return
        self.on_set_lr(float(value))
        self.store.update_status(control_error=None)

    def poll(self) -> str | None:
        if self.signal_name:
            return "stop"
        action = self._take()
        if action != "pause":
            return action if action in ("save", "abort") else None
        self.store.update_status(state="paused")
        self.store.log("paused; waiting for resume")
        while True:
            time.sleep(self.poll_seconds)
            if self.signal_name:
                return "stop"
            action = self._take()
            if action in ("resume", "abort", "save"):
                self.store.update_status(state="running")
                self.store.log("resumed" if action == "resume" else f"{action} requested while paused")
                return None if action == "resume" else action
