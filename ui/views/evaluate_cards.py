"""The Evaluate page's summary: what the report covers, one card per metric (fine-tuned, base, the
change coloured by whether it is an improvement, its 95% interval; a length, where neither direction
is better, in a neutral colour and words), a "partial" badge and the custom
metrics' errors; multiple-choice results in a section of their own. Every text (metric names come
from custom metrics' code, the questions file's name from the user) is escaped."""

from __future__ import annotations

from ui.state.evaluate_report import neutral_words
from ui.views.safe_text import escape_text

CARDS_CSS = """
.gj-kpis, .gj-metric-cards { display: flex; flex-wrap: wrap; gap: 8px; }
.gj-kpi { border: 1px solid rgba(128,128,128,.35); border-radius: 6px; padding: 6px 10px; min-width: 110px; flex: 0 1 auto; }
.gj-kpi-label, .gj-card-name, .gj-card-base, .gj-card-interval { font-size: 0.8em; opacity: .8; }
.gj-card-about { font-size: 0.72em; opacity: .7; margin-top: 2px; }
.gj-kpi-value { font-size: 1.05em; font-weight: 600; }
.gj-metric-card { border: 1px solid rgba(128,128,128,.35); border-radius: 6px; padding: 6px 10px;
  min-width: 150px; flex: 0 1 180px; }
.gj-card-name { font-weight: 600; text-transform: none; }
.gj-card-tuned { font-size: 1.3em; font-weight: 600; }
.gj-card-delta { font-weight: 600; }
.gj-delta-better { color: #1a7f37; }
.gj-delta-worse { color: #cf222e; }
.gj-delta-same, .gj-delta-none { opacity: .8; }
.gj-delta-neutral { color: #0969da; }
.gj-card-neutral { font-size: 0.72em; opacity: .8; }
.gj-badge { display: inline-block; border-radius: 10px; padding: 1px 8px; font-size: .8em; font-weight: 600;
  background: #bf8700; color: #fff; margin-left: 6px; }
.gj-custom-errors { border-left: 4px solid #cf222e; padding: 4px 10px; margin-top: 8px; font-size: .9em; }
.gj-summary-head { margin: 6px 0; }
.gj-choice-head { margin: 10px 0 4px; font-weight: 600; }
.gj-choice-note { margin: 6px 0; font-size: .9em; opacity: .85; }
"""
ARROWS = {1: "▲", -1: "▼", 0: ""}  # which way the metric moved; the colour says whether that is better


def render_kpis(kpis: list[tuple[str, str]]) -> str:
    cards = "".join(
        f'<div class="gj-kpi"><div class="gj-kpi-label">{escape_text(label)}</div>'
        f'<div class="gj-kpi-value">{escape_text(value)}</div></div>'
        for label, value in kpis
    )
    return f'<div class="gj-kpis">{cards}</div>'


def _card(card: dict) -> str:
    verdict = card["verdict"]
    arrow = ARROWS[card.get("sign", 0)]
    better = {1: "higher is better", -1: "lower is better", 0: "neither higher nor lower is better"}[card["direction"]]
    sure = " (the interval excludes 0)" if card["sure"] else ""
    neutral = neutral_words(card["name"], card.get("sign", 0)) if verdict == "neutral" else ""
    return (
        f'<div class="gj-metric-card gj-metric-{verdict or "none"}" title="{escape_text(better)}">'
        f'<div class="gj-card-name">{escape_text(card["name"])}</div>'
        f'<div class="gj-card-tuned">{escape_text(card["tuned"])}</div>'
        f'<div class="gj-card-base">base {escape_text(card["base"])}</div>'
        f'<div class="gj-card-delta gj-delta-{verdict or "none"}">{arrow} {escape_text(card["delta"])}</div>'
        + (f'<div class="gj-card-neutral">{escape_text(neutral)}</div>' if neutral else "")
        + f'<div class="gj-card-interval">{escape_text(card["interval"] + sure)}</div>'
        + (f'<div class="gj-card-about">{escape_text(card["about"])}</div>' if card.get("about") else "")
        + "</div>"
    )


def render_summary(kpis: list[tuple[str, str]], cards: list[dict], partial: bool, custom_errors: dict[str, str]) -> str:
    """The report's coverage, its metric cards, and what went wrong (interrupted, custom metrics)."""
    if not kpis:
        return ""
    badge = (
        '<span class="gj-badge gj-partial" title="The evaluation was interrupted: the metrics cover the '
        'examples both models finished">partial</span>'
        if partial
        else ""
    )
    neutral = any(card["verdict"] == "neutral" for card in cards)
    lengths = " Answer length is blue: longer is not better, nor shorter." if neutral else ""
    head = (
        '<div class="gj-summary-head">Fine-tuned against base: the change is green where it is an improvement '
        f"(for loss and perplexity, a fall), red where it is worse.{lengths}{badge}</div>"
    )
    body = "".join(_card(card) for card in cards)
    errors = ""
    if custom_errors:
        items = "".join(
            f"<li><code>{escape_text(spec)}</code>: {escape_text(message)}</li>"
            for spec, message in custom_errors.items()
        )
        errors = f'<div class="gj-custom-errors"><b>Custom metrics that failed</b><ul>{items}</ul></div>'
    return f'{render_kpis(kpis)}{head}<div class="gj-metric-cards">{body}</div>{errors}'


def render_choice(facts: list[tuple[str, str]], cards: list[dict]) -> str:
    """The multiple-choice section: the questions, each model's right answers, the two accuracies as
    metric cards; empty when the report has none."""
    if not cards:
        return ""
    note = (
        "Each choice is scored by the model's log-likelihood of it after the question; the picked one is the "
        "likeliest. Length-normalised: the likelihood per character, so long choices are not at a disadvantage."
    )
    return (
        '<div class="gj-choice-head">Multiple choice</div>'
        f"{render_kpis(facts)}"
        f'<div class="gj-choice-note">{escape_text(note)}</div>'
        f'<div class="gj-metric-cards gj-choice-cards">{"".join(_card(card) for card in cards)}</div>'
    )
