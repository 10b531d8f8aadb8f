"""The Gemma variants gemma-jax knows: names, handles, shapes and sizes.

One row per Keras-Hub causal-LM preset of the Gemma families. Shapes are the
published hyper-parameters; parameter counts are computed from them (tests check
them against Keras-Hub's preset metadata and abstractly built backbones).
Families whose architecture our training step cannot run yet (Gemma 3n, Gemma 4)
are listed with Keras-Hub's reported size and no shape. Importing this module
imports neither JAX nor Keras, so the CLI and the config validator can use it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace

from gemma_jax.models.architectures import ARCHITECTURES, CONTEXT_LENGTH, FULL_VOCABULARY
from gemma_jax.models.variant_shape import GemmaShape

EMBEDDED_MODEL = "gemma3_270m"  # = gemma_jax.models.loading.EMBEDDED_MODEL, without loading's Keras import
TINY_VOCABULARY_SIZE = 384  # = gemma_jax.models.loading.TINY_VOCABULARY_SIZE
TINY_CONTEXT_LENGTH = 1024


@dataclass(frozen=True)
class GemmaVariant:
    """One loadable Gemma: where it comes from and how big it is."""

    name: str  # the Keras-Hub preset name
    family: str  # e.g. "Gemma 3", "CodeGemma"
    kaggle_handle: str  # Keras-Hub weights on Kaggle
    hf_handle: str | None  # the original checkpoint on Hugging Face
    shape: GemmaShape | None  # None: an architecture our training step cannot run yet
    instruction_tuned: bool = False
    built_in: bool = False  # ships with gemma-jax: no download
    reported_params: int | None = None  # Keras-Hub's figure, for variants without a shape
    note: str = ""

    @property
    def params(self) -> int:
        return self.shape.parameter_count() if self.shape is not None else int(self.reported_params or 0)

    @property
    def context_length(self) -> int | None:
        return self.shape.context_length if self.shape is not None else None

    @property
    def trainable(self) -> bool:
        """Whether gemma-jax's training step can run this architecture."""
        return self.shape is not None

    @property
    def load_as(self) -> str:
        """What to pass as model.source: the built-in name, or the Keras-Hub handle."""
        return self.name if self.built_in else self.kaggle_handle


def _gemma(vocab, layers, hidden, heads, kv, head_dim, ffn, context=8192, **extra) -> GemmaShape:
    return GemmaShape("gemma", vocab, layers, hidden, heads, kv, head_dim, ffn, context, **extra)


def _gemma2(layers, hidden, heads, kv, head_dim, ffn) -> GemmaShape:
    caps = {"attention_soft_cap": 50.0, "final_soft_cap": 30.0}
    return _gemma(256_000, layers, hidden, heads, kv, head_dim, ffn, post_norms=True, **caps)


def _gemma3(layers, hidden, heads, kv, head_dim, ffn, context) -> GemmaShape:
    norms = {"post_norms": True, "query_key_norm": True}
    return GemmaShape("gemma3", 262_144, layers, hidden, heads, kv, head_dim, ffn, context, **norms)


def _vision(shape: GemmaShape, vocab: int = 262_144) -> GemmaShape:
    return replace(shape, vision_encoder=True, vocabulary_size=vocab)


GEMMA_2B = _gemma(256_000, 18, 2048, 8, 1, 256, 16384)
GEMMA_7B = _gemma(256_000, 28, 3072, 16, 16, 256, 24576)
GEMMA2_2B = _gemma2(26, 2304, 8, 4, 256, 9216)
GEMMA2_9B = _gemma2(42, 3584, 16, 8, 256, 14336)
GEMMA2_27B = _gemma2(46, 4608, 32, 16, 128, 36864)
VAULTGEMMA_1B = _gemma(256_000, 26, 1152, 4, 4, 256, 6912, context=1024)
GEMMA3_270M = _gemma3(18, 640, 4, 1, 256, 2048, 32768)
GEMMA3_1B = _gemma3(26, 1152, 4, 1, 256, 6912, 32768)
GEMMA3_4B = _gemma3(34, 2560, 8, 4, 256, 10240, 131072)
GEMMA3_12B = _gemma3(48, 3840, 16, 8, 256, 15360, 131072)
GEMMA3_27B = _gemma3(62, 5376, 32, 16, 128, 21504, 131072)
MEDGEMMA_4B, MEDGEMMA_27B = _vision(GEMMA3_4B, 262_208), _vision(GEMMA3_27B, 262_208)

IT = "it"  # instruction-tuned
MM = "vision+text weights; gemma-jax trains the text decoder"
NOT_YET = "Keras-Hub only: gemma-jax's training step does not run this architecture yet"

# (preset, family, Kaggle model, version, Hugging Face id, shape, instruction-tuned?, note)
# fmt: off
_ROWS = (
    ("gemma3_270m", "Gemma 3", "keras/gemma3", 3, "google/gemma-3-270m", GEMMA3_270M, "", ""),
    ("gemma3_instruct_270m", "Gemma 3", "keras/gemma3", 4, "google/gemma-3-270m-it", GEMMA3_270M, IT, ""),
    ("gemma3_1b", "Gemma 3", "keras/gemma3", 3, "google/gemma-3-1b-pt", GEMMA3_1B, "", ""),
    ("gemma3_instruct_1b", "Gemma 3", "keras/gemma3", 3, "google/gemma-3-1b-it", GEMMA3_1B, IT, ""),
    ("gemma3_4b_text", "Gemma 3", "keras/gemma3", 2, "google/gemma-3-4b-pt", GEMMA3_4B, "", ""),
    ("gemma3_instruct_4b_text", "Gemma 3", "keras/gemma3", 3, "google/gemma-3-4b-it", GEMMA3_4B, IT, ""),
    ("gemma3_12b_text", "Gemma 3", "keras/gemma3", 3, "google/gemma-3-12b-pt", GEMMA3_12B, "", ""),
    ("gemma3_instruct_12b_text", "Gemma 3", "keras/gemma3", 3, "google/gemma-3-12b-it", GEMMA3_12B, IT, ""),
    ("gemma3_27b_text", "Gemma 3", "keras/gemma3", 4, "google/gemma-3-27b-pt", GEMMA3_27B, "", ""),
    ("gemma3_instruct_27b_text", "Gemma 3", "keras/gemma3", 3, "google/gemma-3-27b-it", GEMMA3_27B, IT, ""),
    ("gemma3_4b", "Gemma 3", "keras/gemma3", 1, "google/gemma-3-4b-pt", _vision(GEMMA3_4B), "", MM),
    ("gemma3_instruct_4b", "Gemma 3", "keras/gemma3", 1, "google/gemma-3-4b-it", _vision(GEMMA3_4B), IT, MM),
    ("gemma3_12b", "Gemma 3", "keras/gemma3", 2, "google/gemma-3-12b-pt", _vision(GEMMA3_12B), "", MM),
    ("gemma3_instruct_12b", "Gemma 3", "keras/gemma3", 2, "google/gemma-3-12b-it", _vision(GEMMA3_12B), IT, MM),
    ("gemma3_27b", "Gemma 3", "keras/gemma3", 2, "google/gemma-3-27b-pt", _vision(GEMMA3_27B), "", MM),
    ("gemma3_instruct_27b", "Gemma 3", "keras/gemma3", 2, "google/gemma-3-27b-it", _vision(GEMMA3_27B), IT, MM),
    ("function_gemma_instruct_270m", "FunctionGemma", "keras/function-gemma", 1, "google/functiongemma-270m-it",
     GEMMA3_270M, IT, ""),
    ("medgemma_4b", "MedGemma", "keras/medgemma", 1, "google/medgemma-4b-pt", MEDGEMMA_4B, "", MM),
    ("medgemma_instruct_4b", "MedGemma", "keras/medgemma", 1, "google/medgemma-4b-it", MEDGEMMA_4B, IT, MM),
    ("medgemma_1.5_instruct_4b", "MedGemma", "keras/medgemma", 1, "google/medgemma-1.5-4b-it", MEDGEMMA_4B, IT, MM),
    ("medgemma_instruct_27b", "MedGemma", "keras/medgemma", 1, "google/medgemma-27b-it", MEDGEMMA_27B, IT, MM),
    ("medgemma_instruct_27b_text", "MedGemma", "keras/medgemma", 1, "google/medgemma-27b-text-it", GEMMA3_27B, IT, ""),
    ("gemma2_2b_en", "Gemma 2", "keras/gemma2", 2, "google/gemma-2-2b", GEMMA2_2B, "", ""),
    ("gemma2_instruct_2b_en", "Gemma 2", "keras/gemma2", 2, "google/gemma-2-2b-it", GEMMA2_2B, IT, ""),
    ("gemma2_9b_en", "Gemma 2", "keras/gemma2", 4, "google/gemma-2-9b", GEMMA2_9B, "", ""),
    ("gemma2_instruct_9b_en", "Gemma 2", "keras/gemma2", 4, "google/gemma-2-9b-it", GEMMA2_9B, IT, ""),
    ("gemma2_27b_en", "Gemma 2", "keras/gemma2", 3, "google/gemma-2-27b", GEMMA2_27B, "", ""),
    ("gemma2_instruct_27b_en", "Gemma 2", "keras/gemma2", 3, "google/gemma-2-27b-it", GEMMA2_27B, IT, ""),
    ("shieldgemma_2b_en", "ShieldGemma", "google/shieldgemma", 2, "google/shieldgemma-2b", GEMMA2_2B, IT, ""),
    ("shieldgemma_9b_en", "ShieldGemma", "google/shieldgemma", 2, "google/shieldgemma-9b", GEMMA2_9B, IT, ""),
    ("shieldgemma_27b_en", "ShieldGemma", "google/shieldgemma", 2, "google/shieldgemma-27b", GEMMA2_27B, IT, ""),
    ("c2s_scale_gemma_2_2b_en", "C2S-Scale", "keras/cell2sentence", 1, "vandijklab/C2S-Scale-Gemma-2-2B",
     GEMMA2_2B, "", ""),
    ("c2s_scale_gemma_2_27b_en", "C2S-Scale", "keras/cell2sentence", 1, "vandijklab/C2S-Scale-Gemma-2-27B",
     GEMMA2_27B, "", ""),
    ("vault_gemma_1b_en", "VaultGemma", "keras/vaultgemma", 2, "google/vaultgemma-1b", VAULTGEMMA_1B, "", ""),
    ("gemma_2b_en", "Gemma 1", "keras/gemma", 3, "google/gemma-2b", GEMMA_2B, "", ""),
    ("gemma_instruct_2b_en", "Gemma 1", "keras/gemma", 3, "google/gemma-2b-it", GEMMA_2B, IT, ""),
    ("gemma_1.1_instruct_2b_en", "Gemma 1", "keras/gemma", 4, "google/gemma-1.1-2b-it", GEMMA_2B, IT, ""),
    ("gemma_7b_en", "Gemma 1", "keras/gemma", 4, "google/gemma-7b", GEMMA_7B, "", ""),
    ("gemma_instruct_7b_en", "Gemma 1", "keras/gemma", 4, "google/gemma-7b-it", GEMMA_7B, IT, ""),
    ("gemma_1.1_instruct_7b_en", "Gemma 1", "keras/gemma", 5, "google/gemma-1.1-7b-it", GEMMA_7B, IT, ""),
    ("code_gemma_2b_en", "CodeGemma", "keras/codegemma", 2, "google/codegemma-2b", GEMMA_2B, "", ""),
    ("code_gemma_1.1_2b_en", "CodeGemma", "keras/codegemma", 2, "google/codegemma-1.1-2b", GEMMA_2B, "", ""),
    ("code_gemma_7b_en", "CodeGemma", "keras/codegemma", 3, "google/codegemma-7b", GEMMA_7B, "", ""),
    ("code_gemma_instruct_7b_en", "CodeGemma", "keras/codegemma", 3, "google/codegemma-7b-it", GEMMA_7B, IT, ""),
    ("code_gemma_1.1_instruct_7b_en", "CodeGemma", "keras/codegemma", 3, "google/codegemma-1.1-7b-it",
     GEMMA_7B, IT, ""),
)
# fmt: on

# Keras-Hub causal LMs of newer families: (preset, family, Kaggle model, version, Hugging Face id, it?, params
# as Keras-Hub reports them). Gemma 3n adds per-layer embeddings and AltUp; Gemma 4 per-layer embeddings and MoE.
_KERAS_HUB_ONLY = (
    ("gemma3n_e2b", "Gemma 3n", "keras/gemma-3n", 1, "google/gemma-3n-E2B", "", 5_439_595_456),
    ("gemma3n_e2b_it", "Gemma 3n", "keras/gemma-3n", 1, "google/gemma-3n-E2B-it", IT, 5_439_595_456),
    ("gemma3n_e4b", "Gemma 3n", "keras/gemma-3n", 1, "google/gemma-3n-E4B", "", 7_850_135_376),
    ("gemma3n_e4b_it", "Gemma 3n", "keras/gemma-3n", 1, "google/gemma-3n-E4B-it", IT, 7_850_135_376),
    ("gemma4_2b", "Gemma 4", "keras/gemma4", 2, None, "", 5_100_000_000),
    ("gemma4_instruct_2b", "Gemma 4", "keras/gemma4", 2, None, IT, 5_100_000_000),
    ("gemma4_4b", "Gemma 4", "keras/gemma4", 2, None, "", 7_900_000_000),
    ("gemma4_instruct_4b", "Gemma 4", "keras/gemma4", 2, None, IT, 7_900_000_000),
    ("gemma4_26b_a4b", "Gemma 4", "keras/gemma4", 2, None, "", 26_000_000_000),
    ("gemma4_instruct_26b_a4b", "Gemma 4", "keras/gemma4", 2, None, IT, 26_000_000_000),
    ("gemma4_31b", "Gemma 4", "keras/gemma4", 2, None, "", 31_000_000_000),
    ("gemma4_instruct_31b", "Gemma 4", "keras/gemma4", 2, None, IT, 31_000_000_000),
)


def _kaggle(model: str, preset: str, version: int) -> str:
    return f"kaggle://{model}/keras/{preset}/{version}"


VARIANTS: tuple[GemmaVariant, ...] = tuple(
    GemmaVariant(name, family, _kaggle(kaggle, name, version), hf, shape, it == IT, name == EMBEDDED_MODEL, None, note)
    for name, family, kaggle, version, hf, shape, it, note in _ROWS
) + tuple(
    GemmaVariant(name, family, _kaggle(kaggle, name, version), hf, None, it == IT, False, params, NOT_YET)
    for name, family, kaggle, version, hf, it, params in _KERAS_HUB_ONLY
)

_BY_NAME = {v.name: v for v in VARIANTS}
_BY_HANDLE = {v.kaggle_handle: v for v in VARIANTS} | {f"hf://{v.hf_handle}": v for v in VARIANTS if v.hf_handle}


def list_variants() -> tuple[GemmaVariant, ...]:
    """Every variant, the built-in default first."""
    return tuple(sorted(VARIANTS, key=lambda v: not v.built_in))


def find_variant(name: str) -> GemmaVariant | None:
    """A variant by preset name, Kaggle handle (any version) or hf:// id; None if unknown."""
    if name in _BY_NAME or name in _BY_HANDLE:
        return _BY_NAME.get(name) or _BY_HANDLE[name]
    if name.startswith("kaggle://"):  # another version of a known preset
        parts = name.removeprefix("kaggle://").split("/")
        return _BY_NAME.get(parts[3]) if len(parts) >= 4 else None
    return None


def shape_for_source(source: str) -> GemmaShape | None:
    """The shape a `model.source` loads, without loading it; None when it cannot be known up front.

    Understands registry names and handles, tiny:/random: architectures, and local Keras preset
    directories (their config.json).
    """
    kind, _, arch = source.partition(":")
    if kind in ("tiny", "random") and arch in ARCHITECTURES:
        family, kwargs = ARCHITECTURES[arch]
        vocab = FULL_VOCABULARY.get(arch, TINY_VOCABULARY_SIZE) if kind == "random" else TINY_VOCABULARY_SIZE
        context = CONTEXT_LENGTH[family] if kind == "random" else TINY_CONTEXT_LENGTH
        backbone_class = "Gemma3Backbone" if family == "gemma3" else "GemmaBackbone"
        return GemmaShape.from_keras_hub_config(backbone_class, {**kwargs, "vocabulary_size": vocab}, context)
    variant = find_variant(source)
    if variant is not None:
        return variant.shape
    config_file = os.path.join(source, "config.json")
    if os.path.isfile(config_file):
        try:
            with open(config_file) as handle:
                saved = json.load(handle)
            family = "gemma3" if saved.get("class_name") == "Gemma3Backbone" else "gemma"
            return GemmaShape.from_keras_hub_config(saved.get("class_name"), saved["config"], CONTEXT_LENGTH[family])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # not a Gemma preset: the loader reports that properly
    return None
