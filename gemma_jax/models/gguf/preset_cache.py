"""Converted GGUF models as Keras preset directories in a cache, written atomically and reused.

A conversion is written to a temporary sibling and renamed into place, so an
interrupted one leaves no half preset; a finished preset carries a marker
(`gguf_import.json`) with the conversion format, so a preset from an older
format is converted again. Presets live under ``$GEMMA_JAX_CACHE/presets``
(default ``~/.cache/gemma_jax/presets``), named by the GGUF's sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from typing import Any

from gemma_jax.models.gguf.errors import GGUFImportError
from gemma_jax.models.gguf.fast_init import skip_random_init

PRESET_MARKER = "gguf_import.json"
FORMAT_VERSION = 1  # bump when a conversion changes, so stale cached presets are not reused
_STALE_TEMP_SECONDS = 3600

# () -> (backbone, Keras-Hub tokenizer, facts for the marker file); the first two have `save_to_preset`
PresetBuilder = Callable[[], tuple[Any, Any, dict]]


def preset_cache_root() -> str:
    """Where converted presets live: $GEMMA_JAX_CACHE/presets (default ~/.cache/gemma_jax/presets)."""
    root = os.environ.get("GEMMA_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "gemma_jax"))
    return os.path.join(root, "presets")


def is_complete_preset(directory: str) -> bool:
    """Whether `directory` is a finished preset of the current conversion format."""
    marker = os.path.join(directory, PRESET_MARKER)
    if not os.path.isfile(marker):
        return False
    try:
        with open(marker) as file:
            info = json.load(file)
    except (OSError, ValueError):
        return False
    return info.get("format_version") == FORMAT_VERSION and all(
        os.path.exists(os.path.join(directory, name)) for name in ("config.json", "model.weights.h5", "tokenizer.json")
    )


def _remove_stale_temp_dirs(parent: str, prefix: str) -> None:
    """Remove temporary directories left by conversions killed more than an hour ago."""
    now = time.time()
    for name in os.listdir(parent):
        path = os.path.join(parent, name)
        try:
            if name.startswith(prefix) and now - os.path.getmtime(path) > _STALE_TEMP_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def write_preset(preset_dir: str, build: PresetBuilder, dtype: str, **info) -> str:
    """Save what `build()` returns as the preset `preset_dir`, unless a finished one is there.

    `info` and the facts `build` returns go into the marker file. If another
    process finished `preset_dir` first, theirs is kept.
    """
    if is_complete_preset(preset_dir):
        return preset_dir
    parent = os.path.dirname(os.path.abspath(preset_dir))
    os.makedirs(parent, exist_ok=True)
    temp_prefix = f".{os.path.basename(os.path.abspath(preset_dir))}.tmp-"
    _remove_stale_temp_dirs(parent, temp_prefix)
    started = time.time()
    backbone, tokenizer, facts = build()
    temp_dir = os.path.join(parent, f"{temp_prefix}{os.getpid()}-{secrets.token_hex(4)}")
    os.mkdir(temp_dir)
    try:
        backbone.save_to_preset(temp_dir)
        tokenizer.save_to_preset(temp_dir)
        record = {
            "format_version": FORMAT_VERSION,
            "dtype": dtype,
            "parameters": int(backbone.count_params()),
            "conversion_seconds": round(time.time() - started, 1),
            **info,
            **facts,
        }
        with open(os.path.join(temp_dir, PRESET_MARKER), "w") as file:
            json.dump(record, file, indent=2)
        if os.path.isdir(preset_dir) and not is_complete_preset(preset_dir):
            if not os.path.isfile(os.path.join(preset_dir, PRESET_MARKER)):
                raise GGUFImportError(f"'{preset_dir}' exists and is not a preset this importer wrote; remove it")
            shutil.rmtree(preset_dir)  # ours, from an older conversion format
        try:
            os.rename(temp_dir, preset_dir)
        except OSError:
            if not is_complete_preset(preset_dir):
                raise
            # another process won the race; use theirs
    finally:
        if os.path.isdir(temp_dir):
            shutil.rmtree(temp_dir, ignore_errors=True)
    return preset_dir


def load_preset(preset_dir: str, dtype: str | None = None):
    """Load a preset written here (or any Keras-Hub Gemma preset): returns (backbone, proto bytes).

    Same result as `keras_hub.models.Backbone.from_preset(preset_dir, dtype=dtype)`,
    but without running the random initializers first (see `skip_random_init`),
    and with Keras-Hub's query-scaling fix applied.
    """
    import keras_hub

    from gemma_jax.models.sources.keras_fixes import apply_keras_hub_fixes

    if not os.path.isfile(os.path.join(preset_dir, "config.json")):
        raise GGUFImportError(f"'{preset_dir}' is not a Keras preset directory (no config.json)")
    with skip_random_init():
        backbone = keras_hub.models.Backbone.from_preset(preset_dir, dtype=dtype)
    apply_keras_hub_fixes(backbone)
    vocabulary = os.path.join(preset_dir, "assets", "tokenizer", "vocabulary.spm")
    if os.path.isfile(vocabulary):
        with open(vocabulary, "rb") as file:
            proto = file.read()
    else:
        proto = keras_hub.tokenizers.Tokenizer.from_preset(preset_dir).proto
    return backbone, proto


def file_sha256(path: str) -> str:
    """The file's sha256 (hex), read in blocks: the cache key of a converted GGUF."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
