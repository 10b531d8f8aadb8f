"""The Evaluate page's metric cards: the change is green or red only for metrics with a better
direction; a length (longer is not better, nor shorter) is shown in a neutral colour and words."""

from __future__ import annotations

import html

from ui.state.evaluate_compare import CompareState
from ui.state.evaluate_report import direction, metric_card
from ui.views.evaluate_cards import _card, render_summary


def test_a_longer_answer_is_neither_better_nor_worse():
    card = metric_card("mean_length", 10.0, 4.25, 5.75, [2.0, 9.0])
    assert (card["verdict"], card["direction"], card["sign"], card["delta"]) == ("neutral", 0, 1, "+5.7500")
    shown = html.unescape(_card(card))
    assert "gj-delta-better" not in shown and "gj-delta-worse" not in shown
    assert 'class="gj-card-delta gj-delta-neutral">▲ +5.7500' in shown
    assert "longer answers than base: neither is better" in shown
    assert 'title="neither higher nor lower is better"' in shown
    shorter = html.unescape(_card(metric_card("mean_length", 2.0, 4.0, -2.0)))
    assert "gj-delta-neutral" in shorter and "shorter answers than base: neither is better" in shorter
    same = metric_card("mean_length", 4.0, 4.0, 0.0)
    assert same["verdict"] == "same" and "neither is better" not in _card(same)
    assert metric_card("mean_length", 4.0, None, None)["verdict"] is None  # no base: nothing to say


def test_the_summary_says_what_blue_means_only_with_a_length():
    cards = [metric_card("rougeL", 0.5, 0.4, 0.1), metric_card("mean_length", 10.0, 4.25, 5.75)]
    kpis = [("Examples", "8")]
    summary = html.unescape(render_summary(kpis, cards, False, {}))
    assert summary.count("gj-delta-better") == 1 and summary.count("gj-delta-neutral") == 1
    assert "Answer length is blue" in summary
    assert "Answer length is blue" not in render_summary(kpis, cards[:1], False, {})


def test_length_like_metrics_have_no_better_direction():
    for name in ("mean_length", "answer_length", "length", "avg_len", "word_count", "tokens_count", "num_tokens"):
        assert direction(name) == 0, name
    for name in ("length_ok", "length_score", "rougeL", "bleu", "f1", "accuracy", "lengthy_style"):
        assert direction(name) == 1, name
    assert direction("loss") == direction("perplexity") == -1


def test_the_comparison_plot_says_neither_direction_is_better(tmp_path):
    from ui_helpers import make_session

    compare = CompareState(make_session(tmp_path))
    compare.param.metric.objects = ["loss", "mean_length"]
    compare.metric = "mean_length"
    assert compare.better == "neither higher nor lower is better"
    compare.metric = "loss"
    assert compare.better == "lower is better"
