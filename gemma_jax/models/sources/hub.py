"""Fetch hub models into a local directory: Keras-Hub preset names, kaggle:// and hf:// handles.

Keras-Hub's `from_preset` could take these handles itself, but offline it
retries for ~25 s (Hugging Face) and then reports "no config.json", and it
has no way to check what a handle holds before downloading gigabytes. Here:
1. a complete copy in the hub client's own cache is used without any network
   (kagglehub's cache for versioned handles, huggingface_hub's for hf://);
2. otherwise one short request checks the hub is reachable (connectivity.py);
3. config.json alone is fetched and checked to be a Gemma text model;
4. then the rest, and the local directory goes through local_dir.py.
Credentials come from the hub clients' usual places (KAGGLE_USERNAME/KAGGLE_KEY
or ~/.kaggle/kaggle.json; HF_TOKEN or `huggingface-cli login`).
"""

from __future__ import annotations

import json
import os

from gemma_jax.models.sources.connectivity import require_reachable
from gemma_jax.models.sources.errors import ModelLoadError
from gemma_jax.models.sources.kinds import HF_PREFIX, KAGGLE_PREFIX
from gemma_jax.models.sources.local_dir import check_model_config

# Files a model needs, Keras preset or transformers layout; leaves out PyTorch .bin/.pth, GGUF and
# original/ checkpoints that Hugging Face repositories often carry as well.
HF_FILE_PATTERNS = ["*.json", "*.safetensors", "*.h5", "tokenizer.model", "*.spm"]
# Keras-Hub preset groups (metadata "path") that hold Gemma 1/2/3 decoders.
_GEMMA_PRESET_PATHS = {"gemma", "gemma3"}


def _local_copy_advice(kind: str) -> str:
    return f"or download the model where there is internet and give its local directory instead of the {kind} handle"


def _kaggle_advice(handle: str) -> str:
    parts = handle.split("/")
    page = f"https://www.kaggle.com/models/{parts[0]}/{parts[1]}" if len(parts) >= 2 else "https://www.kaggle.com"
    return (
        "Kaggle needs an API token: set KAGGLE_USERNAME and KAGGLE_KEY (or put kaggle.json in ~/.kaggle), "
        f"and accept the Gemma license on {page} with that account; " + _local_copy_advice("Kaggle")
    )


def _hf_advice(repo: str) -> str:
    return (
        "Gemma repositories are gated: accept the license on https://huggingface.co/" + repo + " and log in with "
        "`huggingface-cli login` (or set HF_TOKEN); " + _local_copy_advice("hf://")
    )


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot read the downloaded {path}: {error}") from error


# --- Keras-Hub preset names and kaggle:// ------------------------------------------------------


def preset_kaggle_handle(name: str) -> str:
    """The kaggle:// handle behind a Keras-Hub preset name, refusing presets that are not Gemma decoders."""
    import keras_hub

    preset = keras_hub.models.Backbone.presets[name]
    if preset.get("metadata", {}).get("path") not in _GEMMA_PRESET_PATHS:
        raise ModelLoadError(
            f"Keras-Hub preset '{name}' is not a Gemma, Gemma 2 or Gemma 3 model; gemma-jax fine-tunes those "
            "(e.g. gemma2_2b_en, gemma3_instruct_1b)"
        )
    return preset["kaggle_handle"]


def _kaggle_cached(handle: str) -> str | None:
    """The complete cached copy of a versioned handle, found without any network; None if there is none."""
    from kagglehub.cache import Cache
    from kagglehub.handle import parse_model_handle

    parsed = parse_model_handle(handle)
    return Cache().load_from_cache(parsed) if parsed.is_versioned() else None


def _kaggle_error(error: Exception, handle: str, source: str) -> ModelLoadError:
    import requests
    from kagglehub.exceptions import KaggleApiHTTPError

    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, KaggleApiHTTPError) and status in (401, 403):
        return ModelLoadError(f"Kaggle refused '{source}' (HTTP {status}). {_kaggle_advice(handle)}")
    if isinstance(error, KaggleApiHTTPError) and status == 404:
        return ModelLoadError(
            f"Kaggle has no model '{source}' (HTTP 404): check owner/model/framework/variation/version "
            f"(without credentials Kaggle also answers 404 for gated models). {_kaggle_advice(handle)}"
        )
    if isinstance(error, requests.RequestException):
        return ModelLoadError(f"downloading '{source}' from Kaggle failed: {error}. {_kaggle_advice(handle)}")
    return ModelLoadError(
        f"downloading '{source}' from Kaggle failed ({type(error).__name__}: {error}). {_kaggle_advice(handle)}"
    )


def fetch_kaggle(handle: str, source: str) -> str:
    """Local directory of Kaggle model `handle` (owner/model/framework/variation[/version])."""
    import kagglehub
    from kagglesdk.kaggle_env import get_endpoint, get_env, is_in_kaggle_notebook

    if len(handle.split("/")) not in (4, 5):
        raise ModelLoadError(
            f"'{source}' is not a Kaggle model handle; the form is kaggle://owner/model/framework/variation[/version], "
            "e.g. kaggle://keras/gemma3/keras/gemma3_instruct_1b/3"
        )
    try:
        cached = _kaggle_cached(handle)
    except ValueError as error:  # a version that is not a number
        raise ModelLoadError(f"'{source}' is not a Kaggle model handle: {error}") from error
    if cached:
        return cached
    if not is_in_kaggle_notebook():  # notebooks have attached models even without internet
        require_reachable(get_endpoint(get_env()), "Kaggle", source, _kaggle_advice(handle))
    try:
        check_model_config(_read_json(kagglehub.model_download(handle, "config.json")), source)
        return kagglehub.model_download(handle)
    except ModelLoadError:
        raise
    except Exception as error:  # kagglehub raises requests, kagglehub and ValueError types
        raise _kaggle_error(error, handle, source) from error


# --- hf:// --------------------------------------------------------------------------------------


def _has_weights(path: str) -> bool:
    names = set(os.listdir(path))
    if "config.json" not in names:
        return False
    if names & {"model.safetensors", "model.weights.h5"}:
        return True
    for index in ("model.safetensors.index.json", "model.weights.json"):
        if index in names:
            weight_map = _read_json(os.path.join(path, index)).get("weight_map", {})
            files = {f for v in weight_map.values() for f in (v if isinstance(v, list) else [v])}
            return all(os.path.exists(os.path.join(path, f)) for f in files)
    return False


def _hf_cached(repo: str) -> str | None:
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = huggingface_hub.snapshot_download(repo, allow_patterns=HF_FILE_PATTERNS, local_files_only=True)
    except LocalEntryNotFoundError:
        return None
    return path if _has_weights(path) else None


def _hf_error(error: Exception, repo: str, source: str) -> ModelLoadError:
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
    )

    if isinstance(error, GatedRepoError):
        return ModelLoadError(f"'{source}' is gated and this account has no access yet. {_hf_advice(repo)}")
    if isinstance(error, RepositoryNotFoundError):
        return ModelLoadError(
            f"the Hugging Face Hub has no repository '{repo}' that this login can see (check the name; gated and "
            f"private repositories look missing without a token). {_hf_advice(repo)}"
        )
    if isinstance(error, EntryNotFoundError):
        return ModelLoadError(f"'{source}' has no config.json: it is not a transformers checkpoint or Keras preset")
    if isinstance(error, HfHubHTTPError):
        return ModelLoadError(f"the Hugging Face Hub refused '{source}' ({error}). {_hf_advice(repo)}")
    return ModelLoadError(f"downloading '{source}' failed ({type(error).__name__}: {error}). {_hf_advice(repo)}")


def fetch_hf(repo: str, source: str) -> str:
    """Local directory of Hugging Face repository `repo` (org/name), model files only."""
    import huggingface_hub
    from huggingface_hub.errors import HFValidationError

    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ModelLoadError(
            f"'{source}' is not a Hugging Face handle; the form is hf://org/model, e.g. hf://google/gemma-3-1b-it"
        )
    try:
        cached = _hf_cached(repo)
    except HFValidationError as error:
        raise ModelLoadError(f"'{source}' is not a valid Hugging Face repository name: {error}") from error
    if cached:
        return cached
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        raise ModelLoadError(
            f"cannot load '{source}': HF_HUB_OFFLINE is set and it is not in the Hugging Face cache; unset "
            f"HF_HUB_OFFLINE where there is internet, {_local_copy_advice('hf://')}"
        )
    require_reachable(huggingface_hub.constants.ENDPOINT, "the Hugging Face Hub", source, _hf_advice(repo))
    try:
        check_model_config(_read_json(huggingface_hub.hf_hub_download(repo, "config.json")), source)
        return huggingface_hub.snapshot_download(repo, allow_patterns=HF_FILE_PATTERNS)
    except ModelLoadError:
        raise
    except Exception as error:  # huggingface_hub raises httpx, OSError and its own types
        raise _hf_error(error, repo, source) from error


def fetch_hub_source(source: str) -> str:
    """Local directory for a Keras-Hub preset name, kaggle:// handle or hf:// handle."""
    lowered = source.lower()
    if lowered.startswith(KAGGLE_PREFIX):
        return fetch_kaggle(source[len(KAGGLE_PREFIX) :], source)
    if lowered.startswith(HF_PREFIX):
        return fetch_hf(source[len(HF_PREFIX) :], source)
    handle = preset_kaggle_handle(source)
    return fetch_kaggle(handle[len(KAGGLE_PREFIX) :], source)
