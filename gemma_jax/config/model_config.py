"""The `model` and `method` sections of a JobConfig: which Gemma to start from and how it learns."""

from __future__ import annotations

from dataclasses import dataclass

from gemma_jax.config.dtypes import DTYPES
from gemma_jax.config.field_spec import setting

# The implementations check at import that they provide exactly these: LoRA targets in
# gemma_jax/models/lora.py, methods in gemma_jax/train (setup) and the memory estimate.
METHOD_KINDS = ("lora", "qlora", "full", "dpo")
LORA_TARGETS = ("query", "key", "value", "attention_output", "ffw_gating", "ffw_gating_2", "ffw_linear")
QUANTIZATIONS = ("int8", "int4")
_WITH_LORA = ("lora", "qlora", "dpo")


@dataclass(frozen=True)
class ModelConfig:
    """Which Gemma to start from and how to run it."""

    source: str = setting(
        "tiny:gemma3",
        "The Gemma to start from. gemma3_270m is built in (no download); tiny:gemma3 and tiny:gemma are toy "
        "models for a quick try; larger ones are downloaded from Kaggle or Hugging Face (kaggle://, hf://), "
        "or read from gs:// or a folder.",
        names_a_path=True,
    )
    dtype: str = setting(
        "auto",
        "Number precision. bfloat16 halves memory and is fast on GPUs, TPUs and CPUs with bf16 units (Intel AMX "
        "or AVX512-BF16); float32 is exact, and faster on other CPUs. 'auto' picks for the hardware.",
        choices=DTYPES,
        label="Precision",
        wizard="method",
    )
    remat: bool | None = setting(
        None,
        "Recompute in-between results during training instead of storing them: less memory, about a third slower. "
        "Empty (auto): on only where the memory estimate says a step would not fit in this device's memory "
        "without it.",
        label="Recompute activations (remat)",
        wizard="method.advanced",
    )
    adapter: str | None = setting(
        None,
        "A LoRA adapter in PEFT's format (a folder with adapter_config.json) to fold into the base model first: "
        "training starts from the adapted model, and evaluation compares against it. Leave empty for the plain "
        "base.",
        names_a_path=True,
    )


@dataclass(frozen=True)
class MethodConfig:
    """Full fine-tuning, LoRA, QLoRA (LoRA on a quantized frozen base) or DPO (LoRA trained on
    preference pairs, the base with LoRA off as reference), and LoRA's settings."""

    kind: str = setting(
        "lora",
        "How much of the model changes. LoRA trains small add-on matrices (fast, little memory); QLoRA also "
        "stores the base model compressed (least memory); full changes every weight (most memory); DPO learns "
        "from pairs of a better and a worse answer.",
        choices=METHOD_KINDS,
        label="Method",
        wizard="method",
    )
    lora_rank: int = setting(
        8,
        "Size of the LoRA add-ons. Higher learns more but uses more memory; 8 to 32 is typical.",
        low=1,
        hint="typical values are 4 to 64",
        label="LoRA rank",
        wizard="method",
        only_for=_WITH_LORA,
    )
    lora_alpha: float = setting(
        16.0,
        "How strongly the LoRA add-ons act. A common choice is twice the rank.",
        low=0,
        low_open=True,
        hint="a common choice is twice method.lora_rank, e.g. 16 for rank 8",
        label="LoRA alpha",
        wizard="method",
        only_for=_WITH_LORA,
    )
    lora_targets: tuple[str, ...] = setting(
        ("query", "value"),
        "Which parts of each layer get LoRA add-ons. query and value is the classic choice; adding the "
        "feed-forward parts learns more.",
        choices=LORA_TARGETS,
        label="LoRA targets",
        wizard="method",
        only_for=_WITH_LORA,
    )
    quantization: str | None = setting(
        None,
        "QLoRA: how the frozen base weights are compressed. int8 is closer to the original; int4 uses half the "
        "memory of int8 (empty: int8).",
        choices=QUANTIZATIONS,
        wizard="method",
        only_for=("qlora",),
    )
    dpo_beta: float = setting(
        0.1,
        "DPO: how close the model must stay to the original. Higher = smaller changes.",
        low=0,
        low_open=True,
        hint="a common choice is 0.1 (higher keeps the model closer to the base)",
        label="DPO beta",
        wizard="method",
        only_for=("dpo",),
    )
    lora_dropout: float = setting(
        0.0,
        "Randomly switch off part of the LoRA add-ons while training so they do not memorise the data. 0 = off; "
        "0.05-0.1 helps on small datasets.",
        low=0,
        high=1,
        high_open=True,
        hint="use 0 to turn it off, or e.g. 0.05",
        label="LoRA dropout",
        wizard="method.advanced",
        only_for=_WITH_LORA,
    )

    @property
    def base_quantization(self) -> str | None:
        """How the frozen base projections are stored: int8/int4 for qlora, None (compute dtype) otherwise."""
        if self.kind != "qlora":
            return None
        return self.quantization or "int8"
