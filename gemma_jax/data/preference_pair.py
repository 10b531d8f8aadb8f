"""Preference pairs (prompt, chosen, rejected) for DPO: one shape, read from any supported file."""

from __future__ import annotations

from dataclasses import dataclass, replace

from gemma_jax.config.job_config import DataConfig
from gemma_jax.data.example import Turn


@dataclass(frozen=True)
class PreferencePair:
    """A prompt (as chat turns) with a preferred and a dispreferred reply; `source` is "file:row"."""

    prompt: tuple[Turn, ...]
    chosen: str
    rejected: str
    source: str = ""


def read_preference_pairs(path: str, cfg: DataConfig) -> list[PreferencePair]:
    """Read every pair in `path` (any supported format), or raise one DataError listing what to fix.

    Columns: data.prompt_column, data.chosen_column, data.rejected_column (and the optional
    data.system_column); chosen/rejected may also be two whole conversations that differ
    only in the last assistant message.
    """
    from gemma_jax.data.errors import DataError, raise_problems
    from gemma_jax.data.readers import stream_items

    if cfg.shape not in ("auto", "preference"):
        raise DataError(f"Preference pairs need data.shape: preference (or auto), not {cfg.shape!r}.", path=path)
    src, _, items = stream_items(path, replace(cfg, shape="preference"))
    pairs = [item.item for item in items if isinstance(item.item, PreferencePair)]
    raise_problems(path, [p.text() for p in src.problems if p.severity == "error"])
    if not pairs:
        raise DataError(
            f"{path} has no preference pairs. Add rows with {cfg.prompt_column!r}, {cfg.chosen_column!r} and "
            f"{cfg.rejected_column!r} columns.",
            path=path,
        )
    return pairs
