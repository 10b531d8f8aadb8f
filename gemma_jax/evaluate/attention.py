"""The attention view's data: for a few of the hardest examples, every layer's and head's attention
over the prompt and reference answer, under the tuned and the base model, saved beside the report
as attention.npz (float16; arrays `<model>_<index>` [layers, heads, tokens, tokens] and
`pieces_<index>`). Read back by `read_attention` without JAX."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gemma_jax.runs.schema import EVAL_ATTENTION_FILE

ATTENTION = EVAL_ATTENTION_FILE
EXAMPLES = 3


def attention_arrays(run, rows: Sequence[dict], indices: Sequence[int]) -> dict[str, np.ndarray]:
    """{"tuned_<i>", "base_<i>", "pieces_<i>"} for each example index in `indices` (rows by "index")."""
    from gemma_jax.data import prompt_text
    from gemma_jax.models.attention_map import attention_map
    from gemma_jax.models.generation import Generator

    by_index = {row["index"]: row for row in rows}
    chosen = [by_index[i] for i in indices if i in by_index][:EXAMPLES]
    if not chosen:
        return {}
    generator = Generator(run.model, max_length=run.model.context_length)
    arrays: dict[str, np.ndarray] = {}
    for name, weights in (("tuned", run.tuned), ("base", run.base)):
        run.use(weights)
        for row in chosen:
            pieces, probabilities = attention_map(generator, prompt_text(row["prompt"]), row["reference"])
            arrays[f"{name}_{row['index']}"] = probabilities
            arrays[f"pieces_{row['index']}"] = np.asarray(pieces, dtype=str)
    return arrays


def read_attention(report_file) -> dict[int, dict]:
    """{example index: {"pieces": [...], "tuned": array, "base": array}} from the report's attention.npz."""
    path = Path(report_file).parent / ATTENTION
    if not path.is_file():
        return {}
    found: dict[int, dict] = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            kind, _, index = key.partition("_")
            if index.isdigit():
                value = data[key]
                found.setdefault(int(index), {})[kind] = value.tolist() if kind == "pieces" else value
    return found
