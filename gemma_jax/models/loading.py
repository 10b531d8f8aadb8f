"""Turn a `model.source` string into a LoadedModel.

Sources understood here (`describe_source` names the kind):
- ``gemma3_270m`` (embedded): the real pretrained Gemma 3 270M shipped on PyPI
  as a GGUF, imported once into a cached Keras preset. (Keras-Hub's preset of
  the same name is ``kaggle://keras/gemma3/keras/gemma3_270m/3``.)
- a Gemma, Gemma 2 or Gemma 3 ``.gguf`` file (gguf): converted once, cached by its sha256.
- a local Keras preset directory (preset-dir): what ``save_to_preset`` writes.
- a local Hugging Face checkpoint directory (hf-dir): config.json with
  model_type gemma, gemma2, gemma3_text or gemma3, safetensors weights,
  tokenizer.model (or tokenizer.json for Gemma 3); converted by Keras-Hub.
- a Keras-Hub preset name such as ``gemma3_instruct_1b`` or ``gemma2_2b_en``
  (hub), and ``kaggle://owner/model/keras/variant[/version]`` handles (kaggle):
  downloaded with kagglehub (KAGGLE_USERNAME/KAGGLE_KEY, Gemma license accepted).
- ``hf://org/model`` (hf): downloaded with huggingface_hub (HF_TOKEN or
  ``huggingface-cli login``, Gemma license accepted), then as a local directory.
- ``gs://bucket/path`` (gcs): a preset folder, checkpoint folder or .gguf on
  Cloud Storage, copied into $GEMMA_JAX_CACHE/gcs, then loaded like a local path.
- ``tiny:<arch>`` (tiny): a small random-init Gemma (see architectures.py)
  with a SentencePiece vocabulary trained on the job's own texts; tests, demos.
- ``random:<arch>`` (random): a full-size shape (e.g. gemma3_270m) with random
  weights and the real vocabulary size; for throughput and memory benchmarks.

Hub handles check connectivity first and fail within seconds offline, saying
what to set. Each source kind lives in gemma_jax/models/sources/.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import keras

from gemma_jax.models.architectures import ARCHITECTURES, CONTEXT_LENGTH, FULL_VOCABULARY
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.seeding import seeded_init
from gemma_jax.models.sources.errors import ModelLoadError
from gemma_jax.models.sources.export_folder import export_folder_model
from gemma_jax.models.sources.keras_fixes import apply_keras_hub_fixes
from gemma_jax.models.sources.kinds import EMBEDDED_MODEL, describe_source
from gemma_jax.models.sources.local_dir import load_local_dir
from gemma_jax.models.tiny_vocab import train_tiny_vocab
from gemma_jax.models.tokenizer import GemmaTextTokenizer

TINY_VOCABULARY_SIZE = 384

__all__ = ["EMBEDDED_MODEL", "ModelLoadError", "build_backbone", "describe_source", "load_model"]


def _backbone_class(family: str):
    import keras_hub

    return keras_hub.models.Gemma3Backbone if family == "gemma3" else keras_hub.models.GemmaBackbone


def build_backbone(arch: str, vocabulary_size: int, *, dtype: str, seed: int) -> tuple[keras.Model, str]:
    """Build a random-init backbone of a named shape; the same seed gives the same weights."""
    if arch not in ARCHITECTURES:
        raise ModelLoadError(f"unknown architecture '{arch}'; known: {', '.join(sorted(ARCHITECTURES))}")
    family, kwargs = ARCHITECTURES[arch]
    extra = {"text_only_model": True, "vision_encoder": None, "image_size": 896} if family == "gemma3" else {}
    with seeded_init(seed):
        backbone = _backbone_class(family)(vocabulary_size=vocabulary_size, dtype=dtype, **kwargs, **extra)
    apply_keras_hub_fixes(backbone)
    return backbone, family


def _random_init_model(source, kind, name, dtype, seed, vocab_texts, tokenizer_proto) -> LoadedModel:
    if tokenizer_proto is None:
        if not vocab_texts:
            raise ModelLoadError(f"model '{source}' needs texts to train its vocabulary on")
        tokenizer_proto = train_tiny_vocab(vocab_texts, vocab_size=TINY_VOCABULARY_SIZE)
    tokenizer = GemmaTextTokenizer(tokenizer_proto)
    vocab = FULL_VOCABULARY.get(name, tokenizer.vocabulary_size) if kind == "random" else tokenizer.vocabulary_size
    backbone, family = build_backbone(name, vocab, dtype=dtype, seed=seed)
    context = 1024 if kind == "tiny" else CONTEXT_LENGTH[family]
    return LoadedModel(backbone, tokenizer, source, family, context)


def _load_gguf(path: str, dtype: str, source: str) -> LoadedModel:
    from gemma_jax.models.gguf import GGUFFormatError, GGUFImportError, gguf_preset

    try:
        preset = gguf_preset(path, dtype)
    except (GGUFFormatError, GGUFImportError) as error:
        raise ModelLoadError(str(error)) from error
    return load_local_dir(preset, dtype, source=source)


def _load_downloaded(path: str, dtype: str, source: str) -> LoadedModel:
    """A hub or Cloud Storage download: a model directory, or a .gguf file."""
    if os.path.isdir(path):
        return load_local_dir(path, dtype, source=source)
    if path.lower().endswith(".gguf"):
        return _load_gguf(path, dtype, source)
    raise ModelLoadError(
        f"'{source}' is a single file, not a .gguf; give the folder of a Keras preset or Hugging Face checkpoint"
    )


def _unknown_source(source: str) -> ModelLoadError:
    if os.sep in source or source.startswith(("~", ".")):
        return ModelLoadError(f"model directory '{source}' does not exist")
    return ModelLoadError(
        f"cannot load model '{source}': give {EMBEDDED_MODEL} (the built-in pretrained Gemma 3 270M), a Gemma "
        "(1, 2 or 3) .gguf file, a local Keras preset or Hugging Face checkpoint directory, a Keras-Hub Gemma preset name "
        "(e.g. gemma3_instruct_1b), kaggle://owner/model/keras/variant[/version], hf://org/model, "
        f"gs://bucket/path, or tiny:<arch> / random:<arch> (arch one of {', '.join(sorted(ARCHITECTURES))})"
    )


def load_model(
    source: str,
    *,
    dtype: str = "float32",
    seed: int = 0,
    vocab_texts: Sequence[str] | None = None,
    tokenizer_proto: bytes | None = None,
) -> LoadedModel:
    """Load or build the model named by `source` in `dtype` (see the module docstring for the kinds).

    `tokenizer_proto` reuses a saved vocabulary (a resumed tiny run);
    otherwise tiny/random models train one on `vocab_texts`.
    """
    inside = export_folder_model(os.path.expanduser(source))
    if inside is not None:
        return dataclasses.replace(load_model(inside, dtype=dtype, seed=seed), source=source)
    kind = describe_source(source)
    if kind in ("tiny", "random"):
        name = source.partition(":")[2]
        return _random_init_model(source, kind, name, dtype, seed, vocab_texts, tokenizer_proto)
    if kind == "embedded":
        from gemma_jax.models.gguf import embedded_gemma3_270m_preset

        return load_local_dir(embedded_gemma3_270m_preset(dtype), dtype, source=source)
    if kind == "gguf":
        return _load_gguf(source, dtype, source)
    if kind in ("preset-dir", "hf-dir"):
        return load_local_dir(os.path.expanduser(source), dtype, source=source)
    if kind in ("hub", "kaggle", "hf"):
        from gemma_jax.models.sources.hub import fetch_hub_source

        return load_local_dir(fetch_hub_source(source), dtype, source=source)
    if kind == "gcs":
        from gemma_jax.models.sources.gcs import fetch_gcs

        return _load_downloaded(fetch_gcs(source), dtype, source)
    if os.path.isdir(os.path.expanduser(source)):  # a directory without a model config: say what it should hold
        return load_local_dir(os.path.expanduser(source), dtype, source=source)
    raise _unknown_source(source)
