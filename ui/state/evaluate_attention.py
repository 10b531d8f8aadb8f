"""The Evaluate page's attention view: where each token looked, per layer and head, for the few hardest
examples an evaluation saves (no Panel).

gemma_jax.evaluate writes attention.npz beside report.json: float16 arrays `<model>_<index>`
[layers, heads, tokens, tokens] (row t: where token t looked) and `pieces_<index>`, the token
pieces of `<bos>` + the prompt as the model saw it + the reference. A large model's arrays are
hundreds of MB in all, so only the picked example and model are read (an .npz reads one array at a
time) and only that array is kept. Older or interrupted reports have no file; `note` says so.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import param

from gemma_jax.evaluate import ATTENTION, EXAMPLES, REPORT
from ui.state.evaluate_tokens import piece_text

MAX_LABEL = 12  # characters of a token on an axis; the tooltip has it whole
MODEL_ORDER = ("tuned", "base")
NONE_SAVED = (
    "This report has no attention maps: evaluations save them (for the {count} hardest examples) since a "
    "newer version of gemma-jax. Run the evaluation again to see them."
)
INTERRUPTED = "The evaluation was interrupted before the attention maps were made, so this report has none."
UNREADABLE = "The attention maps of this report could not be read (the file is damaged or was cut short)."


def token_label(piece: str, limit: int | None = MAX_LABEL) -> str:
    """A token as it reads on an axis or in a tooltip: '▁' a space, line breaks and tabs as marks, a
    token of spaces only as '␣' (it would not show), cut to `limit` characters."""
    text = piece_text(str(piece)).replace("\r", "\\r").replace("\n", "↵").replace("\t", "⇥")
    if not text.strip():
        text = "␣" * max(len(text), 1)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def heatmap_cells(weights: np.ndarray, pieces: list[str]) -> dict[str, list]:
    """One cell per (query, key) pair the token attended to at all (a causal model gives later tokens
    nothing): positions, weight and both tokens in full, for the heatmap and its tooltip."""
    queries, keys = np.nonzero(weights > 0)
    labels = [token_label(p, None) for p in pieces]
    return {
        "query": queries.tolist(),
        "key": keys.tolist(),
        "weight": weights[queries, keys].astype(float).tolist(),
        "query_token": [labels[q] for q in queries],
        "key_token": [labels[k] for k in keys],
    }


def _attention_keys(path: Path) -> dict[int, list[str]]:
    """{example index: models saved} from the file's list of arrays (nothing is decompressed)."""
    with np.load(path, allow_pickle=False) as data:
        names = set(data.files)
    found: dict[int, list[str]] = {}
    for name in names:
        kind, _, index = name.partition("_")
        if index.isdigit() and kind in MODEL_ORDER and f"pieces_{index}" in names:
            found.setdefault(int(index), []).append(kind)
    return {index: [m for m in MODEL_ORDER if m in models] for index, models in found.items()}


class AttentionState(param.Parameterized):
    examples = param.List(default=[], doc="the example indices with saved maps, hardest first")
    example = param.Integer(default=None, allow_None=True, doc="the example shown")
    models = param.List(default=[], doc="the models whose maps the example has (tuned, base)")
    model = param.Selector(default="tuned", objects=list(MODEL_ORDER))
    layers = param.Integer(default=0, doc="how many layers the shown map has")
    heads = param.Integer(default=0, doc="how many heads each layer has")
    layer = param.Integer(default=0, bounds=(0, None))
    head = param.Integer(default=0, bounds=(0, None))
    pieces = param.List(default=[], doc="the shown example's token pieces")
    note = param.String(default="", doc="why no map is shown, in plain words; empty when one is")
    loaded = param.Integer(default=0, doc="counts the arrays read: a view redraws when it moves")

    def __init__(self, **params):
        super().__init__(**params)
        self._path: Path | None = None
        self._models: dict[int, list[str]] = {}
        self._rows: dict[int, dict] = {}
        self._array: np.ndarray | None = None
        self.param.watch(self._read_example, ["example", "model"])

    def load(self, report: dict | None, rows: list[dict]) -> None:
        """Offer the attention maps saved with `report` (its rows give each example's text and loss)."""
        self._rows = {row["index"]: row for row in rows}
        self._path, self._models, self._array = None, {}, None
        note, examples = "", []
        report_file = Path(report["path"]) if report and report.get("path") else None
        path = report_file.parent / ATTENTION if report_file is not None and report_file.name == REPORT else None
        if report is None:
            note = ""
        elif path is None or not path.is_file():  # an older report, or one made without them
            note = INTERRUPTED if report.get("partial") else NONE_SAVED.format(count=EXAMPLES)
        else:
            try:
                self._models = _attention_keys(path)
            except (OSError, ValueError, zipfile.BadZipFile):
                note = UNREADABLE
            else:
                self._path = path
                examples = self._hardest_first(report, list(self._models))
                note = "" if examples else UNREADABLE
        self.note, self.examples = note, examples
        first = examples[0] if examples else None
        if first != self.example:
            self.example = first  # watched: reads it
        else:
            self._read_example()

    @staticmethod
    def _hardest_first(report: dict, indices: list[int]) -> list[int]:
        listed = ((report.get("hardest") or {}).get("highest_loss")) or []
        rank = {index: position for position, index in enumerate(listed)}
        return sorted(indices, key=lambda i: (i not in rank, rank.get(i, 0), i))

    def _read_example(self, _event=None) -> None:
        """Read the picked example's pieces and the picked model's array (the one array kept)."""
        models = self._models.get(self.example, []) if self.example is not None else []
        if models and self.model not in models:
            self.model = models[0]  # watched: this method runs again for it
            return
        array, pieces = None, []
        if models and self._path is not None:
            try:
                with np.load(self._path, allow_pickle=False) as data:
                    pieces = [str(p) for p in data[f"pieces_{self.example}"].tolist()]
                    array = data[f"{self.model}_{self.example}"]
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                array = None
            if array is not None and (array.ndim != 4 or array.shape[2:] != (len(pieces), len(pieces))):
                array = None  # not what the evaluation writes: never a misdrawn map
            self.note = "" if array is not None else UNREADABLE
        self._array = array
        layers, heads = (array.shape[0], array.shape[1]) if array is not None else (0, 0)
        with param.parameterized.batch_call_watchers(self):
            self.models, self.pieces = models, pieces if array is not None else []
            self.layers, self.heads = layers, heads
            self.layer, self.head = min(self.layer, max(layers - 1, 0)), min(self.head, max(heads - 1, 0))
            self.loaded += 1

    # -- what the view shows -----------------------------------------------------------------------

    @property
    def shown(self) -> bool:
        return self._array is not None

    def weights(self) -> np.ndarray | None:
        """[tokens, tokens] attention of the picked layer and head (float32), None when nothing is shown."""
        if self._array is None:
            return None
        return np.asarray(self._array[self.layer, self.head], dtype=np.float32)

    def cells(self) -> dict[str, list]:
        weights = self.weights()
        return heatmap_cells(weights, self.pieces) if weights is not None else {}

    def axis_labels(self) -> list[str]:
        return [token_label(piece) for piece in self.pieces]

    def example_options(self) -> dict[str, int]:
        """{label: index} of the saved examples: its number and its loss under the fine-tuned model."""
        options = {}
        for index in self.examples:
            loss = (self._rows.get(index) or {}).get("tuned_loss")
            figure = f" · loss {loss:.3f}" if isinstance(loss, int | float) else ""
            options[f"#{index}{figure}"] = index
        return options

    def example_row(self) -> dict | None:
        """The shown example's predictions row (prompt, reference, answers), when the report has it."""
        return self._rows.get(self.example) if self.example is not None else None

    def show_example(self, index: int | None) -> None:
        """Show example `index` when its maps were saved (a row clicked in the table); else keep the shown one."""
        if index in self.examples:
            self.example = index
