"""Plain-words explanations and labels of the settings the New-run wizard shows, keyed by config path.

They are the config fields' own descriptions (`setting(...)` in gemma_jax/config): written
for someone who has never fine-tuned a model, shown next to each widget as a tooltip.
"""

from __future__ import annotations

from gemma_jax.config.fields import spec_for


def label_for(path: str) -> str:
    """A short widget label for a config path: its own label, else the field name in words."""
    spec = spec_for(path)
    return (spec.label if spec else "") or path.rsplit(".", 1)[-1].replace("_", " ").capitalize()


def help_for(path: str) -> str:
    """The explanation for a config path, or '' when there is none."""
    spec = spec_for(path)
    return spec.help if spec else ""
