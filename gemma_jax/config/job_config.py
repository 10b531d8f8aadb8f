"""The one config type shared by the CLI, the dashboard, notebooks and the engine.

Every section is a frozen dataclass so a config can be hashed, compared and
passed between processes as YAML without surprises. Defaults describe a run
that works on a laptop CPU with the packaged example data.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AugmentConfig:
    """Extra copies of train examples (never validation or test); each is marked `augmentation`."""

    methods: tuple[str, ...] = ()  # synonym | insert | delete | swap | back_translation | paraphrase
    copies: int = 1  # new examples per original example and method
    synonym_rate: float = 0.1  # share of words replaced by a synonym
    insert_rate: float = 0.1  # synonyms inserted at random places, as a share of the words
    delete_rate: float = 0.1  # chance that each word is deleted
    swap_rate: float = 0.1  # swaps of two random words, as a share of the words
    turns: str = "user"  # which turns change: user | model | all
    pivot_language: str = "French"  # back_translation: there and back with the loaded model
    source_language: str = "English"  # back_translation: the language of the data
    max_new_tokens: int = 128  # back_translation / paraphrase: longest generated text
    temperature: float = 0.7  # back_translation / paraphrase sampling (0: greedy)


@dataclass(frozen=True)
class DataConfig:
    """Where the examples come from and how they become token rows."""

    train_path: str = "example"  # "example" = the dataset packaged with gemma_jax
    validation_path: str | None = None
    validation_fraction: float = 0.1  # held out of train_path when no validation_path
    format: str = "auto"  # auto | jsonl | json | csv | tsv | text | xlsx | xls | parquet
    prompt_column: str = "prompt"
    response_column: str = "response"
    system_column: str | None = None
    messages_column: str = "messages"
    text_column: str = "text"  # raw text (continued pretraining) and the classification input
    label_column: str = "label"  # classification
    chosen_column: str = "chosen"  # preference pairs (DPO)
    rejected_column: str = "rejected"
    shape: str = "auto"  # auto | prompt_response | chat | text | classification | preference
    infer_columns: bool = False  # map look-alike column names (question -> prompt) when unambiguous
    source: str = "auto"  # auto | file | hf | tfds (auto: "hf:NAME", "tfds:NAME", save_to_disk folders)
    split: str = "train"  # the split of a Hugging Face or TFDS dataset
    subset: str | None = None  # a Hugging Face dataset's configuration name
    data_dir: str | None = None  # TFDS data_dir / Hugging Face cache folder
    delimiter: str | None = None  # csv: null = "," (tab for .tsv)
    quote_char: str = '"'
    encoding: str = "utf-8"  # text files; a byte-order mark is skipped
    header: bool = True  # csv/excel: the first row names the columns (else column1, column2, ...)
    sheet: str | None = None  # excel: the sheet's name (null: the first sheet)
    text_mode: str = "lines"  # plain text: lines | blocks (blank-line separated) | regex
    text_regex: str | None = None  # text_mode regex: named groups become columns, e.g. (?P<prompt>...)
    loss_on: str = "response"  # response | all
    sequence_length: int = 256
    packing: bool = True
    shuffle: bool = True
    seed: int = 0
    test_path: str | None = None
    test_fraction: float = 0.0  # held out of train_path when no test_path
    split_by: str | None = None  # stratify validation/test by this label or column (null: random)
    clean_html: bool = False  # keep only the visible text of HTML
    unicode_form: str | None = "NFC"  # NFC | NFKC | null (off)
    drop_control_chars: bool = True
    normalize_whitespace: bool = False  # odd spaces, runs of spaces and blank lines, CRLF
    allow_special_tokens: bool = False  # user text may produce <start_of_turn> and other control tokens
    truncation: str = "right"  # right | left | keep_response (cut the prompt's start, keep the response)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class ModelConfig:
    """Which Gemma to start from and how to run it."""

    source: str = "tiny:gemma3"  # gemma3_270m, a preset name, kaggle:// hf:// gs://, a path, tiny:<arch>
    dtype: str = "auto"  # weights and compute: auto | float32 | bfloat16
    remat: bool = False  # recompute activations in the backward pass
    adapter: str | None = None  # a PEFT LoRA adapter folder, folded into the base before training or evaluating


@dataclass(frozen=True)
class MethodConfig:
    """Full fine-tuning, LoRA, QLoRA (LoRA on a quantized frozen base) or DPO (LoRA trained on
    preference pairs, the base with LoRA off as reference), and LoRA's settings."""

    kind: str = "lora"  # lora | qlora | full | dpo
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = ("query", "value")
    quantization: str | None = None  # qlora only: int8 | int4 (null: int8)
    dpo_beta: float = 0.1  # dpo only: strength of the pull towards the reference (higher: stay closer)
    lora_dropout: float = 0.0  # dropout on the adapters' input while training (0 <= p < 1; 0: off)

    @property
    def base_quantization(self) -> str | None:
        """How the frozen base projections are stored: int8/int4 for qlora, None (compute dtype) otherwise."""
        if self.kind != "qlora":
            return None
        return self.quantization or "int8"


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = "adamw"  # adamw | adafactor | lion | sgd
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    momentum: float = 0.9  # sgd only
    max_grad_norm: float | None = 1.0  # None or 0 turns clipping off


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = "cosine"  # constant | linear | cosine
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0  # final lr as a fraction of the peak


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 8  # packed rows per optimizer step, across all devices
    grad_accum_steps: int = 1
    max_steps: int | None = None  # None: run `epochs` over the data
    epochs: float = 1.0
    log_every_steps: int = 1
    seed: int = 0
    webhook_url: str | None = None  # http(s) URL that gets a JSON POST when the run ends


@dataclass(frozen=True)
class MeshConfig:
    """Device mesh axes; -1 means "all devices left over"."""

    data: int = 1
    fsdp: int = -1
    model: int = 1


@dataclass(frozen=True)
class CheckpointConfig:
    directory: str | None = None  # default: RUN_DIR/checkpoints
    every_steps: int = 50
    keep: int = 3  # most recent checkpoints kept
    keep_best: bool = True  # also keep the checkpoint with the lowest eval loss
    save: str = "trainable"  # trainable (LoRA only with LoRA) | full
    async_save: bool = True
    storage_class: str = "standard"  # Cloud Storage class of a gs:// directory: its monthly cost estimate
    price_per_gib_month: float | None = None  # USD per GiB-month for that estimate; None: the class's list price


@dataclass(frozen=True)
class EvalConfig:
    every_steps: int = 50  # 0 turns periodic eval off
    max_batches: int = 8
    sample_prompts: tuple[str, ...] = ()
    sample_every_steps: int = 50  # 0 turns samples off
    max_new_tokens: int = 32
    early_stop_patience: int = 0  # stop after this many evals without improvement of eval loss (0: off)
    early_stop_min_delta: float = 0.0  # an eval loss improves only when lower than the best by more than this
    metrics: tuple[str, ...] = ()  # `gemma-jax evaluate`'s task metrics; () chooses by the data (see gemma_jax.metrics)
    custom_metrics: tuple[str, ...] = ()  # "module:function" callables (prediction, reference, example) -> float | dict


@dataclass(frozen=True)
class JobConfig:
    """A whole fine-tuning job: the contract between UI, CLI, notebooks and engine."""

    name: str = "run"
    runs_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
