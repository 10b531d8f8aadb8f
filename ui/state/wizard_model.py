"""Step 2 of the New-run wizard: which Gemma, what it looks like, and whether the job fits in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import param

from gemma_jax.models.memory_check import estimate_for_config, fits, largest_batch, memory_problems
from gemma_jax.models.memory_estimate import GB
from gemma_jax.models.registry import EMBEDDED_MODEL, list_variants, shape_for_source
from gemma_jax.parallel.topologies import TOPOLOGIES
from ui.confinement import ConfinementError
from ui.state.hardware import detect_hardware, memory_budget
from ui.state.wizard_length import rows_per_epoch
from ui.state.wizard_words import in_page_words

if TYPE_CHECKING:
    from ui.state.new_run import NewRunState

TINY_MODELS = {"tiny:gemma3": "toy Gemma 3 for a quick try (seconds)", "tiny:gemma": "toy Gemma 1 for a quick try"}
CPU_BATCH = 8  # rows per step suggested on a CPU (JobConfig's default): short steps, the loss moves often


@dataclass(frozen=True)
class BatchAdvice:
    """The batch size to suggest on this machine, the largest that fits in memory, and why."""

    size: int
    largest: int
    reason: str


@dataclass(frozen=True)
class ModelChoice:
    source: str  # what goes into model.source
    label: str  # what the picker shows


def _count(params: int) -> str:
    return f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.1f}M" if params >= 1e6 else f"{params:,}"


def model_choices() -> list[ModelChoice]:
    """The built-in model first, then the toy models, then every registry variant training can run."""
    choices = []
    for variant in list_variants():
        if not variant.trainable:
            continue
        tag = "built in, no download" if variant.name == EMBEDDED_MODEL else "download"
        it = ", instruction-tuned" if variant.instruction_tuned else ""
        label = f"{variant.name} — {variant.family}{it}, {_count(variant.params)} parameters ({tag})"
        choices.append(ModelChoice(variant.load_as, label))
        if variant.name == EMBEDDED_MODEL:
            for source, what in TINY_MODELS.items():
                shape = shape_for_source(source)
                choices.append(ModelChoice(source, f"{source} — {what}, {_count(shape.parameter_count())} parameters"))
    return choices


class ModelStep(param.Parameterized):
    """The Model step: the picked source's architecture and the memory estimate on `hardware`."""

    error = param.String(default="", doc="why the typed source was refused, with what to do")

    def __init__(self, owner: NewRunState, hardware=None, **params):
        super().__init__(**params)
        self.owner = owner
        self.hardware = hardware if hardware is not None else detect_hardware()

    def choose(self, source: str) -> bool:
        """Train from `source`; False (with `error` set, the config unchanged) when it is refused,
        e.g. a folder outside a logged-in user's workspace: nothing of it is read then."""
        try:
            self.owner.set("model.source", source)
        except ConfinementError as err:
            self.error = str(err)
            return False
        self.error = ""
        return True

    def architecture(self) -> list[tuple[str, str]]:
        """(property, value) rows describing the chosen model; [] when its shape is unknown before loading."""
        cfg = self.owner.config
        shape = shape_for_source(cfg.model.source)
        if shape is None:
            return []
        kind = cfg.method.kind
        if kind == "full":
            trained = "every weight"
        else:
            trained = f"{', '.join(cfg.method.lora_targets)} in each of the {shape.num_layers} layers"
        lora = shape.lora_parameters(cfg.method.lora_rank, cfg.method.lora_targets) if kind != "full" else None
        rows = [
            ("parameters", _count(shape.parameter_count())),
            ("layers", str(shape.num_layers)),
            ("attention heads (query)", str(shape.num_query_heads)),
            ("key/value heads", str(shape.num_key_value_heads)),
            ("head size", str(shape.head_dim)),
            ("hidden size", str(shape.hidden_dim)),
            ("feed-forward size", str(shape.ffn_dim)),
            ("vocabulary", f"{shape.vocabulary_size:,} tokens"),
            ("context length", f"{shape.context_length:,} tokens"),
            ("trained", trained if kind == "full" else f"LoRA rank {cfg.method.lora_rank} on {trained}"),
        ]
        if lora is not None:
            rows.append(("trainable parameters", f"{_count(lora)} ({lora / shape.parameter_count():.2%})"))
        return rows

    def estimate(self) -> dict | None:
        """The job's memory estimate on this hardware: {"total", "available", "fits", parts...}, or None."""
        available, platform, devices = memory_budget(self.hardware)
        try:
            estimate = estimate_for_config(self.owner.config, platform=platform, devices=devices)
        except (TypeError, ValueError, KeyError, AttributeError):
            return None  # malformed values: the Review step lists them
        if estimate is None:
            return None
        return {**estimate.as_dict(), "available": available, "fits": estimate.total <= available}

    def warnings(self) -> list[str]:
        """Why the job will not fit, with the changes that would make it fit (from the engine's check)."""
        cfg = self.owner.config
        available, platform, devices = memory_budget(self.hardware)
        problems = memory_problems(cfg, available, platform=platform, devices=devices)
        if problems and cfg.data.sequence_length > 128:
            problems.append(
                f"Activations grow with the sequence length: a shorter Sequence length (now "
                f"{cfg.data.sequence_length}) or a smaller Batch size (now {cfg.train.batch_size}) also helps."
            )
        return [in_page_words(problem) for problem in problems]

    def suggested_batch_size(self) -> int | None:
        """The largest power-of-two batch whose microbatches fit in memory (None: shape unknown, or none fits)."""
        available, platform, devices = memory_budget(self.hardware)
        return largest_batch(self.owner.config, available, platform=platform, devices=devices)

    def batch_advice(self) -> BatchAdvice | None:
        """The fastest sensible batch on this machine (None: shape unknown, or no batch fits).

        On a CPU a step's time grows with its rows, so a big batch only makes fewer, longer steps:
        the suggestion is a small one (CPU_BATCH). On accelerators a bigger batch fills the chip, so
        it is the largest that fits in memory. Either way no more rows than one epoch of the data fills
        (the Method step warns about a bigger one).
        """
        largest = self.suggested_batch_size()
        if largest is None:
            return None
        cfg = self.owner.config
        accumulate = max(1, cfg.train.grad_accum_steps)
        on_cpu = memory_budget(self.hardware)[1] == "cpu"
        size = min(largest, -(-CPU_BATCH // accumulate) * accumulate) if on_cpu else largest
        cut = ""
        rows, known = rows_per_epoch(cfg, self.owner.data.result)
        while known and size > rows and size // 2 >= accumulate and (size // 2) % accumulate == 0:
            size //= 2
            cut = f"; more than the {rows} rows an epoch of your data fills would repeat examples in a step"
        if on_cpu:
            reason = (
                f"On a CPU a step takes about as long per row whatever the batch, so a bigger batch does not "
                f"get through the data sooner; it only makes fewer, longer steps, and the model improves less "
                f"per minute. {size} rows keep steps short (the most that fits in memory is {largest}{cut})."
            )
        else:
            reason = (
                f"On {self.hardware.describe()} a bigger batch keeps the accelerator busy, so each example costs "
                f"less time: {size} rows (the most that fits in memory is {largest}{cut})."
            )
        return BatchAdvice(size, largest, reason)

    def describe_memory(self) -> str:
        """One line for the page: estimate against what the hardware has."""
        estimate = self.estimate()
        hardware = self.hardware.describe()
        if estimate is None:
            return f"{hardware}. The memory estimate needs a known model shape; it is checked when the model loads."
        where = "per device" if memory_budget(self.hardware)[1] != "cpu" else "of RAM"
        verdict = "fits" if estimate["fits"] else "does NOT fit"
        return (
            f"{hardware}. Estimated peak {estimate['total'] / GB:.2f} GB {where} of {estimate['available'] / GB:.1f} "
            f"GB: {verdict} (weights {estimate['weights'] / GB:.2f}, optimizer {estimate['trainable_state'] / GB:.2f},"
            f" activations {estimate['activations'] / GB:.2f}, runtime {estimate['runtime'] / GB:.2f} GB)."
        )

    def describe_topologies(self) -> str:
        """Which TPU/GPU machines the job fits on, per device, from shapes alone (as `gemma-jax models
        --topology`): where to take it when this machine is too small. "" when the shape is unknown."""
        fit, too_big = [], []
        for topology in TOPOLOGIES.values():
            if topology.platform == "cpu":
                continue
            try:
                estimate = estimate_for_config(self.owner.config, platform=topology.platform, devices=topology.devices)
            except (TypeError, ValueError, KeyError, AttributeError):
                return ""
            if estimate is None:
                return ""
            entry = f"{topology.name} ({estimate.total / GB:.1f} of {topology.usable_bytes() / GB:.0f} GB)"
            (fit if fits(estimate, topology.usable_bytes()) else too_big).append(entry)
        return (
            f"Per device on accelerators: fits {', '.join(fit) or 'none of them'}"
            + (f"; too big for {', '.join(too_big)}" if too_big else "")
            + ". Their activation sizes are estimated from CPU measurements."
        )
