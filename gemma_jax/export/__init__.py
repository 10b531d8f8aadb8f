"""Export a run's checkpoint: its LoRA adapter and the merged model, each with its config, a README and a zip.

`python -m gemma_jax.export RUN_DIR` writes RUN_DIR/export/step-<N>-adapter/ and
RUN_DIR/export/step-<N>-merged/; `list_exports` lists finished exports (without importing JAX).
"""

from gemma_jax.export.listing import KINDS, export_dir, list_exports

__all__ = ["KINDS", "export_dir", "list_exports"]
