"""Requests that reach a running job between steps: control.json (a queue, oldest first) and signals."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from gemma_jax.runs.run_store import RunStore, learning_rate_problem
from gemma_jax.runs.schema import Action, Control, State, Status

STOP = "stop"  # a signal arrived: not a control.json action, but it ends the run the same way


class ControlChannel:
    """Turns control.json requests and SIGTERM/SIGINT into actions for the loop.

    `poll()` returns "save", "abort", "stop" (a signal) or None; a pause request
    blocks inside poll (status "paused") until resume, abort or a signal, after calling
    `on_pause()`. A `set_lr` request (running or paused) goes to `on_set_lr(value)` once its
    value is checked; a bad value is reported in log.txt and status.json `control_error`, and
    the run goes on.
    """

    def __init__(
        self,
        store: RunStore,
        poll_seconds: float = 0.2,
        on_set_lr: Callable[[float], None] | None = None,
        on_pause: Callable[[], None] | None = None,
    ):
        self.store = store
        self.poll_seconds = poll_seconds
        self.on_set_lr = on_set_lr
        self.on_pause = on_pause  # called once before a pause is waited out
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
        """The oldest pending action; learning-rate changes before it are applied on the way, so a
        set_lr followed by a save or pause takes effect before the save or pause does."""
        while (request := self.store.read_control()) is not None:
            self.store.clear_control(request.get(Control.ID))
            self.store.update_status(
                **{Status.CONTROL_ACK: request.get(Control.ID), Status.CONTROL_ACTION: request.get(Control.ACTION)}
            )
            if request.get(Control.ACTION) != Action.SET_LR:
                return request.get(Control.ACTION)
            self._set_lr(request.get(Control.VALUE))
        return None

    def _set_lr(self, value) -> None:
        problem = learning_rate_problem(value)
        if problem is None and self.on_set_lr is None:
            problem = "this job cannot change its learning rate"
        if problem:
            self.store.log(f"set_lr ignored: {problem}; the run continues with its learning rate", level="WARNING")
            self.store.update_status(**{Status.CONTROL_ERROR: problem})
            return
        self.on_set_lr(float(value))
        self.store.update_status(**{Status.CONTROL_ERROR: None})

    def poll(self) -> str | None:
        if self.signal_name:
            return STOP
        action = self._take()
        if action != Action.PAUSE:
            return action if action in (Action.SAVE, Action.ABORT) else None
        if self.on_pause is not None:
            self.on_pause()
        self.store.update_status(**{Status.STATE: State.PAUSED})
        self.store.log("paused; waiting for resume")
        while True:
            time.sleep(self.poll_seconds)
            if self.signal_name:
                return STOP
            action = self._take()
            if action in (Action.RESUME, Action.ABORT, Action.SAVE):
                self.store.update_status(**{Status.STATE: State.RUNNING})
                self.store.log("resumed" if action == Action.RESUME else f"{action} requested while paused")
                return None if action == Action.RESUME else action
