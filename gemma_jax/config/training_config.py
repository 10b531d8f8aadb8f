"""The optimizer, schedule, train, mesh, checkpoint and eval sections of a JobConfig."""

from __future__ import annotations

from dataclasses import dataclass

from gemma_jax.config.field_spec import setting
from gemma_jax.config.learning_rates import learning_rate_hint, typical_range
from gemma_jax.storage_cost import STORAGE_CLASSES

# gemma_jax/train/optimizer.py checks at import that it implements exactly these.
OPTIMIZERS = ("adamw", "adafactor", "lion", "sgd")
SCHEDULES = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class OptimizerConfig:
    """The rule that turns gradients into weight updates."""

    name: str = setting(
        "adamw",
        "The rule that updates the weights. AdamW is the safe default; Adafactor and Lion use less memory; SGD is "
        "the simplest.",
        choices=OPTIMIZERS,
        label="Optimizer",
        wizard="method.advanced",
    )
    learning_rate: float = setting(
        2e-4,
        "How big each update step is. Too high and the loss jumps or becomes NaN; too low and the model barely "
        f"changes. For LoRA, {typical_range('lora')} is usual: only the small adapters train, so they take larger "
        "steps than full fine-tuning. The low end is the safe choice for long runs on larger models; small models "
        "and short runs need the high end to learn in time (the quick start uses 1e-3 for its 30 steps on the 270M "
        f"model). Full fine-tuning wants about ten times less ({typical_range('full')}), DPO less still "
        f"({typical_range('dpo')}); Lion about three to ten times less than AdamW.",
        low=0,
        low_open=True,
        hint=learning_rate_hint("lora"),  # validate() says the hint for the run's method.kind
        wizard="method",
    )
    weight_decay: float = setting(
        0.0,
        "Gently pulls weights towards zero to reduce over-fitting. 0 to 0.1.",
        low=0,
        hint="use 0 to turn weight decay off",
        wizard="method.advanced",
    )
    b1: float = setting(
        0.9,
        "AdamW/Lion: how much the previous update direction carries over (0.9 is standard).",
        low=0,
        high=1,
        high_open=True,
        hint="the usual value is 0.9",
    )
    b2: float = setting(
        0.999,
        "AdamW/Lion: how slowly the step size adapts (0.999 is standard).",
        low=0,
        high=1,
        high_open=True,
        hint="the usual value is 0.999",
    )
    eps: float = setting(
        1e-8,
        "AdamW: a tiny number that avoids dividing by zero. Rarely changed.",
        low=0,
        hint="the usual value is 1e-8",
    )
    momentum: float = setting(
        0.9,
        "SGD: how much the previous update carries over.",
        low=0,
        high=1,
        high_open=True,
        hint="the usual value is 0.9",
    )
    max_grad_norm: float | None = setting(
        1.0,
        "Limits how big one update can be (gradient clipping), which prevents sudden jumps in the loss. 1.0 is "
        "typical; empty or 0 turns it off.",
        low=0,
        hint="use null or 0 to turn clipping off, or e.g. 1.0",
        label="Gradient clipping (max norm)",
        wizard="method.advanced",
    )


@dataclass(frozen=True)
class ScheduleConfig:
    """How the learning rate changes over the run."""

    name: str = setting(
        "cosine",
        "How the learning rate changes over the run: constant, falling in a straight line, or falling along a "
        "cosine curve (smooth, the usual choice).",
        choices=SCHEDULES,
        label="Learning-rate schedule",
        wizard="method",
    )
    warmup_steps: int = setting(
        0,
        "Steps at the start during which the learning rate climbs from zero to its peak. Avoids a rough start.",
        low=0,
        hint="use 0 for no warmup",
        unit="steps",
        wizard="method",
    )
    min_lr_ratio: float = setting(
        0.0,
        "The learning rate at the end, as a fraction of the peak (0 = decays to zero).",
        low=0,
        high=1,
        hint="it is the final learning rate as a fraction of the peak, e.g. 0.1",
        label="Final learning rate (fraction of peak)",
        wizard="method.advanced",
    )


@dataclass(frozen=True)
class TrainConfig:
    """How long and in what batches the run trains."""

    batch_size: int = setting(
        8,
        "How many rows the model learns from per step (all of them, however many pieces gradient accumulation "
        "splits them into). On a GPU or TPU a bigger batch is faster per example until memory runs out; on a CPU "
        "it only makes fewer, slower steps, so a small batch (8) learns faster per minute.",
        low=1,
        hint="e.g. 8",
        unit="rows",
        wizard="method",
    )
    grad_accum_steps: int = setting(
        1,
        "Split each batch into this many smaller pieces processed one after another: the same batch with less "
        "memory, a bit slower.",
        low=1,
        hint="use 1 for no gradient accumulation",
        label="Gradient accumulation steps",
        wizard="method.advanced",
    )
    max_steps: int | None = setting(
        None,
        "Stop after this many steps. When set it decides the run's length and Epochs is not used (the note below "
        "it says how many epochs that makes). Empty: run the Epochs.",
        low=1,
        hint="or use null to run train.epochs over the data",
        unit="steps",
        wizard="method",
    )
    epochs: float = setting(
        1.0,
        "How many times to go through the whole training set. 1-3 is usual; more risks memorising. Not used "
        "while Max steps is set.",
        low=0,
        low_open=True,
        hint="e.g. 1 for one pass over the data",
        wizard="method",
    )
    log_every_steps: int = setting(1, "How often to record loss and speed.", low=1, hint="e.g. 10", unit="steps")
    seed: int = setting(
        0,
        "A number that fixes the random start so a run can be repeated.",
        label="Training seed",
        wizard="method.advanced",
    )
    compilation_cache: bool = setting(
        True,
        "Keep the compiled training steps on disk ($GEMMA_JAX_XLA_CACHE, else ~/.cache/gemma_jax/xla), so the next "
        "run of the same model and shapes starts without recompiling. Off: compile every time.",
    )
    webhook_url: str | None = setting(
        None,
        "A web address that is told (with a POST) when the run completes, fails or is stopped.",
        names_a_path=True,
    )


@dataclass(frozen=True)
class MeshConfig:
    """Device mesh axes; -1 means "all devices left over"."""

    data: int = setting(1, "Devices that each hold a copy of the weights and a share of the batch (-1: the rest).")
    fsdp: int = setting(
        -1, "Devices the weights and the batch are split over (fully sharded data parallel; -1: the rest)."
    )
    model: int = setting(1, "Devices each layer's matrices are split over (tensor parallel; -1: the rest).")


@dataclass(frozen=True)
class CheckpointConfig:
    """Where and how often the training state is saved."""

    directory: str | None = setting(
        None, "Where checkpoints go: a folder or gs:// path (empty: the run's checkpoints folder).", names_a_path=True
    )
    every_steps: int = setting(
        50,
        "How often the training state is saved, so a stopped run can continue.",
        low=1,
        hint="e.g. 50",
        unit="steps",
        label="Save every N steps",
        wizard="method.advanced",
    )
    keep: int = setting(
        3,
        "How many recent checkpoints to keep on disk.",
        low=1,
        hint="it is how many recent checkpoints are kept, e.g. 3",
        label="Checkpoints kept",
        wizard="method.advanced",
    )
    keep_best: bool = setting(True, "Also keep the checkpoint with the lowest validation loss.")
    save: str = setting(
        "trainable",
        "What a checkpoint holds: only the trained weights (small; LoRA add-ons with LoRA) or the whole model.",
        choices=("trainable", "full"),
    )
    async_save: bool = setting(True, "Write checkpoints in the background while training goes on.")
    storage_class: str = setting(
        "standard",
        "Cloud Storage class of a gs:// checkpoint folder, for its monthly cost estimate.",
        choices=STORAGE_CLASSES,
    )
    price_per_gib_month: float | None = setting(
        None,
        "Your price in USD per GiB-month for that estimate (empty: the class's list price).",
        low=0,
        hint="it is USD per GiB-month, e.g. 0.020; null for the list price",
        unit="USD per GiB-month",
    )


@dataclass(frozen=True)
class EvalConfig:
    """Periodic evaluation, sample answers and early stopping during training; `gemma-jax evaluate`'s metrics."""

    every_steps: int = setting(
        50,
        "How often to measure the loss on the validation set (0 = never).",
        low=0,
        hint="use 0 to turn periodic evaluation off, or e.g. 50",
        unit="steps",
        label="Evaluate every N steps",
        wizard="method.advanced",
    )
    max_batches: int = setting(
        8,
        "How many validation batches each measurement uses (more = more precise, slower).",
        low=1,
        hint="e.g. 8",
    )
    sample_prompts: tuple[str, ...] = setting((), "Prompts the model answers during training, to read its progress.")
    sample_every_steps: int = setting(
        50,
        "How often the model answers the sample prompts so you can read its progress (0 = never).",
        low=0,
        hint="use 0 to turn samples off, or e.g. 50",
        unit="steps",
        label="Sample answers every N steps",
        wizard="method.advanced",
    )
    max_new_tokens: int = setting(32, "Longest sample answer, in tokens.", low=1, hint="e.g. 32", unit="tokens")
    early_stop_patience: int = setting(
        0,
        "Stop when the validation loss has not improved this many times in a row. 0 = never stop early.",
        low=0,
        hint="use 0 to turn early stopping off, or e.g. 3 evaluations",
        wizard="method.advanced",
    )
    early_stop_min_delta: float = setting(
        0.0,
        "How much the validation loss must drop to count as an improvement.",
        low=0,
        hint="use 0 to count any decrease of the eval loss, or e.g. 0.01",
        wizard="method.advanced",
    )
    metrics: tuple[str, ...] = setting(
        (), "`gemma-jax evaluate`'s task metrics, e.g. [rougeL, chrf] (empty: chosen by the data)."
    )
    custom_metrics: tuple[str, ...] = setting(
        (),
        "Your own metrics as 'module:function' names: callables (prediction, reference, example) -> float or dict.",
        names_a_path=True,
    )
