"""What the Method step says beside a field, where the value is typed: errors (they block Start),
warnings with why, and the run's length in epochs next to Max steps. In the page's words. No Panel import.

The engine's validate() refuses what cannot run (a learning rate of 0); these checks add what a
person needs to hear before a run wastes an hour (a learning rate of 50 runs, and diverges at once).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gemma_jax.config import validate
from gemma_jax.config.dtypes import auto_dtype_reason, resolve_dtype
from gemma_jax.config.learning_rates import METHOD_NAMES, typical_rate_text
from gemma_jax.models.memory_check import estimate_for_config
from gemma_jax.models.memory_estimate import GB
from gemma_jax.models.registry import shape_for_source
from ui.state.config_fields import has_field
from ui.state.hardware import memory_budget
from ui.state.wizard_length import estimated_total_steps, rows_per_epoch, steps_per_epoch, training_examples
from ui.state.wizard_words import in_page_words

if TYPE_CHECKING:
    from ui.state.new_run import NewRunState

_FIELD_FIRST = re.compile(r"([a-z_]+(?:\.[a-z_]+)+)\b")  # validate() starts a message with its key
MAX_ACCUMULATION = 4096  # rows per step up to which "raise Gradient accumulation steps" is offered


@dataclass(frozen=True)
class FieldNote:
    """One thing to say beside a field: level "error" (blocks Start), "warning" or "info"."""

    level: str
    text: str
    topic: str = ""  # "memory": this error is the engine's memory check, said at the field


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def rate_text(value: float) -> str:
    """A learning rate as people write it: 0.001, 2e-4, 50."""
    text = f"{value:.3g}"
    return text.replace("e-0", "e-").replace("e+0", "e+")


def epochs_text(value: float) -> str:
    shown = f"{value:.2g}" if value < 1 else f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
    return f"{shown} epoch" + ("" if shown == "1" else "s")


def field_notes(owner: NewRunState) -> dict[str, list[FieldNote]]:
    """Notes per config path for the current config, data check and hardware."""
    notes: dict[str, list[FieldNote]] = defaultdict(list)
    _learning_rate(owner, notes)
    _precision(owner, notes)
    batch_ok = _batch(owner, notes)
    _config_rules(owner, notes)
    if batch_ok and not notes.get("train.max_steps") and not notes.get("train.epochs"):
        _length(owner, notes)
    return dict(notes)


def _config_rules(owner: NewRunState, notes) -> None:
    """The engine's own rules (validate), each said beside the field it names, where no error is said
    there yet: a LoRA rank of -3, Max steps 0 or a validation share of 1.5 are refused where typed."""
    cfg = owner.config
    shape = shape_for_source(cfg.model.source) if isinstance(cfg.model.source, str) else None
    try:
        problems = validate(cfg, model_context_length=shape.context_length if shape is not None else None)
    except (TypeError, ValueError):
        return
    for problem in problems:
        found = _FIELD_FIRST.match(problem)
        if found is None or not has_field(found.group(1)):
            continue
        path = found.group(1)
        if any(note.level == "error" for note in notes.get(path, [])):
            continue
        notes[path].append(FieldNote("error", in_page_words(problem.replace("use null to", "leave it empty to"))))


def field_errors(owner: NewRunState) -> list[tuple[str, FieldNote]]:
    """(path, note) of every error: each one blocks Start."""
    return [(path, note) for path, found in owner.method.notes().items() for note in found if note.level == "error"]


def _precision(owner: NewRunState, notes) -> None:
    """What "auto" means on this machine, and why: the run's precision is never a guess."""
    if owner.config.model.dtype != "auto":
        return
    platform = memory_budget(owner.model.hardware)[1]
    chosen = resolve_dtype("auto", platform)
    notes["model.dtype"].append(FieldNote("info", f"Auto trains in {chosen} here: {auto_dtype_reason(platform)}."))


def _learning_rate(owner: NewRunState, notes) -> None:
    cfg = owner.config
    lr, kind, optimizer = cfg.optimizer.learning_rate, cfg.method.kind, cfg.optimizer.name
    typical = typical_rate_text(kind if isinstance(kind, str) else "lora")
    add = notes["optimizer.learning_rate"].append
    if not _is_number(lr) or lr <= 0:
        add(FieldNote("error", f"Type a learning rate above 0; {typical}."))
        return
    adapters = kind != "full"
    too_high = 10.0 if optimizer == "sgd" else 1.0
    # a warning from 5-20 times the top of the usual range (TYPICAL_LEARNING_RATES), where runs start to diverge
    high = (1e-3 if kind == "dpo" else 1e-2) if adapters else 1e-3
    low = 1e-7 if kind == "dpo" else 1e-6
    if optimizer == "lion":
        high /= 10  # Lion's updates have a fixed size: it wants 3-10 times smaller rates than AdamW
    elif optimizer == "sgd":
        high, low = high * 50, low * 100
    words = METHOD_NAMES.get(kind, kind)
    if lr >= too_high:
        add(
            FieldNote(
                "error",
                f"{rate_text(lr)} is far too high: every step would overshoot, and the loss becomes NaN within a "
                f"few steps. {_sentence(typical)}.",
            )
        )
    elif lr > high:
        add(
            FieldNote(
                "warning",
                f"{rate_text(lr)} is high for {words}{' with Lion' if optimizer == 'lion' else ''}: above about "
                f"{rate_text(high)} training usually diverges (the loss jumps or becomes NaN). {_sentence(typical)}.",
            )
        )
    elif lr < low:
        add(
            FieldNote(
                "warning",
                f"{rate_text(lr)} is very low: below about {rate_text(low)} the weights barely change, so the run "
                f"learns almost nothing. {_sentence(typical)}.",
            )
        )


def _batch(owner: NewRunState, notes) -> bool:
    """Batch size and gradient accumulation; True when both are usable numbers (the length can be said)."""
    cfg = owner.config
    batch, accumulate = cfg.train.batch_size, cfg.train.grad_accum_steps
    add = notes["train.batch_size"].append
    if not _is_int(accumulate) or accumulate < 1:
        notes["train.grad_accum_steps"].append(
            FieldNote("error", "Use 1 (each step in one piece) or more (a step's rows in that many pieces).")
        )
    if not _is_int(batch) or batch < 1:
        add(
            FieldNote(
                "error", "Type how many rows each step learns from: a whole number, at least 1 (8 is a good start)."
            )
        )
        return False
    if not _is_int(accumulate) or accumulate < 1:
        return False
    if batch % accumulate:
        lower, upper = batch // accumulate * accumulate, -(-batch // accumulate) * accumulate
        choices = f"{lower} or {upper}" if lower else f"{upper}"
        add(
            FieldNote(
                "error",
                f"{batch:,} rows cannot be split into {accumulate} equal pieces (Gradient accumulation steps is "
                f"{accumulate}): use {choices} rows, or a Gradient accumulation steps that divides {batch:,}.",
            )
        )
        return False
    if accumulate > 1:
        notes["train.grad_accum_steps"].append(
            FieldNote("info", f"Each step's {batch:,} rows go through in {accumulate} pieces of {batch // accumulate}.")
        )
    _batch_memory(owner, add)
    rows, known = rows_per_epoch(cfg, owner.data.result)
    if known and batch > rows:
        advice = owner.model.batch_advice()
        fewer = advice.size if advice is not None and advice.size <= rows else 2 ** int(math.log2(rows))
        add(
            FieldNote(
                "warning",
                f"{batch:,} rows per step is more than the about {rows:,} rows one epoch of your data fills, so "
                f"every step repeats examples. Use {fewer} or fewer.",
            )
        )
    return True


def _batch_memory(owner: NewRunState, add) -> None:
    """An error at Batch size when one step's rows do not fit in memory but fewer would, with the batch to
    use instead. When no batch fits, the batch is not the cause: the Model step and the Review say what is."""
    estimate = owner.model.estimate()
    if estimate is None or estimate["fits"]:
        return
    advice = owner.model.batch_advice()
    if advice is None:
        return
    batch = owner.config.train.batch_size
    where = "per device" if memory_budget(owner.model.hardware)[1] != "cpu" else "of memory"
    text = (
        f"{batch:,} rows per step need about {estimate['total'] / GB:,.0f} GB {where}; this machine has "
        f"{estimate['available'] / GB:,.0f} GB. Use {advice.size} rows (suggested for this machine on the Model step)"
    )
    pieces = _fitting_accumulation(owner)
    if pieces:
        text += (
            f", or keep {batch:,} rows and set Gradient accumulation steps to {pieces} so that only "
            f"{batch // pieces:,} rows are in memory at a time"
        )
    add(FieldNote("error", text + ".", topic="memory"))


def _fitting_accumulation(owner: NewRunState) -> int | None:
    """The fewest pieces (a power of two dividing the batch) whose rows fit in memory; None past MAX_ACCUMULATION."""
    cfg = owner.config
    batch = cfg.train.batch_size
    if batch > MAX_ACCUMULATION:
        return None
    available, platform, devices = memory_budget(owner.model.hardware)
    pieces = max(2, cfg.train.grad_accum_steps * 2)
    while pieces <= batch and batch % pieces == 0:
        estimate = estimate_for_config(cfg, platform=platform, devices=devices, rows=batch // pieces)
        if estimate is not None and estimate.total <= available:
            return pieces
        pieces *= 2
    return None


def _length(owner: NewRunState, notes) -> None:
    """Max steps and Epochs: which one decides (Max steps, when set), and what it comes to in the other."""
    cfg, check = owner.config, owner.data.result
    max_steps, epochs, batch = cfg.train.max_steps, cfg.train.epochs, cfg.train.batch_size
    per_epoch = steps_per_epoch(cfg, check)
    rows, known = rows_per_epoch(cfg, check)
    examples = training_examples(check)[0]
    estimated = "" if known else " (estimated until the data is checked)"
    # Packing puts several short examples in one row, so the Data step's example count and this differ.
    data = (
        f"{examples:,} training examples packed into about {rows:,} rows of {cfg.data.sequence_length:,} tokens"
        if rows != examples
        else f"{rows:,} rows of data"
    )
    epoch_size = (
        f"one epoch ({data}) is about {per_epoch:,} step{'s' if per_epoch != 1 else ''} of {batch:,} rows{estimated}"
    )
    if max_steps is not None and (not _is_int(max_steps) or max_steps < 1):
        notes["train.max_steps"].append(
            FieldNote("error", "Leave Max steps empty to train for the Epochs, or give at least 1 step.")
        )
        return
    if not _is_number(epochs) or epochs <= 0:
        notes["train.epochs"].append(FieldNote("error", "Use more than 0 epochs, e.g. 1 for one pass over the data."))
        if not max_steps:
            return
    total = estimated_total_steps(cfg, check)[0]
    if max_steps:
        run = epochs_text(max_steps / per_epoch)
        notes["train.max_steps"].append(
            FieldNote("info", f"= {run}: {max_steps:,} steps, and {epoch_size}. Max steps decides the run's length.")
        )
        if _is_number(epochs) and epochs > 0:
            level = "warning" if abs(max_steps / per_epoch - epochs) >= 0.1 else "info"
            notes["train.epochs"].append(
                FieldNote(
                    level,
                    f"Not used: Max steps is set, so the run makes {run} ({max_steps:,} steps). Empty Max steps to "
                    "train for this many epochs instead.",
                )
            )
    else:
        notes["train.max_steps"].append(FieldNote("info", f"Empty: the run lasts the Epochs, about {total:,} steps."))
        notes["train.epochs"].append(FieldNote("info", f"= about {total:,} steps: {epoch_size}."))
    warmup = cfg.schedule.warmup_steps
    if _is_int(warmup) and warmup < 0:
        notes["schedule.warmup_steps"].append(FieldNote("error", "Use 0 for no warmup, or a number of steps."))
    elif _is_int(warmup) and warmup >= total > 1:
        notes["schedule.warmup_steps"].append(
            FieldNote(
                "warning",
                f"{warmup:,} warmup steps are as long as the whole run ({total:,} steps): the learning rate never "
                f"reaches its peak. About a tenth of the run is usual, e.g. {max(1, total // 10)}.",
            )
        )
