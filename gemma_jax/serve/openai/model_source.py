"""What `gemma-jax serve MODEL` serves: one function resolves a run, an export folder or a model source.

Export folders of every format are read by `load_model` itself (models/sources/export_folder.py), so a
new export format needs nothing here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gemma_jax.models.loaded_model import LoadedModel

EXPORT_MANIFEST = "export.json"


@dataclass(frozen=True)
class ServedModel:
    model: LoadedModel
    model_id: str  # the name clients send as `model` and GET /v1/models lists
    description: str  # for the startup message


def resolve_model(source: str, step: int | None = None) -> ServedModel:
    """Load what `source` names: RUN_DIR (checkpoint `step`, default latest), an export folder, or any
    source `load_model` accepts (a Keras preset folder, a .gguf file, tiny:gemma3, gemma3_270m, ...)."""
    from gemma_jax.serve.sources import is_run_dir, load_source

    path = os.path.expanduser(source)
    name = os.path.basename(os.path.abspath(path))  # "../.." too names the folder it is
    if is_run_dir(path):
        model, loaded_step = load_source(path, step)
        return ServedModel(model, name, f"run {path} at checkpoint step {loaded_step}")
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, EXPORT_MANIFEST)):
        if step is not None:
            raise ValueError(f"--step applies to a run directory; {source} is an export of one step already")
        model, _ = load_source(path)  # load_model finds the model inside (models/sources/export_folder.py)
        return ServedModel(model, name, f"export {path}")
    model, _ = load_source(source, step)
    model_id = name if os.path.exists(path) else source
    return ServedModel(model, model_id, source)
