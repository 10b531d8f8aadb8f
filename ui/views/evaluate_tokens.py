"""The reference answer of one example, token by token, coloured by each model's probability of it;
hovering a token lists the model's top alternatives (its `title`). All text escaped: the pieces with
escape_text, the tooltips as attribute values."""

from __future__ import annotations

import html

from ui.state.evaluate_tokens import mean_probability, token_spans
from ui.views.safe_text import escape_text

TOKENS_CSS = """
.gj-tokens-example { display: flex; flex-direction: column; gap: 6px; }
.gj-tokens-line { line-height: 1.9; white-space: pre-wrap; overflow-wrap: anywhere;
  border: 1px solid rgba(128,128,128,.35); border-radius: 6px; padding: 6px 8px; }
.gj-token { color: #111; border-radius: 3px; padding: 1px 0; cursor: help;
  box-shadow: inset -1px 0 0 rgba(0,0,0,.28); }  /* where one token ends and the next starts */
.gj-token:hover { outline: 2px solid #0969da; }
.gj-tokens-who { font-size: .85em; font-weight: 600; }
.gj-tokens-legend { font-size: .8em; opacity: .85; }
.gj-tokens-legend span { color: #111; padding: 0 6px; border-radius: 3px; }
.gj-tokens-texts { font-size: .9em; }
"""
LEGEND_STEPS = (0.02, 0.2, 0.5, 0.8, 0.98)


def colour(probability: float) -> str:
    """Red (the model found the token unlikely) through yellow to green (it expected it)."""
    hue = round(120 * max(0.0, min(1.0, probability)))
    return f"hsl({hue}, 75%, 78%)"


def _line(tokens, who: str) -> str:
    spans = token_spans(tokens)
    if not spans:
        return (
            f'<div class="gj-tokens-who">{escape_text(who)}</div>'
            '<div class="gj-tokens-line gj-tokens-none">No token scores (the reference was empty or did not fit).</div>'
        )
    mean = mean_probability(spans) or 0.0
    body = "".join(
        f'<span class="gj-token" style="background: {colour(s["probability"])}" '
        f'title="{html.escape(s["title"], quote=True)}">{escape_text(s["text"].replace(chr(10), "↵" + chr(10))) or "&#8203;"}</span>'
        for s in spans
    )
    return (
        f'<div class="gj-tokens-who">{escape_text(who)} · mean token probability {mean:.1%}</div>'
        f'<div class="gj-tokens-line">{body}</div>'
    )


def render_tokens(row: dict | None) -> str:
    """The selected example's reference under both models, or how to pick one."""
    if row is None:
        return '<div class="gj-tokens-hint">Click a row of the table to see its reference answer token by token.</div>'
    legend = "".join(f'<span style="background: {colour(p)}">{round(100 * p)}%</span>' for p in LEGEND_STEPS)
    texts = (
        f'<div class="gj-tokens-texts"><b>Prompt:</b> {escape_text(row["prompt"])}<br>'
        f"<b>Fine-tuned answer:</b> {escape_text(row['tuned'] or '')}<br>"
        f"<b>Base answer:</b> {escape_text(row['base'] or '')}</div>"
    )
    return (
        f'<div class="gj-tokens-example"><div><b>Example #{escape_text(row["index"])}</b>: the reference answer, '
        "each token coloured by how likely the model found it (hover a token for its top alternatives)</div>"
        f'<div class="gj-tokens-legend">probability: {legend}</div>'
        f"{_line(row['tuned_tokens'], 'Fine-tuned model')}{_line(row['base_tokens'], 'Base model')}{texts}</div>"
    )
