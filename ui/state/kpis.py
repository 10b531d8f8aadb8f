"""Key figures of a run for the Training page: progress, losses, throughput, elapsed time and ETA.

Computed from status.json and the metrics records seen so far; pure functions and a small
accumulator so they are tested without files or Panel.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from gemma_jax.runs.run_time import running_seconds
from gemma_jax.runs.schema import Metric, State, Status

# The metrics.jsonl figures whose latest value the cards show (device memory only where the backend reports it).
LATEST_METRICS = (
    Metric.STEP,
    Metric.EPOCH,
    Metric.LOSS,
    Metric.EVAL_LOSS,
    Metric.LR,
    Metric.TOKENS_PER_S,
    Metric.MFU,
    Metric.GRAD_NORM,
    Metric.DEVICE_MEMORY_GB,
    Metric.DEVICE_PEAK_MEMORY_GB,
)


def perplexity(eval_loss: float | None) -> float | None:
    """exp(eval loss), capped so a diverged loss shows as a huge number rather than an overflow."""
    return None if eval_loss is None else math.exp(min(eval_loss, 50.0))


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 24:
        return f"{hours // 24}d {hours % 24}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def format_bytes(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return "-"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


class KpiTracker:
    """The latest value of each figure, and the recent pace (steps per second of wall time) for the ETA."""

    def __init__(self, window: int = 50) -> None:
        self.latest: dict[str, float] = {}
        self.pace: deque[tuple[float, int]] = deque(maxlen=window)  # (time, step) of recent records

    def add(self, record: dict[str, Any]) -> None:
        for key in LATEST_METRICS:
            value = _number(record.get(key))
            if value is not None:
                self.latest[key] = value
        step, when = record.get(Metric.STEP), _number(record.get(Metric.TIME))
        if (
            isinstance(step, int)
            and when is not None
            and Metric.LOSS in record
            and not record.get(Metric.INCLUDES_COMPILE)
        ):
            if self.pace and step <= self.pace[-1][1]:
                self.pace.clear()  # a resumed run replays steps: measure its new pace only
            self.pace.append((when, step))

    def steps_per_second(self) -> float | None:
        if len(self.pace) < 2:
            return None
        (t0, s0), (t1, s1) = self.pace[0], self.pace[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 and s1 > s0 else None

    def eta_seconds(self, step: int | None, total: int | None) -> float | None:
        rate = self.steps_per_second()
        if rate is None or step is None or not total:
            return None
        return max(total - step, 0) / rate

    def summary(self, status: dict[str, Any], now: float) -> dict[str, Any]:
        """Every figure the page shows, as numbers (None when unknown)."""
        state = status.get(Status.STATE)
        step = status.get(Status.STEP) if isinstance(status.get(Status.STEP), int) else None
        total = status.get(Status.TOTAL_STEPS) if isinstance(status.get(Status.TOTAL_STEPS), int) else None
        eval_loss = self.latest.get(Metric.EVAL_LOSS)
        elapsed = running_seconds(status, now)  # pauses and the time between a stop and a resume left out
        return {
            "state": state,
            "step": step,
            "total_steps": total,
            "epoch": self.latest.get(Metric.EPOCH),
            "loss": self.latest.get(Metric.LOSS, _number(status.get(Status.LOSS))),
            "eval_loss": eval_loss,
            "best_eval_loss": _number(status.get(Status.BEST_EVAL_LOSS)),
            "perplexity": perplexity(eval_loss),
            "tokens_per_s": self.latest.get(Metric.TOKENS_PER_S),
            "mfu": self.latest.get(Metric.MFU),
            # the plot draws the schedule, so the card shows where it is now; status.json holds the peak
            "learning_rate": self.latest.get(Metric.LR),
            "peak_learning_rate": _number(status.get(Status.LEARNING_RATE)),
            "elapsed_s": elapsed,
            "eta_s": self.eta_seconds(step, total) if state == State.RUNNING else None,
            "device_memory_gb": self.latest.get(Metric.DEVICE_MEMORY_GB),
            "accelerator": self.on_accelerator,
        }

    @property
    def on_accelerator(self) -> bool:
        """Whether the run trains on an accelerator: the engine logs device memory only where the backend
        reports it (GPU, TPU), never on CPU. False until the first step says otherwise."""
        return Metric.DEVICE_MEMORY_GB in self.latest


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def kpi_cards(kpis: dict[str, Any], storage: int | None, storage_note: str = "") -> list[tuple[str, str, str]]:
    """(label, value, small note) of every key figure, in display order.

    Device memory is only shown for a run on an accelerator (on CPU it is never known)."""
    step, total = kpis.get("step"), kpis.get("total_steps")
    progress = "-" if step is None else (f"{step}/{total}" if total else str(step))
    mfu = kpis.get("mfu")
    lr, peak = _fmt(kpis.get("learning_rate"), ".2e"), _fmt(kpis.get("peak_learning_rate"), ".2e")
    cards = [
        ("Step", progress, ""),
        ("Epoch", _fmt(kpis.get("epoch"), ".2f"), ""),
        ("Loss", _fmt(kpis.get("loss")), ""),
        ("Eval loss", _fmt(kpis.get("eval_loss")), ""),
        ("Perplexity", _fmt(kpis.get("perplexity"), ".2f"), ""),
        ("Tokens/s", _fmt(kpis.get("tokens_per_s"), ",.0f"), ""),
        ("MFU", "-" if mfu is None else f"{100 * mfu:.1f}%", ""),
        ("Learning rate", lr, "" if peak in ("-", lr) else f"peak {peak}"),
        ("Elapsed", format_duration(kpis.get("elapsed_s")), ""),
        ("ETA", format_duration(kpis.get("eta_s")), ""),
    ]
    if kpis.get("accelerator"):
        memory = kpis.get("device_memory_gb")
        cards.append(("Device memory", "-" if memory is None else f"{memory:.2f} GB", ""))
    cards.append(("Checkpoints", format_bytes(storage), storage_note))
    return cards
