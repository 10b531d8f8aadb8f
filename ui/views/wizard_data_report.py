"""The Data step's report: what the check found (bad rows marked, or skipped), the rows, the token
preview, the length histogram. Every value from the file is escaped."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import panel as pn
from bokeh.models import Span
from bokeh.plotting import figure

from ui.state.data_check import DataCheck
from ui.state.wizard_data import DataStep
from ui.state.wizard_skip import skippable
from ui.state.wizard_words import in_page_words
from ui.views.safe_text import escape_text, text_table

BAD_ROW_STYLE = "background-color: #fde2e1"
WARNING_ROW_STYLE = "background-color: #fff4d6"
SKIPPED = "skipped"


def _style_row(row: pd.Series) -> list[str]:
    problem = str(row.get("problem", ""))
    bad = problem.startswith(("error", SKIPPED)) or "; error" in problem
    style = BAD_ROW_STYLE if bad else WARNING_ROW_STYLE
    return [style if problem else "" for _ in row]


def problems_html(check: DataCheck, skipped: bool = False) -> str:
    """Every finding, one line each with its line/row number; errors carry the bad-row class
    ("skipped" instead of "error" when training leaves those rows out)."""
    items = []
    for problem in check.problem_lines():
        error = problem["severity"] == "error"
        css = "gj-newrun-bad-row" if error else "gj-newrun-warning-row"
        label = SKIPPED if error and skipped else problem["severity"]
        where = escape_text(problem["where"] or "whole file")
        line = escape_text(problem["line"] or "")
        items.append(
            f'<li class="{css}" data-line="{line}"><b>{escape_text(label)}</b> '
            f"{where}: {escape_text(in_page_words(problem['message']))}</li>"
        )
    if not items:
        return "<p>No problems found.</p>"
    return "<ul>" + "".join(items) + "</ul>"


def tokens_html(preview: dict) -> str:
    """The example's tokens; the ones the model is graded on are highlighted."""
    spans = []
    for piece, loss, special in zip(preview["pieces"], preview["loss"], preview["special"]):
        css = "gj-newrun-loss-token" if loss else "gj-newrun-token"
        style = "background:#d7f5dd;" if loss else "background:#eee;"
        style += "font-weight:bold;" if special else ""
        spans.append(f'<span class="{css}" style="{style}margin:1px;padding:0 2px">{escape_text(piece)}</span>')
    head = (
        f"<p>{preview['num_tokens']} tokens, {preview['loss_tokens']} graded (green: the model learns to write "
        "these)</p>"
    )
    return head + '<div style="white-space:pre-wrap;font-family:monospace">' + "".join(spans) + "</div>"


def length_plot(lengths: dict):
    counts, edges = lengths["histogram"]["counts"], lengths["histogram"]["bin_edges"]
    right = max(edges[-1] if edges else 0, lengths["sequence_length"]) * 1.05  # keep the red line in view
    plot = figure(height=220, width=520, title="Tokens per example", toolbar_location=None, x_range=(0, right))
    plot.quad(top=counts, bottom=0, left=edges[:-1], right=edges[1:], fill_alpha=0.6)
    plot.add_layout(Span(location=lengths["sequence_length"], dimension="height", line_color="red", line_dash="dashed"))
    plot.xaxis.axis_label = "tokens (red line: sequence length)"
    return pn.pane.Bokeh(plot, css_classes=["gj-newrun-lengths"])


def rows_table(check: DataCheck, skipped: bool = False):
    frame = pd.DataFrame(check.rows).fillna("")
    if skipped and "problem" in frame:
        frame["problem"] = frame["problem"].map(lambda text: text.replace("error:", f"{SKIPPED}:", 1))
    table = text_table(
        frame, height=300, disabled=True, show_index=False, pagination=None, css_classes=["gj-newrun-rows"]
    )
    table.style.apply(_style_row, axis=1)
    return table


def _head(result: DataCheck, step: DataStep) -> pn.pane.Markdown:
    skipped = step.skipped
    report = (skipped.original_check if skipped is not None else result).report
    if skipped is not None:
        status = f"{skipped.count} invalid row(s) skipped, {skipped.kept} used"
    else:
        status = "ready to train" if report.ok else f"{len(report.errors)} error(s) to fix"
    if not report.format:  # nothing could be read: the error below says why
        return pn.pane.Markdown(f"**{escape_text(report.file)}**: could not be read: **{status}**.")
    shape = "" if report.shape in ("", "unknown") else f", shape **{escape_text(report.shape)}**"
    return pn.pane.Markdown(
        f"**{escape_text(report.file)}**: {escape_text(report.format)} file{shape}, {report.records} record(s), "
        f"{report.usable} usable, {len(report.warnings)} warning(s): **{status}**."
    )


def _skip_notes(result: DataCheck, step: DataStep) -> list:
    skipped = step.skipped
    if skipped is not None:
        shown = step.owner.session.confinement.shown(skipped.copy)
        text = (
            f"Skipping the {skipped.count} invalid row(s) marked below: training uses the other {skipped.kept}, "
            f"copied to {shown} (the run's config names this copy). Untick Skip invalid rows to train on the "
            f"whole file {Path(skipped.original).name} instead."
        )
        return [pn.pane.Alert(escape_text(text), alert_type="info", css_classes=["gj-newrun-skipping"])]
    if skippable(result.report) and not step.skip_invalid:
        text = (
            f"Fix the rows marked below and upload the file again, or tick Skip invalid rows to train on its "
            f"{result.report.usable} valid row(s)."
        )
        return [pn.pane.Markdown(escape_text(text), css_classes=["gj-newrun-skip-hint"])]
    return []


def report_view(step: DataStep, result: DataCheck | None, checking: bool, error: str):
    """The report of `result` (the check shown by `step`), or why there is none."""
    if error:
        return pn.pane.Alert(escape_text(error), alert_type="danger", css_classes=["gj-newrun-data-error"])
    if checking:
        return pn.Row(pn.indicators.LoadingSpinner(value=True, size=24), "checking…", css_classes=["gj-checking"])
    if result is None:
        return pn.pane.Markdown("Press **Check data** to read the source and see its report.")
    skipped = step.skipped
    shown = skipped.original_check if skipped is not None else result
    parts = [
        _head(result, step),
        *_skip_notes(result, step),
        pn.pane.HTML(problems_html(shown, skipped is not None), css_classes=["gj-newrun-report-problems"]),
    ]
    if shown.rows:
        parts.append(rows_table(shown, skipped is not None))
    if result.summary:
        split = result.summary["split"]["splits"]
        cleaning = result.summary["cleaning"]["changed"]
        augmented = result.summary["augmentation"]["total"]
        text = (
            "Split: "
            + ", ".join(f"{name} {entry['examples']}" for name, entry in split.items())
            + f". Cleaning changed {result.summary['cleaning']['changed_any']} example(s) "
            + (f"({', '.join(f'{k} {v}' for k, v in cleaning.items())})" if cleaning else "")
            + f"; augmentation adds {augmented} {'copy' if augmented == 1 else 'copies'}."
        )
        parts.append(pn.pane.Markdown(escape_text(text), css_classes=["gj-newrun-split"]))
    if result.preview:
        parts.append(pn.pane.HTML(tokens_html(result.preview), css_classes=["gj-newrun-tokens"]))
    if result.lengths:
        parts.append(length_plot(result.lengths))
        suggested = result.lengths["suggested_sequence_length"]
        parts.append(pn.pane.Markdown(f"Suggested sequence length for this data: **{suggested}** tokens."))
    parts += [pn.pane.Markdown(f"*{escape_text(in_page_words(note))}*") for note in result.notes]
    return pn.Column(*parts)
