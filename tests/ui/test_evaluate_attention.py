"""The attention view on crafted reports: the saved hardest examples offered hardest first, one layer and
head of either model drawn as a heatmap (tokens as plain text on the axes, both tokens and the weight in
the tooltip), a table row's click following along, and plain words where a report has no maps.

`write_attention` writes attention.npz as gemma_jax.evaluate.writing does; the engine's own reader
(read_attention) must read it back the same, so the crafted file cannot drift from the real format."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from bokeh.models import HoverTool, PlainText
from test_evaluate_state import OLD_REPORT, text_report, write_report
from test_injection import HOSTILE, IMG, SCRIPT, assert_literal, panes
from ui_helpers import make_session

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import untrained_run

from gemma_jax.evaluate.attention import ATTENTION, read_attention
from ui.state.evaluate import EvaluateState
from ui.state.evaluate_attention import INTERRUPTED, NONE_SAVED, UNREADABLE, heatmap_cells, token_label
from ui.views.evaluate import EvaluatePage
from ui.views.evaluate_attention import ATTENTION_NAME

PIECES = ["<bos>", "<start_of_turn>", "user", "\n", "▁Say", "▁hi", "▁", "$$x^2$$"]
LAYERS, HEADS = 2, 3


def causal_attention(tokens: int, seed: int) -> np.ndarray:
    """[layers, heads, tokens, tokens] float16 rows that sum to 1 over the tokens so far, as a decoder's."""
    logits = np.random.default_rng(seed).normal(size=(LAYERS, HEADS, tokens, tokens))
    logits[..., np.triu_indices(tokens, 1)[0], np.triu_indices(tokens, 1)[1]] = -np.inf
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float16)


def write_attention(report_file: Path, examples: dict[int, list[str]], models=("tuned", "base")) -> Path:
    """attention.npz beside the report, the way gemma_jax.evaluate.writing saves attention_arrays()."""
    arrays = {}
    for index, pieces in examples.items():
        for number, model in enumerate(models):
            arrays[f"{model}_{index}"] = causal_attention(len(pieces), seed=10 * index + number)
        arrays[f"pieces_{index}"] = np.asarray(pieces, dtype=str)
    folder = Path(report_file).parent
    np.savez_compressed(folder / f".{ATTENTION}.tmp.npz", **arrays)
    (folder / f".{ATTENTION}.tmp.npz").replace(folder / ATTENTION)
    return folder / ATTENTION


def report_with_maps(tmp_path, **changes):
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    report, rows = text_report(partial=False, attention={"file": ATTENTION, "examples": [0, 2]}, **changes)
    path = write_report(run_dir, report, rows)
    write_attention(path, {0: PIECES, 2: PIECES[:5]})
    return session, run_dir, path


def test_token_labels_read_as_text():
    assert [token_label(p) for p in ["▁Say", "\n", "▁", "▁▁", "\t", "<0x41>"]] == [" Say", "↵", "␣", "␣␣", "⇥", "A"]
    assert token_label("▁" + "x" * 30) == " " + "x" * 10 + "…" and token_label("y" * 30, None) == "y" * 30
    weights = np.array([[1.0, 0.0], [0.25, 0.75]], dtype=np.float32)
    cells = heatmap_cells(weights, ["<bos>", "▁hi"])
    assert cells == {
        "query": [0, 1, 1],
        "key": [0, 0, 1],  # the first token cannot look ahead: no cell
        "weight": [1.0, 0.25, 0.75],
        "query_token": ["<bos>", " hi", " hi"],
        "key_token": ["<bos>", "<bos>", " hi"],
    }


def test_saved_maps_are_offered_hardest_first_and_one_head_is_shown(tmp_path):
    session, _run_dir, path = report_with_maps(tmp_path)
    state = EvaluateState(session)
    attention = state.attention
    assert attention.note == "" and attention.examples == [2, 0]  # the report's highest-loss order
    assert attention.example_options() == {"#2 · loss 2.400": 2, "#0 · loss 0.800": 0}
    assert attention.example == 2 and attention.models == ["tuned", "base"] and attention.model == "tuned"
    assert (attention.layers, attention.heads) == (LAYERS, HEADS) and len(attention.pieces) == 5

    engine = read_attention(path)  # the engine's reader sees the same arrays
    assert sorted(engine) == [0, 2] and engine[2]["pieces"] == PIECES[:5]
    attention.param.update(layer=1, head=2)
    assert np.array_equal(attention.weights(), engine[2]["tuned"][1, 2].astype(np.float32))
    cells = attention.cells()
    assert len(cells["weight"]) == 5 * 6 // 2  # the lower triangle: every token looks at itself and before
    assert all(k <= q for q, k in zip(cells["query"], cells["key"], strict=True))

    attention.model = "base"
    assert np.array_equal(attention.weights(), engine[2]["base"][1, 2].astype(np.float32))
    assert not np.array_equal(engine[2]["base"], engine[2]["tuned"])
    state.select(0)  # a table row of a saved example: the view follows it
    assert attention.example == 0 and len(attention.pieces) == len(PIECES) and attention.model == "base"
    assert attention.axis_labels()[3] == "↵" and attention.example_row()["prompt"] == "Say hi"
    state.select(1)  # no maps saved for #1: the shown example stays
    assert attention.example == 0 and (attention.layer, attention.head) == (1, 2)


def test_the_view_draws_one_head_with_tokens_as_text(tmp_path):
    session, _run_dir, _path = report_with_maps(tmp_path)
    page = EvaluatePage(session)
    view = page.attention
    assert [title for title, _ in zip(page.examples.details._names, page.examples.details, strict=True)] == [
        "Token probabilities",
        "Attention",
    ]
    assert view.pickers.visible and not view.note.visible
    assert view.example.options == {"#2 · loss 2.400": 2, "#0 · loss 0.800": 0}
    assert view.model.options == {"fine-tuned": "tuned", "base": "base"}
    assert list(view.layer.options) == ["1", "2"] and list(view.head.options) == ["1", "2", "3"]
    figure = view.plot.object
    assert figure.name == ATTENTION_NAME and "layer 1, head 1" in figure.title.text
    view.example.value, view.head.value = 0, 2
    figure = view.plot.object
    assert page.state.attention.example == 0 and "Example #0, fine-tuned model, layer 1, head 3" == figure.title.text
    (source,) = {r.data_source for r in figure.renderers if "weight" in r.data_source.data}
    assert len(source.data["weight"]) == len(PIECES) * (len(PIECES) + 1) // 2
    labels = figure.xaxis[0].major_label_overrides
    assert all(isinstance(label, PlainText) for label in labels.values())  # never typeset as math
    assert labels[7].text == "$$x^2$$" and labels[4].text == " Say"
    tooltips = dict(figure.select_one(HoverTool).tooltips)
    assert tooltips == {"query": "#@query @query_token", "key": "#@key @key_token", "weight": "@weight{0.0000}"}
    view.model.value = "base"
    assert page.state.attention.model == "base" and "base model" in view.plot.object.title.text
    page.state.report = None  # layer, head and the arrays change at once: one redraw, nothing drawn
    assert view.plot.object is None and not view.pickers.visible and view.head.options == {}


def test_hostile_tokens_and_texts_stay_text(tmp_path):
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    report, rows = text_report(partial=False)
    for row in rows:
        row.update(prompt=HOSTILE[2], reference=IMG)
    write_attention(write_report(run_dir, report, rows), {2: ["<bos>", IMG, SCRIPT]})
    page = EvaluatePage(session)
    source = next(r.data_source for r in page.attention.plot.object.renderers if "weight" in r.data_source.data)
    assert IMG in source.data["key_token"] and SCRIPT in source.data["query_token"]  # Bokeh escapes @fields
    assert_literal(panes(page.attention), f"Prompt: {HOSTILE[2]}", f"Reference: {IMG}")


def test_reports_without_maps_say_so_in_plain_words(tmp_path):
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    (run_dir / "eval").mkdir(exist_ok=True)
    (run_dir / "eval" / "step-1-validation.json").write_text(json.dumps({**OLD_REPORT, "step": 1}))
    write_report(run_dir, *text_report(step=2))  # partial: stopped before the maps
    write_report(run_dir, *text_report(step=3, partial=False))  # an evaluation of an older version
    damaged = write_report(run_dir, *text_report(step=4, partial=False))
    (damaged.parent / ATTENTION).write_bytes(b"PK\x03\x04 cut short")
    misshapen = write_report(run_dir, *text_report(step=5, partial=False))
    write_attention(misshapen, {2: PIECES})
    with np.load(misshapen.parent / ATTENTION) as data:
        arrays = {key: data[key] for key in data.files}
    np.savez_compressed(misshapen.parent / ATTENTION, **{**arrays, "pieces_2": np.asarray(PIECES[:3])})

    state = EvaluateState(session)
    page = EvaluatePage(session, state)
    expected = {1: NONE_SAVED.format(count=3), 2: INTERRUPTED, 3: NONE_SAVED.format(count=3), 4: UNREADABLE}
    expected[5] = UNREADABLE  # its arrays do not match its tokens: never a misdrawn map
    for report in state.reports:
        state.show(report["path"])
        assert state.attention.note == expected[report["step"]], report["step"]
        assert not state.attention.shown and state.attention.cells() == {}
        assert page.attention.plot.object is None and page.attention.note.visible
        assert "Run the evaluation again" in page.attention.note.object or report["step"] in (2, 4, 5)
    assert state.downloads() == []  # the older report (shown last) is one file, not on the download route
