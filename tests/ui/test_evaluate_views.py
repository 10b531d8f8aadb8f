"""The Evaluate page's parts on crafted reports: metric cards, the table's columns and filters, the token
view of a clicked row (every text escaped, tooltips included), the confusion matrix whose cell filters
the table, the sensitivity plot, and the comparison of runs."""

from __future__ import annotations

import html
import math
import sys
from html.parser import HTMLParser
from pathlib import Path

import panel as pn
from bokeh.models import ColumnDataSource
from test_evaluate_state import FILES, classification_report, text_report, tokens, write_report
from test_injection import HOSTILE, IMG, SCRIPT, assert_literal, panes
from ui_helpers import make_session

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import untrained_run

from ui.state.evaluate_tokens import token_spans
from ui.views.evaluate import EvaluatePage


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(markup: str) -> list[tuple[str, dict]]:
    parsed = _Tags()
    parsed.feed(markup)
    return parsed.tags


def page_with(tmp_path, *reports: tuple[dict, list[dict]], run_id: str = "fresh") -> EvaluatePage:
    session = make_session(tmp_path)
    run_dir = untrained_run(tmp_path, run_id=run_id, runs_dir=session.workspace.runs_dir)
    for report, rows in reports:
        write_report(run_dir, report, rows)
    return EvaluatePage(session)


def test_token_pieces_read_as_text():
    spans = token_spans(
        tokens(("▁Ah", 0.9), ("oy", 0.5), ("<0x0A>", 0.5), ("<0xE2>", 0.5), ("<0x9C>", 1.0), ("<0x93>", 1.0))
    )
    assert [s["text"] for s in spans] == [" Ah", "oy", "\n", "✓"]  # the three bytes of ✓ are one span
    assert math.isclose(spans[0]["probability"], 0.9) and math.isclose(spans[3]["probability"], 0.5)
    assert spans[0]["title"].splitlines() == ["‘ Ah’: 90.0%", "  ‘ Ah’ 90.0%", "  ‘ other’ 5.0%"]
    assert spans[2]["title"].startswith("‘\\n’")
    assert token_spans([{"piece": "<0xFF>", "log_prob": 0.0}])[0]["text"] == "\ufffd"  # not UTF-8: shown replaced


def test_cards_table_tokens_and_sweep(tmp_path):
    page = page_with(tmp_path, text_report())
    summary = page.summary.object
    assert "gj-partial" in summary and "ZeroDivisionError" in summary and "my_metrics&#58;broken" in summary
    assert summary.count('class="gj-metric-card gj-metric-') == 3 and summary.count("gj-delta-better") == 3
    assert "95% CI [-0.9000, -0.6000] (the interval excludes 0)" in html.unescape(summary)
    assert page.sweep.card.visible and page.sweep.plot.object is not None
    assert not page.confusion.card.visible
    table = page.table
    assert list(table.value.columns) == ["#", "loss", "base loss", "rougeL", "base rougeL", *table.value.columns[5:]]
    assert table.widths["loss"] == 80 and table.header_filters["prompt"]["func"] == "like"
    assert table.header_filters["loss"]["func"] == ">="
    assert "Click a row" in page.examples.tokens.object
    table.selection = [1]
    assert page.state.selected == 1
    shown = page.examples.tokens.object
    assert "Example #1" in shown and shown.count('class="gj-token"') == 6
    titles = [attrs["title"] for tag, attrs in tags(shown) if attrs.get("class") == "gj-token"]
    assert titles[0].startswith("‘ Ah’: 90.0%")
    page.state.order = "Highest loss first"
    assert list(page.table.value["#"]) == [2, 0, 1] and "2 examples" in page.examples.order_note.object
    where = html.unescape(page.where.object)
    assert 'href="downloads/fresh/eval/step-5-validation/predictions.jsonl"' in where
    assert "step-5-validation/predictions.jsonl</code></div>" in where


def test_hostile_texts_stay_text_in_cards_table_and_tokens(tmp_path):
    report, rows = text_report(custom_errors={IMG: SCRIPT}, tuned={"loss": 1.0, IMG: 0.5}, base={"loss": 2.0})
    for row in rows:
        row.update(prompt=HOSTILE[2], reference=HOSTILE[3], tuned=IMG, base=SCRIPT)
        row["tuned_tokens"] = [{"piece": IMG, "log_prob": -0.1, "top": [[SCRIPT, -1.0], ['"><img src=x>', -2.0]]}]
    page = page_with(tmp_path, (report, rows))
    page.table.selection = [0]
    # every pane but the download links (our own <a href>, checked below) holds text only
    assert_literal([p for p in panes(page) if p is not page.where], IMG, SCRIPT, f"Prompt: {HOSTILE[2]}")
    links = [attrs for tag, attrs in tags(page.where.object) if tag == "a"]
    assert [a["href"] for a in links] == [f"downloads/fresh/eval/step-5-validation/{n}" for n in FILES]
    markup = page.examples.tokens.object
    for tag, attrs in tags(markup):
        assert tag in {"div", "span", "b", "br"} and set(attrs) <= {"class", "style", "title"}, (tag, attrs)
    titles = [attrs["title"] for tag, attrs in tags(markup) if attrs.get("class") == "gj-token"]
    assert SCRIPT in titles[0] and '"><img src=x>' in titles[0]  # the alternatives, whole, inside the tooltip


def test_a_confusion_cell_click_filters_the_table(tmp_path):
    page = page_with(tmp_path, classification_report())
    assert page.confusion.card.visible and page.confusion.card.collapsed
    figure = page.confusion.plot.object
    (source,) = {r.data_source for r in figure.renderers if "reference" in r.data_source.data}
    assert isinstance(source, ColumnDataSource)
    cell = next(
        i
        for i, (r, p) in enumerate(zip(source.data["reference"], source.data["predicted"], strict=True))
        if (r, p) == ("positive", "negative")
    )
    assert source.data["count"][cell] == 2
    source.selected.indices = [cell]  # what a click on the cell does (TapTool)
    assert page.state.cell == ("tuned", "positive", "negative")
    assert list(page.table.value["#"]) == [1, 4] and page.examples.clear.visible
    assert list(page.table.value.columns[3:5]) == ["label", "base label"]
    page.examples.clear.clicks += 1
    assert len(page.table.value) == 5 and not page.examples.clear.visible
    page.confusion.model.value = "base"
    assert page.state.matrix_model == "base" and "(other)" in page.confusion.plot.object.x_range.factors


def test_runs_are_compared(tmp_path):
    page = page_with(tmp_path, text_report(step=5), text_report(step=3))
    compare = page.state.compare
    assert compare.runs == ["fresh"] and compare.metric == "loss"
    assert [row["step"] for row in compare.table_rows()] == [5, 3]
    assert compare.table_rows()[0]["loss"] == "1.2500 (-0.7500)" and compare.table_rows()[0]["data"] == "01234567"
    assert [p["label"] for p in compare.plot_points()] == ["fresh · step 3 · validation", "fresh · step 5 · validation"]
    assert page.compare.plot.object is not None and compare.better == "lower is better"
    compare.metric = "rougeL"
    assert page.compare.plot.object.title.text.startswith("rougeL")
    compare.runs = []
    assert page.compare.table.visible is False and "None of the chosen runs" in page.compare.note.object


def test_the_page_builds_for_every_report_kind(tmp_path):
    page = page_with(tmp_path, classification_report(step=3), text_report(step=5))
    for path in page.reports.options.values():
        page.reports.value = path
        assert isinstance(page.__panel__(), pn.Column) and page.table.visible


def test_the_bleu_card_says_it_is_the_corpus_score_not_the_tables():
    """A split of short answers: each row's sentence BLEU can be 100 while corpus BLEU is 0; the card says why."""
    from ui.state.evaluate_report import metric_card
    from ui.views.evaluate_cards import _card

    shown = html.unescape(_card(metric_card("bleu", 0.0, 0.0, 0.0)))
    assert "corpus BLEU over the split" in shown and "scores each answer alone" in shown
    assert "gj-card-about" not in _card(metric_card("rougeL", 0.5, 0.4, 0.1))
