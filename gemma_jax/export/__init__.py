"""Export a run's checkpoint: its LoRA adapter, a merged Keras-Hub preset, its config, and one zip.

`python -m gemma_jax.export RUN_DIR` writes RUN_DIR/export/step-<N>/;
`list_exports` lists finished exports (without importing JAX).
"""

from gemma_jax.export.listing import export_dir, list_exports

__all__ = ["export_dir", "list_exports"]
