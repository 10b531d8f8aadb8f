"""The runs list for the CLI and the UI's Runs page: one summary per run directory, newest first.

It reads without writing and without trusting anything: a half-written, damaged or
foreign directory shows as state "unknown" with the reason, and a run whose process
died shows as "failed" (reported only; status.json is left for the engine/jobs layer).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from gemma_jax.runs.liveness import dead_run_error
from gemma_jax.runs.run_store import RunDirError, RunStore, is_run_dir
from gemma_jax.runs.schema import STATUS_FILE, Metric, State, Status


@dataclasses.dataclass(frozen=True)
class RunSummary:
    run_id: str
    path: Path
    state: str  # a status.json state, or "unknown" when it cannot be read
    step: int | None = None
    total_steps: int | None = None
    model_source: str | None = None
    method_kind: str | None = None
    last_loss: float | None = None
    best_eval_loss: float | None = None
    started: str | None = None
    updated: str | None = None
    pid: int | None = None
    error: str | None = None  # the run's error, or why its state is unknown


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _config_facts(path: Path) -> tuple[str | None, str | None]:
    """(model source, method kind) read leniently, so runs made by older versions still list."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    model, method = data.get("model"), data.get("method")
    source = _text(model.get("source")) if isinstance(model, dict) else None
    kind = _text(method.get("kind")) if isinstance(method, dict) else None
    return source, kind


def _losses(path: Path) -> tuple[float | None, float | None]:
    """(last training loss, best eval loss) from metrics.jsonl, parsing only lines that mention a loss."""
    last = best = None
    mention = Metric.LOSS.encode()  # eval_loss contains it too
    try:
        with open(path, "rb") as f:
            for line in f:
                if mention not in line or not line.endswith(b"\n"):
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(record, dict):
                    continue
                loss, eval_loss = _number(record.get(Metric.LOSS)), _number(record.get(Metric.EVAL_LOSS))
                last = loss if loss is not None else last
                if eval_loss is not None and (best is None or eval_loss < best):
                    best = eval_loss
    except OSError:
        pass
    return last, best


def _sort_time(path: Path, status: dict[str, Any]) -> float:
    for key in (Status.CREATED, Status.STARTED):
        try:
            return datetime.fromisoformat(status[key]).timestamp()
        except (KeyError, TypeError, ValueError):
            continue
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def summarize_run(path: Path) -> tuple[RunSummary, float]:
    """The summary of one run directory and its sort time; never raises for bad contents."""
    store = RunStore(path)
    source, kind = _config_facts(store.config_path)
    try:
        status = store.read_status()
    except RunDirError as err:
        reason = str(err) if store.status_path.exists() else f"{STATUS_FILE} is missing (half-created run?)"
        summary = RunSummary(path.name, path, "unknown", model_source=source, method_kind=kind, error=reason)
        return summary, _sort_time(path, {})
    except OSError as err:
        summary = RunSummary(path.name, path, "unknown", error=f"{STATUS_FILE} cannot be read: {err}")
        return summary, _sort_time(path, {})
    state = _text(status.get(Status.STATE)) or "unknown"
    error = _text(status.get(Status.ERROR))
    if state == "unknown" and error is None:
        error = f"{STATUS_FILE} has no state"
    dead = dead_run_error(status)
    if dead:
        state, error = State.FAILED, dead
    last, best = _losses(store.metrics_path)
    summary = RunSummary(
        run_id=path.name,
        path=path,
        state=state,
        step=_int(status.get(Status.STEP)),
        total_steps=_int(status.get(Status.TOTAL_STEPS)),
        model_source=source,
        method_kind=kind,
        last_loss=last,
        best_eval_loss=best,
        started=_text(status.get(Status.STARTED)),
        updated=_text(status.get(Status.UPDATED)),
        pid=_int(status.get(Status.PID)),
        error=error,
    )
    return summary, _sort_time(path, status)


def list_runs(runs_dir: str | os.PathLike[str]) -> list[RunSummary]:
    """Every run under `runs_dir`, newest first; [] when the folder does not exist yet.

    Hidden entries (runs being created) and folders with neither status.json nor
    config.yaml (not runs) are skipped.
    """
    root = Path(runs_dir)
    try:
        entries = [p for p in root.iterdir() if not p.name.startswith(".") and p.is_dir()]
    except OSError:
        return []
    found = []
    for path in entries:
        try:
            if not is_run_dir(path):
                continue
        except OSError:
            pass  # unreadable: listed below as unknown with the reason
        try:  # one odd directory must not stop the whole listing
            found.append(summarize_run(path))
        except (OSError, ValueError, TypeError, AttributeError, KeyError) as err:
            found.append((RunSummary(path.name, path, "unknown", error=f"cannot be read: {err}"), 0.0))
    found.sort(key=lambda item: (item[1], item[0].run_id), reverse=True)
    return [summary for summary, _ in found]


def _cell_step(run: RunSummary) -> str:
    if run.step is None:
        return "-"
    return f"{run.step}/{run.total_steps}" if run.total_steps else str(run.step)


def _cell_loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _cell_time(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "-"


# Terminal escape sequences: CSI (ESC [ ... final, or the one-byte CSI), OSC (ESC ] ... BEL or ESC \),
# and the short ones (ESC c, ESC ( B, ...); removed whole, so no "[31m" is left behind.
_ESCAPES = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]")


def one_line(value: str, width: int) -> str:
    """`value` as one line of at most `width` terminal columns, safe to print: escape sequences are
    removed, line breaks and runs of white space become one space, any other control, format or
    unpaired-surrogate character (an undecodable byte in a folder name) becomes "?", and what does
    not fit ends in "…". Run names, states, model names and errors come from files anyone who can
    write the runs folder controls; printed raw they could break the table or drive the terminal."""
    text = " ".join(_ESCAPES.sub("", value).split())
    text = "".join("?" if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    if _width(text) <= width:
        return text
    kept, used = [], 0
    for ch in text:
        used += _char_width(ch)
        if used > width - 1:
            break
        kept.append(ch)
    return "".join(kept) + "…"


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _width(text: str) -> int:
    return sum(_char_width(ch) for ch in text)


# The widest each column may be (user-controlled text is cut to it); STEP, LOSS, BEST EVAL and
# STARTED are formatted here and short.
_COLUMN_WIDTHS = {"RUN": 64, "STATE": 12, "MODEL": 48, "METHOD": 12}


def format_runs_table(runs: list[RunSummary], note_width: int = 60) -> str:
    """A plain-text table for `gemma-jax runs`, one line per run; errors and unknown-state reasons go in NOTE."""
    if not runs:
        return "no runs yet"
    header = ("RUN", "STATE", "STEP", "MODEL", "METHOD", "LOSS", "BEST EVAL", "STARTED", "NOTE")
    caps = [_COLUMN_WIDTHS.get(name, note_width if name == "NOTE" else 24) for name in header]
    rows = [header]
    for run in runs:
        cells = (
            run.run_id,
            run.state,
            _cell_step(run),
            run.model_source or "-",
            run.method_kind or "-",
            _cell_loss(run.last_loss),
            _cell_loss(run.best_eval_loss),
            _cell_time(run.started),
            run.error or "",
        )
        rows.append(tuple(one_line(cell, cap) for cell, cap in zip(cells, caps, strict=True)))
    widths = [max(_width(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell + " " * (width - _width(cell)) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)
